#include "server/token/token_table.h"

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/token/token.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;

constexpr char kApp[] = "wx0123456789abcdef";
const absl::Time kT0 = absl::FromUnixSeconds(1700000000);
const absl::Duration kClientMaxCache = absl::Minutes(4);

const SteadyTime kS0 = SteadyTime::FromSinceBoot(absl::Hours(1000));

// The steady time at wall time `t` (the two clocks agree in this test).
SteadyTime S(absl::Time t) { return kS0 + (t - kT0); }

PublishedToken Valid(const std::string& value, uint64_t generation,
                     absl::Time fetched_at, absl::Time valid_until) {
  PublishedToken state;
  state.value = value;
  state.generation = generation;
  state.fetched_at = fetched_at;
  state.valid_until = {valid_until, S(valid_until)};
  return state;
}

class TokenTableTest : public ::testing::Test {
 protected:
  TokenTable table_{{{kApp, TokenKind::kAccessToken},
                     {kApp, TokenKind::kJsapiTicket},
                     {"wxother", TokenKind::kAccessToken}},
                    {kClientMaxCache, absl::Minutes(5)}};
};

TEST_F(TokenTableTest, HasReflectsConstructionEntries) {
  EXPECT_TRUE(table_.HasApp(kApp));
  EXPECT_TRUE(table_.HasApp("wxother"));
  EXPECT_FALSE(table_.HasApp("wxunknown"));
  EXPECT_FALSE(table_.HasApp(""));
  EXPECT_TRUE(table_.Has(kApp, TokenKind::kAccessToken));
  EXPECT_TRUE(table_.Has(kApp, TokenKind::kJsapiTicket));
  EXPECT_FALSE(table_.Has(kApp, TokenKind::kWxCardTicket));
  EXPECT_FALSE(table_.Has("wxother", TokenKind::kJsapiTicket));
  EXPECT_FALSE(table_.Has("wxunknown", TokenKind::kAccessToken));
}

TEST_F(TokenTableTest, UnknownAppIsNotFoundNamingTheApp) {
  auto token = table_.Get("wxunknown", TokenKind::kAccessToken, S(kT0));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(token.status().message()),
              ::testing::StartsWith("app_id"));
  EXPECT_THAT(std::string(token.status().message()), HasSubstr("wxunknown"));
}

TEST_F(TokenTableTest, UnconfiguredKindIsNotFoundNamingTheKind) {
  auto token = table_.Get(kApp, TokenKind::kWxCardTicket, S(kT0));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(token.status().message()),
              ::testing::StartsWith("kind"));
  EXPECT_THAT(std::string(token.status().message()),
              HasSubstr("wx_card_ticket"));
  EXPECT_THAT(std::string(token.status().message()), HasSubstr(kApp));
}

TEST_F(TokenTableTest, BeforeAnyPublishIsUnavailable) {
  for (TokenKind kind : {TokenKind::kAccessToken, TokenKind::kJsapiTicket}) {
    auto token = table_.Get(kApp, kind, S(kT0));
    ASSERT_FALSE(token.ok());
    EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  }
}

TEST_F(TokenTableTest, ServesPublishedValue) {
  const absl::Time fetched_at = kT0 + absl::Milliseconds(250);
  const absl::Time valid_until = kT0 + absl::Hours(2);
  table_.Publish(kApp, TokenKind::kAccessToken,
                 Valid("TOKEN", 42, fetched_at, valid_until));

  auto token = table_.Get(kApp, TokenKind::kAccessToken, S(kT0));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->app_id, kApp);
  EXPECT_EQ(token->kind, TokenKind::kAccessToken);
  EXPECT_EQ(token->value, "TOKEN");
  EXPECT_EQ(token->generation, 42u);
  EXPECT_EQ(token->fetched_at, fetched_at);
  EXPECT_EQ(token->expires_at, valid_until);
  EXPECT_EQ(token->max_cache, kClientMaxCache);

  // The other kind and the other app are untouched.
  EXPECT_EQ(table_.Get(kApp, TokenKind::kJsapiTicket, S(kT0)).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(
      table_.Get("wxother", TokenKind::kAccessToken, S(kT0)).status().code(),
      absl::StatusCode::kUnavailable);
}

TEST_F(TokenTableTest, MaxCacheIsClientMaxCacheOrRemainingLife) {
  const absl::Time valid_until = kT0 + absl::Hours(2);
  table_.Publish(kApp, TokenKind::kAccessToken,
                 Valid("TOKEN", 1, kT0, valid_until));
  struct Case {
    absl::Time now;
    absl::Duration max_cache;
  };
  const Case cases[] = {
      {kT0 - absl::Hours(1), kClientMaxCache},  // a clock behind fetched_at
      {kT0, kClientMaxCache},
      {valid_until - kClientMaxCache - absl::Nanoseconds(1), kClientMaxCache},
      {valid_until - kClientMaxCache, kClientMaxCache},
      {valid_until - kClientMaxCache + absl::Nanoseconds(1),
       kClientMaxCache - absl::Nanoseconds(1)},
      {valid_until - absl::Minutes(1), absl::Minutes(1)},
      {valid_until - absl::Milliseconds(1), absl::Milliseconds(1)},
      {valid_until - absl::Nanoseconds(1), absl::Nanoseconds(1)},
  };
  for (const Case& c : cases) {
    auto token = table_.Get(kApp, TokenKind::kAccessToken, S(c.now));
    ASSERT_TRUE(token.ok()) << c.now << ": " << token.status();
    EXPECT_EQ(token->max_cache, c.max_cache) << c.now;
    EXPECT_EQ(token->expires_at, valid_until) << c.now;
    EXPECT_LE(c.now + token->max_cache, valid_until) << c.now;
  }
}

TEST_F(TokenTableTest, AtAndAfterValidUntilReturnsPublishedUnavailable) {
  const absl::Time valid_until = kT0 + absl::Hours(2);
  PublishedToken state = Valid("TOKEN", 3, kT0, valid_until);
  state.unavailable =
      absl::FailedPreconditionError("errcode 40001: invalid credential");
  table_.Publish(kApp, TokenKind::kAccessToken, state);

  for (absl::Time now :
       {valid_until, valid_until + absl::Nanoseconds(1),
        valid_until + absl::Hours(24), absl::InfiniteFuture()}) {
    auto token = table_.Get(kApp, TokenKind::kAccessToken, S(now));
    ASSERT_FALSE(token.ok()) << now;
    EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(token.status().message(), "errcode 40001: invalid credential");
  }
}

TEST_F(TokenTableTest,
       NoValueReturnsPublishedUnavailableEvenIfValidUntilLater) {
  PublishedToken state;  // no value
  state.valid_until = {absl::InfiniteFuture(), SteadyTime::InfiniteFuture()};
  state.unavailable = absl::ResourceExhaustedError("daily budget spent");
  table_.Publish(kApp, TokenKind::kJsapiTicket, state);
  auto token = table_.Get(kApp, TokenKind::kJsapiTicket, S(kT0));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(token.status().message(), "daily budget spent");
}

TEST_F(TokenTableTest, PublishReplacesAndCanWithdraw) {
  table_.Publish(kApp, TokenKind::kAccessToken,
                 Valid("first", 1, kT0, kT0 + absl::Hours(2)));
  table_.Publish(
      kApp, TokenKind::kAccessToken,
      Valid("second", 2, kT0 + absl::Hours(1), kT0 + absl::Hours(3)));
  auto token =
      table_.Get(kApp, TokenKind::kAccessToken, S(kT0 + absl::Hours(1)));
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->value, "second");
  EXPECT_EQ(token->generation, 2u);
  EXPECT_EQ(token->expires_at, kT0 + absl::Hours(3));

  PublishedToken withdrawn;
  withdrawn.unavailable = absl::UnavailableError("upstream down");
  table_.Publish(kApp, TokenKind::kAccessToken, withdrawn);
  token = table_.Get(kApp, TokenKind::kAccessToken, S(kT0 + absl::Hours(1)));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(token.status().message(), "upstream down");
}

// A follower republishes at every read, its validity a little longer each
// time: that wakes no watcher. A new value, a shorter validity or an error
// does.
TEST_F(TokenTableTest, TheListenerHearsOnlyOfNews) {
  int told = 0;
  table_.SetPublishListener([&told](absl::string_view, TokenKind) { ++told; });
  table_.Publish(kApp, TokenKind::kAccessToken,
                 Valid("first", 1, kT0, kT0 + absl::Minutes(5)));
  EXPECT_EQ(told, 1);
  for (int i = 1; i <= 3; ++i) {
    table_.Publish(kApp, TokenKind::kAccessToken,
                   Valid("first", 1, kT0, kT0 + absl::Minutes(5 + i)));
  }
  EXPECT_EQ(told, 1) << "only later ends";
  EXPECT_EQ(table_.Get(kApp, TokenKind::kAccessToken, S(kT0))->expires_at,
            kT0 + absl::Minutes(8))
      << "but served";
  table_.Publish(kApp, TokenKind::kAccessToken,
                 Valid("first", 1, kT0, kT0 + absl::Minutes(2)));
  EXPECT_EQ(told, 2) << "a sooner end";
  table_.Publish(kApp, TokenKind::kAccessToken,
                 Valid("second", 2, kT0, kT0 + absl::Minutes(2)));
  EXPECT_EQ(told, 3) << "a new value";
  PublishedToken none;
  none.unavailable = absl::FailedPreconditionError("40013");
  table_.Publish(kApp, TokenKind::kAccessToken, none);
  EXPECT_EQ(told, 4) << "an error";
  table_.Publish(kApp, TokenKind::kAccessToken, none);
  EXPECT_EQ(told, 4) << "the same error";
}

TEST_F(TokenTableTest, PublishToUnknownEntryIsIgnored) {
  table_.Publish("wxunknown", TokenKind::kAccessToken,
                 Valid("x", 1, kT0, kT0 + absl::Hours(2)));
  table_.Publish(kApp, TokenKind::kWxCardTicket,
                 Valid("x", 1, kT0, kT0 + absl::Hours(2)));
  EXPECT_FALSE(table_.HasApp("wxunknown"));
  EXPECT_FALSE(table_.Has(kApp, TokenKind::kWxCardTicket));
  EXPECT_EQ(
      table_.Get("wxunknown", TokenKind::kAccessToken, S(kT0)).status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(table_.Get(kApp, TokenKind::kWxCardTicket, S(kT0)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ServeTokenTest, AppliesTheSameRuleWithoutATable) {
  const absl::Time valid_until = kT0 + absl::Minutes(3);
  PublishedToken state = Valid("T", 9, kT0, valid_until);
  auto token = ServeToken("app", TokenKind::kJsapiTicket, state, S(kT0),
                          {absl::Minutes(4), absl::Minutes(5)});
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->app_id, "app");
  EXPECT_EQ(token->kind, TokenKind::kJsapiTicket);
  EXPECT_EQ(token->max_cache, absl::Minutes(3));
  EXPECT_EQ(token->expires_at, valid_until);
  EXPECT_EQ(ServeToken("app", TokenKind::kJsapiTicket, state, S(valid_until),
                       {absl::Minutes(4), absl::Minutes(5)})
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

// Readers racing one writer: each read is a whole published state, never a
// mix of two, and a reader never sees the generation go backwards.
TEST_F(TokenTableTest, ConcurrentReadersSeeConsistentMonotonicState) {
  constexpr int kReaders = 4;
  constexpr int kReadsPerReader = 10000;
  constexpr uint64_t kMinGeneration = 1000;     // the writer does some work
  constexpr uint64_t kMaxGeneration = 1000000;  // and is bounded
  const absl::Time now = kT0 + absl::Minutes(1);

  auto publish = [&](uint64_t generation) {
    // Every field encodes the generation, so a torn read shows.
    table_.Publish(kApp, TokenKind::kAccessToken,
                   Valid(absl::StrCat("v", generation), generation,
                         kT0 + absl::Seconds(generation),
                         kT0 + absl::Hours(1) + absl::Seconds(generation)));
  };
  publish(1);

  std::atomic<int> readers_done{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  std::vector<uint64_t> last_seen(kReaders, 0);
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      uint64_t last = 0;
      for (int i = 0; i < kReadsPerReader; ++i) {
        auto token = table_.Get(kApp, TokenKind::kAccessToken, S(now));
        if (!token.ok()) {
          failures.fetch_add(1);
          continue;
        }
        const uint64_t generation = token->generation;
        uint64_t from_value = 0;
        absl::string_view value = token->value;
        if (!absl::ConsumePrefix(&value, "v") ||
            !absl::SimpleAtoi(value, &from_value) || from_value != generation ||
            token->fetched_at != kT0 + absl::Seconds(generation) ||
            token->expires_at !=
                kT0 + absl::Hours(1) + absl::Seconds(generation) ||
            generation < last) {
          failures.fetch_add(1);
        }
        last = generation;
      }
      last_seen[r] = last;
      readers_done.fetch_add(1);
    });
  }

  uint64_t generation = 1;
  while ((generation < kMinGeneration || readers_done.load() < kReaders) &&
         generation < kMaxGeneration) {
    publish(++generation);
  }
  for (std::thread& reader : readers) reader.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(generation, kMinGeneration);
  for (uint64_t last : last_seen) {
    EXPECT_GE(last, 1u);
    EXPECT_LE(last, generation);
  }
  auto final_token = table_.Get(kApp, TokenKind::kAccessToken, S(now));
  ASSERT_TRUE(final_token.ok());
  EXPECT_EQ(final_token->generation, generation);
  EXPECT_EQ(final_token->value, absl::StrCat("v", generation));
}

// A config reload adds and removes apps under running readers.
TEST_F(TokenTableTest, AppsAreAddedAndRemovedTellingTheListener) {
  std::vector<std::string> told;
  table_.SetPublishListener([&told](absl::string_view app_id, TokenKind kind) {
    told.push_back(absl::StrCat(app_id, "/", TokenKindName(kind)));
  });
  table_.AddApp("wxnew", {TokenKind::kAccessToken, TokenKind::kWxCardTicket});
  EXPECT_THAT(told, ::testing::ElementsAre("wxnew/access_token",
                                           "wxnew/wx_card_ticket"));
  auto token = table_.Get("wxnew", TokenKind::kAccessToken, S(kT0));
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  table_.Publish("wxnew", TokenKind::kAccessToken,
                 Valid("v1", 1, kT0, kT0 + absl::Hours(1)));
  EXPECT_EQ(table_.Get("wxnew", TokenKind::kAccessToken, S(kT0))->value, "v1");
  table_.AddApp("wxnew", {TokenKind::kAccessToken});  // exists: unchanged
  EXPECT_EQ(table_.Get("wxnew", TokenKind::kAccessToken, S(kT0))->value, "v1");
  EXPECT_TRUE(table_.Has("wxnew", TokenKind::kWxCardTicket));

  told.clear();
  table_.RemoveApp(kApp);
  EXPECT_THAT(
      told, ::testing::UnorderedElementsAre("wx0123456789abcdef/access_token",
                                            "wx0123456789abcdef/jsapi_ticket"));
  token = table_.Get(kApp, TokenKind::kAccessToken, S(kT0));
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(token.status().message()), HasSubstr(kApp));
  EXPECT_FALSE(table_.HasApp(kApp));
  EXPECT_EQ(table_.Entries().size(), 3u);  // wxother, wxnew's two
  // Publishing to a removed app is dropped.
  table_.Publish(kApp, TokenKind::kAccessToken,
                 Valid("late", 2, kT0, kT0 + absl::Hours(1)));
  EXPECT_FALSE(table_.HasApp(kApp));
  table_.RemoveApp("wxunknown");  // nothing
}

TEST_F(TokenTableTest, ReadersOfOneAppNeverSeeAnotherAppsAddOrRemove) {
  table_.Publish("wxother", TokenKind::kAccessToken,
                 Valid("steady", 1, kT0, kT0 + absl::Hours(1)));
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        auto token = table_.Get("wxother", TokenKind::kAccessToken, S(kT0));
        if (!token.ok() || token->value != "steady") failures.fetch_add(1);
        (void)table_.Get("wxchurn", TokenKind::kAccessToken, S(kT0));
      }
    });
  }
  for (int i = 0; i < 20000; ++i) {
    table_.AddApp("wxchurn", {TokenKind::kAccessToken});
    table_.Publish("wxchurn", TokenKind::kAccessToken,
                   Valid("c", 1, kT0, kT0 + absl::Hours(1)));
    table_.RemoveApp("wxchurn");
  }
  done.store(true);
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace wxtoken::server
