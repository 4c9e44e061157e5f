#include "client/src/published_token.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace wxtoken::client_internal {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1714000000);

// Token number `n`: its fields all derive from n, so a reader can tell a
// consistent copy from a mix of two writes. Lengths vary across the initial
// buffer's size to make the writer grow it while readers copy.
Token Numbered(uint64_t n) {
  Token token;
  token.value =
      std::string(100 + (n * 37) % 1500, static_cast<char>('a' + n % 26));
  token.expires_at = kNow + absl::Seconds(n);
  token.max_cache = absl::Milliseconds(n);
  token.fetched_at = kNow - absl::Seconds(n);
  token.generation = n;
  token.stale_fallback = n % 2 == 1;
  return token;
}

bool IsNumbered(const Token& token) {
  const Token want = Numbered(token.generation);
  return token.value == want.value && token.expires_at == want.expires_at &&
         token.max_cache == want.max_cache &&
         token.fetched_at == want.fetched_at &&
         token.stale_fallback == want.stale_fallback;
}

std::optional<Token> ReadIfFresh(const PublishedToken& published,
                                 absl::Time now) {
  Token token;
  if (!published.ReadIfFresh(absl::ToUnixNanos(now), &token)) {
    return std::nullopt;
  }
  return token;
}

TEST(PublishedTokenTest, ServesWhatWasPublishedUntilFreshUntil) {
  PublishedToken published;
  EXPECT_FALSE(ReadIfFresh(published, kNow).has_value());
  published.Publish(Numbered(3), kNow + absl::Minutes(1));
  std::optional<Token> token = ReadIfFresh(published, kNow);
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(token->generation, 3u);
  EXPECT_TRUE(IsNumbered(*token));
  EXPECT_TRUE(
      ReadIfFresh(published, kNow + absl::Minutes(1) - absl::Nanoseconds(1))
          .has_value());
  EXPECT_FALSE(ReadIfFresh(published, kNow + absl::Minutes(1)).has_value());
  published.Expire();
  EXPECT_FALSE(ReadIfFresh(published, kNow).has_value());
}

TEST(PublishedTokenTest, LongerValuesGrowTheBuffer) {
  PublishedToken published;
  for (size_t size : {5, 511, 512, 513, 4000, 7, 0}) {
    Token token = Numbered(1);
    token.value = std::string(size, 'v');
    published.Publish(token, kNow + absl::Seconds(1));
    std::optional<Token> read = ReadIfFresh(published, kNow);
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(read->value, token.value) << size;
  }
}

// GetToken's caller-buffer form: one Token read into again and again, its
// string shrinking and growing with the values.
TEST(PublishedTokenTest, AReusedTokenHoldsExactlyEachValue) {
  PublishedToken published;
  Token reused;
  for (size_t size : {150, 7, 4000, 0, 9, 150}) {
    Token token = Numbered(size);
    token.value = std::string(size, static_cast<char>('a' + size % 26));
    published.Publish(token, kNow + absl::Seconds(1));
    ASSERT_TRUE(published.ReadIfFresh(absl::ToUnixNanos(kNow), &reused));
    EXPECT_EQ(reused.value, token.value) << size;
    EXPECT_EQ(reused.generation, size);
  }
  const char* storage = reused.value.data();
  ASSERT_TRUE(published.ReadIfFresh(absl::ToUnixNanos(kNow), &reused));
  EXPECT_EQ(reused.value.data(), storage) << "the string's storage is reused";
}

TEST(PublishedTokenTest, ReadersRacingAWriterSeeOnlyWholeTokens) {
  PublishedToken published;
  published.Publish(Numbered(0), absl::InfiniteFuture());
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  std::atomic<long> mixed{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        std::optional<Token> token = ReadIfFresh(published, kNow);
        if (!token.has_value() || !IsNumbered(*token)) mixed.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  }
  // Write while the readers run (bounded wait for them to start).
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (reads.load() < 100 && absl::Now() < give_up) std::this_thread::yield();
  for (uint64_t n = 1; n <= 3000; ++n) {
    published.Publish(Numbered(n), absl::InfiniteFuture());
  }
  const long reads_so_far = reads.load();
  stop.store(true);
  for (std::thread& reader : readers) reader.join();
  EXPECT_GE(reads_so_far, 100);
  EXPECT_EQ(mixed.load(), 0);
}

}  // namespace
}  // namespace wxtoken::client_internal
