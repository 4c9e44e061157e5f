#include "server/store/file_token_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/base/log.h"

namespace wxtoken::server {
namespace {

constexpr char kFormat[] = "wxtoken-state-v1";
constexpr char kSuffix[] = ".json";

std::string ErrnoText() { return std::strerror(errno); }

std::string TimeText(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_full, time, absl::UTCTimeZone());
}

absl::StatusOr<TokenKind> KindFromName(absl::string_view name) {
  for (int i = 0; i < kTokenKindCount; ++i) {
    auto kind = static_cast<TokenKind>(i);
    if (TokenKindName(kind) == name) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown kind \"", name, "\""));
}

absl::Status WriteAll(int fd, const std::string& data) {
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(ErrnoText());
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeStoredToken(const StoredToken& credential) {
  google::protobuf::Struct doc;
  auto& fields = *doc.mutable_fields();
  fields["format"].set_string_value(kFormat);
  fields["app_id"].set_string_value(credential.app_id);
  fields["kind"].set_string_value(std::string(TokenKindName(credential.kind)));
  fields["value"].set_string_value(credential.value.value);
  fields["fetched_at"].set_string_value(TimeText(credential.value.fetched_at));
  fields["expires_at"].set_string_value(TimeText(credential.value.expires_at));
  // A string keeps all 64 bits (JSON numbers are doubles).
  fields["generation"].set_string_value(
      absl::StrCat(credential.value.generation));
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(doc, &json, options);
  return json;
}

absl::StatusOr<StoredToken> DecodeStoredToken(const std::string& text) {
  google::protobuf::Struct doc;
  if (!google::protobuf::util::JsonStringToMessage(text, &doc).ok()) {
    return absl::InvalidArgumentError("not JSON");
  }
  const auto& fields = doc.fields();
  auto string_field =
      [&](const std::string& name) -> absl::StatusOr<std::string> {
    auto it = fields.find(name);
    if (it == fields.end() || !it->second.has_string_value()) {
      return absl::InvalidArgumentError(absl::StrCat("missing \"", name, "\""));
    }
    return it->second.string_value();
  };
  auto format = string_field("format");
  if (!format.ok() || *format != kFormat) {
    return absl::InvalidArgumentError("not a wxtoken state file");
  }
  StoredToken credential;
  std::string error;
  auto app_id = string_field("app_id");
  auto kind = string_field("kind");
  auto value = string_field("value");
  auto fetched_at = string_field("fetched_at");
  auto expires_at = string_field("expires_at");
  auto generation = string_field("generation");
  for (const auto* field :
       {&app_id, &kind, &value, &fetched_at, &expires_at, &generation}) {
    if (!field->ok()) return field->status();
  }
  auto parsed_kind = KindFromName(*kind);
  if (!parsed_kind.ok()) return parsed_kind.status();
  credential.app_id = *app_id;
  credential.kind = *parsed_kind;
  credential.value.value = *value;
  if (credential.value.value.empty()) {
    return absl::InvalidArgumentError("empty value");
  }
  if (!absl::ParseTime(absl::RFC3339_full, *fetched_at,
                       &credential.value.fetched_at, &error) ||
      !absl::ParseTime(absl::RFC3339_full, *expires_at,
                       &credential.value.expires_at, &error)) {
    return absl::InvalidArgumentError(absl::StrCat("bad time: ", error));
  }
  if (!absl::SimpleAtoi(*generation, &credential.value.generation)) {
    return absl::InvalidArgumentError("bad generation");
  }
  return credential;
}

absl::StatusOr<std::unique_ptr<FileTokenStore>> FileTokenStore::Open(
    const std::string& state_dir) {
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state_dir: cannot create \"", state_dir, "\": ", ErrnoText()));
  }
  struct stat info;
  if (::stat(state_dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("state_dir: \"", state_dir, "\" is not a directory"));
  }
  if (::access(state_dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state_dir: cannot write \"", state_dir, "\": ", ErrnoText()));
  }
  return std::unique_ptr<FileTokenStore>(new FileTokenStore(state_dir));
}

std::vector<StoredToken> FileTokenStore::LoadAll() {
  std::vector<StoredToken> loaded;
  DIR* dir = ::opendir(dir_.c_str());
  if (dir == nullptr) {
    Log(LogLevel::kWarning, "cannot list state_dir",
        {{"state_dir", dir_}, {"error", ErrnoText()}});
    return loaded;
  }
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (!absl::EndsWith(name, kSuffix)) continue;
    const std::string path = absl::StrCat(dir_, "/", name);
    struct stat info;
    // Only regular files: opening a FIFO named *.json would block the worker.
    if (::lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    auto credential = DecodeStoredToken(text.str());
    if (!credential.ok()) {
      Log(LogLevel::kWarning, "ignoring unreadable state file",
          {{"file", path},
           {"error", std::string(credential.status().message())}});
      continue;
    }
    loaded.push_back(*std::move(credential));
  }
  ::closedir(dir);
  return loaded;
}

absl::Status FileTokenStore::Save(const StoredToken& credential) {
  const std::string base = absl::StrCat(dir_, "/", credential.app_id, ".",
                                        TokenKindName(credential.kind));
  const std::string path = absl::StrCat(base, kSuffix);
  const std::string temp = absl::StrCat(base, ".tmp");
  const std::string data = EncodeStoredToken(credential);

  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create \"", temp, "\": ", ErrnoText()));
  }
  // O_CREAT's mode does not apply to an existing file left by a crash.
  absl::Status status = ::fchmod(fd, 0600) == 0
                            ? WriteAll(fd, data)
                            : absl::InternalError(ErrnoText());
  if (status.ok() && ::fsync(fd) != 0)
    status = absl::InternalError(ErrnoText());
  if (::close(fd) != 0 && status.ok())
    status = absl::InternalError(ErrnoText());
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = absl::InternalError(ErrnoText());
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot write \"", path, "\": ", status.message()));
  }
  // Make the rename itself durable.
  int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace wxtoken::server
