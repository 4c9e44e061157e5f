#include "client/src/short_bytes.h"

#include <cstddef>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace wxtoken::client_internal {
namespace {

// Every size the word-wise paths treat apart (under 8, 8 to 24 in three
// overlapping words, the loop past 24), with one differing byte at every
// position: the comparison must see each byte.
TEST(SameBytesTest, SeesEveryByteAtEverySize) {
  for (size_t size = 0; size <= 40; ++size) {
    std::string a(size, 'x');
    for (size_t i = 0; i < size; ++i) a[i] = static_cast<char>('a' + i % 26);
    const std::string same = a;
    EXPECT_TRUE(SameBytes(a, same)) << "size " << size;
    for (size_t at = 0; at < size; ++at) {
      std::string other = a;
      other[at] = static_cast<char>(other[at] ^ 0x20);
      EXPECT_FALSE(SameBytes(a, other)) << "size " << size << ", byte " << at;
    }
  }
}

TEST(SameBytesTest, DifferentSizesDiffer) {
  EXPECT_FALSE(SameBytes("wx0123456789abcdef", "wx0123456789abcde"));
  EXPECT_FALSE(SameBytes("", "a"));
  EXPECT_TRUE(SameBytes("", ""));
}

// Only the viewed bytes are read: at every size, two equal windows inside
// buffers that differ around them (8 bytes each side) compare equal.
TEST(SameBytesTest, ReadsOnlyTheViewedBytes) {
  for (size_t size = 0; size <= 40; ++size) {
    std::string window(size, 'x');
    for (size_t i = 0; i < size; ++i) window[i] = static_cast<char>('a' + i);
    const std::string left = std::string(8, 'A') + window + std::string(8, 'A');
    const std::string right =
        std::string(8, 'B') + window + std::string(8, 'B');
    EXPECT_TRUE(SameBytes(absl::string_view(left).substr(8, size),
                          absl::string_view(right).substr(8, size)))
        << "size " << size;
  }
}

TEST(BucketOfTest, StaysInRangeAndSpreadsAppIds) {
  constexpr int kBits = 10;
  std::set<size_t> buckets;
  for (int i = 0; i < 256; ++i) {
    const std::string app_id = absl::StrCat("wx", 1000000000000000 + i);
    const size_t bucket = BucketOf(app_id, /*seed=*/1, kBits);
    EXPECT_LT(bucket, size_t{1} << kBits);
    buckets.insert(bucket);
  }
  // 256 app_ids over 1024 buckets: a uniform hash leaves about 227 apart;
  // a hash that ignored the varying bytes would leave one.
  EXPECT_GT(buckets.size(), 180u);
}

}  // namespace
}  // namespace wxtoken::client_internal
