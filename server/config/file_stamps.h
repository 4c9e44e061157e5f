#ifndef WXTOKEN_SERVER_CONFIG_FILE_STAMPS_H_
#define WXTOKEN_SERVER_CONFIG_FILE_STAMPS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace wxtoken::server {

// What stat() says of one file: enough to tell it is unchanged. An edit
// changes its size or modification time, a replacement by rename (editors,
// `mv`, Kubernetes' `..data` swap, which stat() follows through the
// symlinks) its inode; a file that appears or goes changes `exists`.
struct FileStamp {
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  int64_t modified_ns = 0;  // mtime
  int64_t changed_ns = 0;   // ctime

  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

// The stamp of each path, in order.
std::vector<FileStamp> StampFiles(const std::vector<std::string>& paths);

// Whether any stamp is of a file modified at or after `since`. Such a
// stamp proves nothing: file times tick coarsely (a few ms), so a second
// write of the same size right after a read can leave every field as it
// was (git's "racily clean" files).
bool AnyModifiedSince(const std::vector<FileStamp>& stamps, absl::Time since);

// The files one read depended on (a config and the files it names), and
// whether they still stand as they did before it, in which case reading
// them again would give the same. Not thread-safe.
class ReadFiles {
 public:
  // Files modified this recently may change again without a visible change
  // of stamp: they are read again until they settle.
  static constexpr absl::Duration kSettle = absl::Seconds(1);

  // Whether stat() proves every file unchanged since before the last read;
  // false before any read, and after one its stamps prove nothing about.
  bool Unchanged() const {
    return !stamps_.empty() && StampFiles(files_) == stamps_;
  }
  // Runs `read`, which returns the files it read, started at `now`, and
  // remembers them with their stamps from just before it: a file changed
  // while it was read differs from its stamp afterwards.
  template <class Read>
  void Track(absl::Time now, Read read) {
    std::vector<FileStamp> before = StampFiles(files_);
    std::vector<std::string> files = read();
    const bool proves =
        files == files_ && !AnyModifiedSince(before, now - kSettle);
    files_ = std::move(files);
    stamps_ = proves ? std::move(before) : std::vector<FileStamp>{};
  }

 private:
  std::vector<std::string> files_;
  std::vector<FileStamp> stamps_;  // empty: they prove nothing
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_CONFIG_FILE_STAMPS_H_
