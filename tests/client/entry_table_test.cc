#include "client/src/entry_table.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace wxtoken::client_internal {
namespace {

class EntryTableTest : public ::testing::Test {
 protected:
  EntryContext context_{
      nullptr, [] { return absl::Now(); }, absl::Seconds(1), true, {}};
  EntryTable table_{&context_};
};

TEST_F(EntryTableTest, OneEntryPerAppAndKind) {
  TokenEntry& a = table_.FindOrCreate("wxapp1", TokenKind::kAccessToken);
  EXPECT_EQ(&table_.FindOrCreate("wxapp1", TokenKind::kAccessToken), &a);
  TokenEntry& ticket = table_.FindOrCreate("wxapp1", TokenKind::kJsapiTicket);
  TokenEntry& other = table_.FindOrCreate("wxapp2", TokenKind::kAccessToken);
  EXPECT_NE(&ticket, &a);
  EXPECT_NE(&other, &a);
  EXPECT_EQ(ticket.app_id(), "wxapp1");
  EXPECT_EQ(ticket.kind(), TokenKind::kJsapiTicket);
  EXPECT_EQ(other.app_id(), "wxapp2");
}

TEST_F(EntryTableTest, ConcurrentFirstUsesCreateOneEntryEach) {
  // More keys than buckets, so lists grow while others read them.
  constexpr int kKeys = 3000;
  constexpr int kThreads = 4;
  std::vector<std::vector<TokenEntry*>> found(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kKeys; ++k) {
        // Each thread walks the keys in its own order.
        const int key = (k * (2 * t + 1)) % kKeys;
        found[t].push_back(&table_.FindOrCreate(absl::StrCat("wx", key),
                                                TokenKind::kAccessToken));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<TokenEntry*> distinct;
  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < kKeys; ++k) {
      TokenEntry* entry = found[t][k];
      distinct.insert(entry);
      EXPECT_EQ(entry->app_id(), absl::StrCat("wx", (k * (2 * t + 1)) % kKeys));
    }
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kKeys));
}

}  // namespace
}  // namespace wxtoken::client_internal
