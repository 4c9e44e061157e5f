#include "server/config/yaml_fields.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/config/config.h"

namespace wxtoken::server::config_yaml {
namespace {

// A config or secret file larger than this is a mistake (a device, a log);
// refusing it keeps /dev/zero from eating the memory.
constexpr size_t kMaxFileSize = 1 << 20;

// Values echoed in errors are cut here so one message stays one short line.
constexpr size_t kMaxEchoedValue = 80;

// Levenshtein distance, to suggest the key a typo meant.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// host:port, with an IPv6 host in brackets. Port 0 is allowed: tests listen
// on an ephemeral port.
bool IsHostPort(absl::string_view text) {
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    for (char c : host) {
      if (!absl::ascii_isxdigit(c) && c != ':' && c != '.' && c != '%') {
        return false;
      }
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    for (char c : host) {
      if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') {
        return false;
      }
    }
  }
  if (host.empty() || port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  int number = 0;
  return absl::SimpleAtoi(port, &number) && number <= 65535;
}

}  // namespace

// Every config error is InvalidArgument "<key path>: <what is wrong>".
absl::Status KeyError(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

// Quotes a (non-secret) value from the config for an error message. Escaping
// keeps the message on one line whatever the value contains.
std::string Quote(absl::string_view value) {
  if (value.size() > kMaxEchoedValue) {
    return absl::StrCat(
        "\"", absl::CHexEscape(value.substr(0, kMaxEchoedValue)), "...\"");
  }
  return absl::StrCat("\"", absl::CHexEscape(value), "\"");
}

std::string JoinPath(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

std::string IndexPath(absl::string_view path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

// What a YAML node holds, for "expected X, got Y".
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      return "a scalar";
  }
  return "something else";
}

namespace {
thread_local FilesReadLog* files_read_log = nullptr;
}  // namespace

FilesReadLog::FilesReadLog() { files_read_log = this; }
FilesReadLog::~FilesReadLog() { files_read_log = nullptr; }

// Reads a whole (small) file. On failure the status message is only the
// reason in strerror's words, so callers can wrap it with the key and path.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  if (files_read_log != nullptr) files_read_log->files_.push_back(path);
  // strerror is not thread-safe, but configs are loaded once, at start, by
  // one thread.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InvalidArgumentError(std::strerror(errno));
  std::string content;
  char buffer[8192];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return absl::InvalidArgumentError(std::strerror(err));
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > kMaxFileSize) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat("larger than ", kMaxFileSize, " bytes"));
    }
  }
  close(fd);
  return content;
}

// The entries of one YAML map whose keys have been checked: all strings, none
// repeated, all known.

absl::StatusOr<Entries> ReadMap(const YAML::Node& node, const std::string& path,
                                const std::vector<absl::string_view>& known) {
  Entries entries;
  // An empty section ("refresh:" with nothing under it) means all defaults.
  if (node.IsNull()) return entries;
  if (!node.IsMap()) {
    return KeyError(path.empty() ? "config" : path,
                    absl::StrCat("expected a map, got ", Describe(node)));
  }
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      return KeyError(path.empty() ? "config" : path, "keys must be strings");
    }
    const std::string& key = entry.first.Scalar();
    std::string key_path = JoinPath(path, key);
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string message = absl::StrCat("unknown key ", Quote(key_path));
      for (absl::string_view candidate : known) {
        if (EditDistance(key, candidate) <= 2) {
          absl::StrAppend(&message, " (did you mean ",
                          Quote(JoinPath(path, candidate)), "?)");
          break;
        }
      }
      return absl::InvalidArgumentError(message);
    }
    if (!entries.emplace(key, entry.second).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate key ", Quote(key_path)));
    }
  }
  return entries;
}

std::optional<YAML::Node> Find(const Entries& entries, absl::string_view key) {
  auto it = entries.find(key);
  if (it == entries.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::string> GetString(const YAML::Node& node,
                                      absl::string_view path) {
  if (!node.IsScalar()) {
    return KeyError(
        path, absl::StrCat("expected a string, got ", Describe(node),
                           node.IsNull() ? " (write \"\" for empty)" : ""));
  }
  return node.Scalar();
}

// Sets *out from entries[key] when present; leaves the default otherwise.
absl::Status ReadString(const Entries& entries, absl::string_view path,
                        absl::string_view key, std::string* out) {
  std::optional<YAML::Node> node = Find(entries, key);
  if (!node) return absl::OkStatus();
  absl::StatusOr<std::string> value = GetString(*node, JoinPath(path, key));
  if (!value.ok()) return value.status();
  *out = *std::move(value);
  return absl::OkStatus();
}

absl::Status ReadDuration(const Entries& entries, absl::string_view path,
                          absl::string_view key, Zero zero,
                          absl::Duration* out) {
  std::optional<YAML::Node> node = Find(entries, key);
  if (!node) return absl::OkStatus();
  std::string key_path = JoinPath(path, key);
  absl::StatusOr<std::string> text = GetString(*node, key_path);
  if (!text.ok()) return text.status();
  absl::StatusOr<absl::Duration> value = ParseConfigDuration(*text);
  if (!value.ok()) return KeyError(key_path, value.status().message());
  if (zero == Zero::kRefused && *value == absl::ZeroDuration()) {
    return KeyError(key_path, "must be greater than 0");
  }
  *out = *value;
  return absl::OkStatus();
}

// Sets *out from entries[key] when present: an integer of at least `min`.
absl::Status ReadInt(const Entries& entries, absl::string_view path,
                     absl::string_view key, int min, int* out) {
  std::optional<YAML::Node> node = Find(entries, key);
  if (!node) return absl::OkStatus();
  const std::string key_path = JoinPath(path, key);
  int value = 0;
  if (!node->IsScalar() || !absl::SimpleAtoi(node->Scalar(), &value)) {
    return KeyError(key_path,
                    absl::StrCat("expected an integer, got ",
                                 node->IsScalar() ? Quote(node->Scalar())
                                                  : Describe(*node)));
  }
  if (value < min) {
    return KeyError(key_path,
                    absl::StrCat("must be at least ", min, ", got ", value));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status CheckHostPort(absl::string_view path, absl::string_view value) {
  if (IsHostPort(value)) return absl::OkStatus();
  return KeyError(path, absl::StrCat("expected host:port (e.g. 0.0.0.0:50051 "
                                     "or [::]:50051), got ",
                                     Quote(value)));
}

namespace {

// Checks one base URL and drops one trailing slash, so callers can
// append "/cgi-bin/token".
absl::StatusOr<std::string> NormalizeBaseUrl(std::string url,
                                             absl::string_view path) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "https://") &&
      !absl::ConsumePrefix(&rest, "http://")) {
    return KeyError(
        path,
        absl::StrCat("expected an http:// or https:// URL, got ", Quote(url)));
  }
  if (rest.empty() || rest[0] == '/') {
    return KeyError(path, absl::StrCat("URL has no host: ", Quote(url)));
  }
  for (char c : rest) {
    if (c == '?' || c == '#' || absl::ascii_isspace(c) ||
        absl::ascii_iscntrl(c)) {
      return KeyError(
          path,
          absl::StrCat("URL must not contain a query, a fragment or spaces: ",
                       Quote(url)));
    }
  }
  if (absl::EndsWith(url, "/")) url.pop_back();
  if (absl::EndsWith(url, "/")) {
    return KeyError(path, absl::StrCat("URL ends in \"//\": ", Quote(url)));
  }
  return url;
}

}  // namespace

absl::Status ReadBaseUrls(const Entries& entries, absl::string_view path,
                          absl::string_view key,
                          std::vector<std::string>* out) {
  const std::optional<YAML::Node> urls = Find(entries, key);
  if (!urls) return absl::OkStatus();
  const std::string urls_path = JoinPath(path, key);
  if (!urls->IsSequence()) {
    return KeyError(urls_path, absl::StrCat("expected a list of URLs, got ",
                                            Describe(*urls)));
  }
  if (urls->size() == 0) return KeyError(urls_path, "needs at least one URL");
  out->clear();
  for (size_t i = 0; i < urls->size(); ++i) {
    const std::string url_path = IndexPath(urls_path, i);
    absl::StatusOr<std::string> url = GetString((*urls)[i], url_path);
    if (!url.ok()) return url.status();
    absl::StatusOr<std::string> normalized =
        NormalizeBaseUrl(*std::move(url), url_path);
    if (!normalized.ok()) return normalized.status();
    out->push_back(*std::move(normalized));
  }
  return absl::OkStatus();
}

}  // namespace wxtoken::server::config_yaml
