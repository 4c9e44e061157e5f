#include "server/config/file_stamps.h"

#include <sys/stat.h>

namespace wxtoken::server {
namespace {

int64_t Nanos(const timespec& time) {
  return int64_t{time.tv_sec} * 1'000'000'000 + time.tv_nsec;
}

}  // namespace

std::vector<FileStamp> StampFiles(const std::vector<std::string>& paths) {
  std::vector<FileStamp> stamps;
  stamps.reserve(paths.size());
  for (const std::string& path : paths) {
    FileStamp stamp;
    struct stat info;
    if (stat(path.c_str(), &info) == 0) {
      stamp.exists = true;
      stamp.device = info.st_dev;
      stamp.inode = info.st_ino;
      stamp.size = info.st_size;
      stamp.modified_ns = Nanos(info.st_mtim);
      stamp.changed_ns = Nanos(info.st_ctim);
    }
    stamps.push_back(stamp);
  }
  return stamps;
}

bool AnyModifiedSince(const std::vector<FileStamp>& stamps, absl::Time since) {
  const int64_t since_ns = absl::ToUnixNanos(since);
  for (const FileStamp& stamp : stamps) {
    if (stamp.modified_ns >= since_ns || stamp.changed_ns >= since_ns) {
      return true;
    }
  }
  return false;
}

}  // namespace wxtoken::server
