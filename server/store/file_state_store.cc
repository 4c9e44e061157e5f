#include "server/store/file_state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/store/state_file.h"

namespace wxtoken::server {
namespace {

constexpr char kSuffix[] = ".json";
constexpr char kTempSuffix[] = ".json.tmp";

// An owner key as a file name: never used as a path as it is. A key's
// parts are [A-Za-z0-9_-]; the '/' between them becomes '+'.
std::string FileNameOf(const std::string& app_id) {
  std::string name = app_id;
  std::replace(name.begin(), name.end(), '/', '+');
  return name;
}
// A state file is a few hundred bytes; anything much larger is not ours.
constexpr size_t kMaxStateFileSize = 1 << 20;

std::string ErrnoText(int err) { return std::strerror(err); }

absl::Status WriteAll(int fd, const std::string& data) {
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(ErrnoText(errno));
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Creates `path` with `data`, durably (fsync), mode 0600.
absl::Status WriteDurably(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create \"", path, "\": ", ErrnoText(errno)));
  }
  // O_CREAT's mode does not apply to an existing file left by a crash.
  absl::Status status = ::fchmod(fd, 0600) == 0
                            ? WriteAll(fd, data)
                            : absl::InternalError(ErrnoText(errno));
  if (status.ok() && ::fsync(fd) != 0) {
    status = absl::InternalError(ErrnoText(errno));
  }
  if (::close(fd) != 0 && status.ok()) {
    status = absl::InternalError(ErrnoText(errno));
  }
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot write \"", path, "\": ", status.message()));
  }
  return absl::OkStatus();
}

// The contents of a regular file of at most kMaxStateFileSize bytes.
absl::StatusOr<std::string> ReadStateFile(const std::string& path) {
  // O_NOFOLLOW and the fstat check: never a link, a FIFO or a device.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return absl::InternalError(ErrnoText(errno));
  struct stat info;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
      static_cast<size_t>(info.st_size) > kMaxStateFileSize) {
    ::close(fd);
    return absl::InvalidArgumentError("not a small regular file");
  }
  std::string text(static_cast<size_t>(info.st_size), '\0');
  size_t read = 0;
  while (read < text.size()) {
    ssize_t n = ::read(fd, text.data() + read, text.size() - read);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    read += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(read);
  return text;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileStateStore>> FileStateStore::Open(
    const std::string& dir, Post post) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state_dir: cannot create \"", dir, "\": ", ErrnoText(errno)));
  }
  struct stat info;
  if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("state_dir: \"", dir, "\" is not a directory"));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state_dir: cannot write \"", dir, "\": ", ErrnoText(errno)));
  }
  return std::unique_ptr<FileStateStore>(
      new FileStateStore(dir, std::move(post)));
}

FileStateStore::FileStateStore(std::string dir, Post post)
    : dir_(std::move(dir)), post_(std::move(post)) {
  thread_ = std::thread([this] { Run(); });
}

FileStateStore::~FileStateStore() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

std::vector<AppRecord> FileStateStore::Load() {
  std::vector<AppRecord> loaded;
  DIR* dir = ::opendir(dir_.c_str());
  if (dir == nullptr) {
    Log(LogLevel::kWarning, "cannot list state_dir",
        {{"state_dir", dir_}, {"error", ErrnoText(errno)}});
    return loaded;
  }
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (!absl::EndsWith(name, kSuffix)) continue;
    const std::string path = absl::StrCat(dir_, "/", name);
    absl::StatusOr<std::string> text = ReadStateFile(path);
    absl::StatusOr<AppRecord> record =
        text.ok() ? DecodeAppRecord(*text) : text.status();
    if (record.ok() &&
        absl::StrCat(FileNameOf(record->app_id), kSuffix) != name) {
      record = absl::InvalidArgumentError(
          absl::StrCat("it holds the state of \"", record->app_id, "\""));
    }
    if (!record.ok()) {
      Log(LogLevel::kWarning, "ignoring an unreadable state file",
          {{"file", path}, {"error", std::string(record.status().message())}});
      continue;
    }
    loaded.push_back(*std::move(record));
  }
  ::closedir(dir);
  return loaded;
}

void FileStateStore::Write(AppRecord record, WriteMode, WriteDone done) {
  absl::MutexLock lock(&mu_);
  pending_.push_back({std::move(record), std::move(done)});
}

void FileStateStore::Run() {
  while (true) {
    std::vector<PendingWrite> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !pending_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (pending_.empty()) return;  // stopping, and everything is written
      batch.swap(pending_);
    }
    std::vector<absl::Status> statuses = WriteBatch(batch);
    for (size_t i = 0; i < batch.size(); ++i) {
      absl::StatusOr<AppRecord> result =
          statuses[i].ok()
              ? absl::StatusOr<AppRecord>(std::move(batch[i].record))
              : absl::StatusOr<AppRecord>(statuses[i]);
      post_(
          [done = std::move(batch[i].done),
           result = std::move(result)]() mutable { done(std::move(result)); });
    }
  }
}

std::vector<absl::Status> FileStateStore::WriteBatch(
    const std::vector<PendingWrite>& batch) {
  // Only the newest record of each app needs writing; every write of the
  // app gets that write's status.
  absl::flat_hash_map<std::string, size_t> newest;
  for (size_t i = 0; i < batch.size(); ++i) {
    newest[batch[i].record.app_id] = i;
  }
  absl::flat_hash_map<std::string, absl::Status> results;
  bool renamed = false;
  for (const auto& [app_id, index] : newest) {
    const std::string base = absl::StrCat(dir_, "/", FileNameOf(app_id));
    const std::string temp = absl::StrCat(base, kTempSuffix);
    absl::Status status =
        WriteDurably(temp, EncodeAppRecord(batch[index].record));
    if (status.ok() &&
        ::rename(temp.c_str(), absl::StrCat(base, kSuffix).c_str()) != 0) {
      status = absl::InternalError(
          absl::StrCat("cannot rename \"", temp, "\": ", ErrnoText(errno)));
    }
    if (!status.ok()) {
      ::unlink(temp.c_str());
    } else {
      renamed = true;
    }
    results[app_id] = status;
  }
  // One directory fsync makes every rename of the batch durable.
  if (renamed) {
    int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const int err = dir_fd < 0 || ::fsync(dir_fd) != 0 ? errno : 0;
    if (dir_fd >= 0) ::close(dir_fd);
    if (err != 0) {
      for (auto& [app_id, status] : results) {
        if (status.ok()) {
          status = absl::InternalError(absl::StrCat(
              "cannot sync state_dir \"", dir_, "\": ", ErrnoText(err)));
        }
      }
    }
  }
  std::vector<absl::Status> statuses;
  statuses.reserve(batch.size());
  for (const PendingWrite& write : batch) {
    statuses.push_back(results[write.record.app_id]);
  }
  return statuses;
}

}  // namespace wxtoken::server
