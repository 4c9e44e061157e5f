#include "client/src/entry_table.h"

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace wxtoken::client_internal {
namespace {

constexpr size_t kMaxEntries = 10000;

class EntryTableTest : public ::testing::Test {
 protected:
  EntryContext context_{
      nullptr, [] { return absl::Now(); }, absl::Seconds(1), true, {}};
  EntryTable table_{&context_, kMaxEntries};
};

TEST_F(EntryTableTest, OneEntryPerAppAndKind) {
  TokenEntry& a = *table_.FindOrCreate("wxapp1", TokenKind::kAccessToken);
  EXPECT_EQ(table_.FindOrCreate("wxapp1", TokenKind::kAccessToken), &a);
  TokenEntry& ticket = *table_.FindOrCreate("wxapp1", TokenKind::kJsapiTicket);
  TokenEntry& other = *table_.FindOrCreate("wxapp2", TokenKind::kAccessToken);
  EXPECT_NE(&ticket, &a);
  EXPECT_NE(&other, &a);
  EXPECT_EQ(ticket.app_id(), "wxapp1");
  EXPECT_EQ(ticket.kind(), TokenKind::kJsapiTicket);
  EXPECT_EQ(other.app_id(), "wxapp2");
}

TEST_F(EntryTableTest, AlternatingAppsAndKindsEachFindTheirOwn) {
  // Each call misses the thread's last entry: a different app, a different
  // kind, an app_id that only differs in its last byte or is a prefix.
  const std::vector<std::pair<std::string, TokenKind>> keys = {
      {"wx0123456789abcdef", TokenKind::kAccessToken},
      {"wx0123456789abcdef", TokenKind::kJsapiTicket},
      {"wx0123456789abcdeg", TokenKind::kAccessToken},
      {"wx0123456789abcde", TokenKind::kAccessToken},
      {"wx1", TokenKind::kAccessToken},
  };
  std::vector<TokenEntry*> first;
  for (const auto& [app_id, kind] : keys) {
    first.push_back(table_.FindOrCreate(app_id, kind));
  }
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < keys.size(); ++i) {
      TokenEntry& entry = *table_.FindOrCreate(keys[i].first, keys[i].second);
      EXPECT_EQ(&entry, first[i]) << keys[i].first;
      EXPECT_EQ(table_.FindOrCreate(keys[i].first, keys[i].second), &entry);
    }
  }
}

TEST_F(EntryTableTest, TwoTablesDoNotShareEntries) {
  EntryTable other(&context_, kMaxEntries);
  for (int round = 0; round < 2; ++round) {
    TokenEntry& mine = *table_.FindOrCreate("wxapp1", TokenKind::kAccessToken);
    TokenEntry& theirs = *other.FindOrCreate("wxapp1", TokenKind::kAccessToken);
    EXPECT_NE(&mine, &theirs);
  }
}

// The entry found last by the thread belongs to a destroyed table: under
// ASan a stale pointer would be a use-after-free here.
TEST(EntryTableLifetimeTest, ANewTableAtAFreedTablesAddressHasItsOwnEntries) {
  EntryContext context{
      nullptr, [] { return absl::Now(); }, absl::Seconds(1), true, {}};
  // malloc mostly hands the freed table's storage to the next one.
  auto table = std::make_unique<EntryTable>(&context, kMaxEntries);
  TokenEntry* old_entry =
      table->FindOrCreate("wxapp1", TokenKind::kAccessToken);
  EXPECT_EQ(old_entry->app_id(), "wxapp1");
  table.reset();
  table = std::make_unique<EntryTable>(&context, kMaxEntries);
  TokenEntry& entry = *table->FindOrCreate("wxapp1", TokenKind::kAccessToken);
  EXPECT_EQ(entry.app_id(), "wxapp1");
  // The new table made it: it is found again through the buckets too.
  EXPECT_EQ(&table->FindOrCreate("wxapp2", TokenKind::kAccessToken)->app_id(),
            &table->FindOrCreate("wxapp2", TokenKind::kAccessToken)->app_id());
  EXPECT_EQ(table->FindOrCreate("wxapp1", TokenKind::kAccessToken), &entry);
}

TEST(EntryTableBoundTest, PastItsBoundATableCreatesNothingAndKeepsItsEntries) {
  EntryContext context{
      nullptr, [] { return absl::Now(); }, absl::Seconds(1), true, {}};
  EntryTable table(&context, 2);
  TokenEntry* a = table.FindOrCreate("wxapp1", TokenKind::kAccessToken);
  TokenEntry* b = table.FindOrCreate("wxapp1", TokenKind::kJsapiTicket);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(table.FindOrCreate("wxapp2", TokenKind::kAccessToken), nullptr);
    EXPECT_EQ(table.FindOrCreate("wxapp1", TokenKind::kAccessToken), a);
    EXPECT_EQ(table.FindOrCreate("wxapp1", TokenKind::kJsapiTicket), b);
  }
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
        found[t].push_back(table_.FindOrCreate(absl::StrCat("wx", key),
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
