// File stamps (config/file_stamps.h): what lets the config reloader skip
// reading files stat() shows unchanged. Every way a file is changed in
// practice must change its stamp.
#include "server/config/file_stamps.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

namespace fs = std::filesystem;

class FileStampsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/file_stamps.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) { return dir_ + "/" + name; }
  static void Write(const std::string& path, const std::string& contents) {
    std::ofstream(path, std::ios::trunc) << contents;
  }
  FileStamp Stamp(const std::string& path) { return StampFiles({path})[0]; }

  std::string dir_;
};

TEST_F(FileStampsTest, AnUntouchedFileKeepsItsStamp) {
  Write(Path("a"), "secret-1");
  const FileStamp first = Stamp(Path("a"));
  EXPECT_TRUE(first.exists);
  EXPECT_EQ(first.size, 8);
  std::ifstream(Path("a")).get();  // reading changes nothing
  EXPECT_EQ(Stamp(Path("a")), first);
}

TEST_F(FileStampsTest, AnEditARenameOverItAndAnAppearanceChangeIt) {
  Write(Path("a"), "secret-1");
  FileStamp stamp = Stamp(Path("a"));
  Write(Path("a"), "secret-22");  // in place, another size
  EXPECT_NE(Stamp(Path("a")), stamp);

  stamp = Stamp(Path("a"));
  Write(Path("a.new"), "secret-33");  // the same size, renamed over it
  fs::rename(Path("a.new"), Path("a"));
  EXPECT_NE(Stamp(Path("a")), stamp);

  const FileStamp missing = Stamp(Path("b"));
  EXPECT_FALSE(missing.exists);
  Write(Path("b"), "");
  EXPECT_NE(Stamp(Path("b")), missing);
}

// A Kubernetes ConfigMap or Secret mount: the file is a symlink through
// `..data`, which the kubelet points at a new directory in one rename.
TEST_F(FileStampsTest, AKubernetesDataSwapChangesTheStampThroughTheSymlinks) {
  fs::create_directories(Path("..v1"));
  Write(Path("..v1/secret"), "secret-1");
  fs::create_directory_symlink("..v1", Path("..data"));
  fs::create_symlink("..data/secret", Path("secret"));
  const FileStamp stamp = Stamp(Path("secret"));
  ASSERT_TRUE(stamp.exists);

  fs::create_directories(Path("..v2"));
  Write(Path("..v2/secret"), "secret-1");  // even the same contents
  fs::create_directory_symlink("..v2", Path("..data_tmp"));
  fs::rename(Path("..data_tmp"), Path("..data"));
  EXPECT_NE(Stamp(Path("secret")), stamp);
}

TEST_F(FileStampsTest, ARecentlyModifiedFileProvesNothing) {
  Write(Path("old"), "x");
  Write(Path("new"), "y");
  // "old" was last modified an hour ago.
  const timespec hour_ago[2] = {{time(nullptr) - 3600, 0},
                                {time(nullptr) - 3600, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, Path("old").c_str(), hour_ago, 0), 0);
  const absl::Time since = absl::Now() - absl::Seconds(1);
  // ctime moves with utimensat itself: only a stamp with both old counts.
  FileStamp old = Stamp(Path("old"));
  old.changed_ns = old.modified_ns;
  EXPECT_FALSE(AnyModifiedSince({old}, since));
  EXPECT_TRUE(AnyModifiedSince({old, Stamp(Path("new"))}, since));
  EXPECT_FALSE(AnyModifiedSince({}, since));
}

// The config reloader's idle tick: no read while nothing changed.
TEST_F(FileStampsTest, ReadFilesAreUnchangedUntilOneIsTouched) {
  Write(Path("config"), "apps: []");
  Write(Path("secret"), "s");
  ReadFiles files;
  EXPECT_FALSE(files.Unchanged()) << "nothing read yet";
  int reads = 0;
  auto read = [&] {
    ++reads;
    return std::vector<std::string>{Path("config"), Path("secret")};
  };
  files.Track(absl::Now(), read);
  EXPECT_FALSE(files.Unchanged()) << "a new set of files proves nothing";
  files.Track(absl::Now(), read);
  EXPECT_FALSE(files.Unchanged()) << "just written: may change unseen";
  // Settled (stamps taken before the read, as it would an hour later).
  files.Track(absl::Now() + absl::Hours(1), read);
  ASSERT_TRUE(files.Unchanged());
  EXPECT_TRUE(files.Unchanged());
  EXPECT_EQ(reads, 3);

  Write(Path("secret"), "rotated");
  EXPECT_FALSE(files.Unchanged());
  files.Track(absl::Now() + absl::Hours(1), read);
  EXPECT_TRUE(files.Unchanged());
  fs::remove(Path("secret"));
  EXPECT_FALSE(files.Unchanged());
}

}  // namespace
}  // namespace wxtoken::server
