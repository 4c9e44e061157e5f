// WatchToken's fan-out (TokenWatchHub) and what each stream sends
// (WatchCursor), on a fake clock: DESIGN.md "API", WatchToken.
#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/token/token_table.h"
#include "server/token/token_watch_hub.h"
#include "server/token/watch_cursor.h"
#include "tests/fakes/fake_clock.h"

namespace wxtoken::server {
namespace {

using ::testing::ElementsAre;
using testing::FakeClock;
using ::testing::IsEmpty;

constexpr char kApp[] = "wx0123456789abcdef";
const absl::Duration kClientMaxCache = absl::Minutes(4);
const absl::Duration kResend = kClientMaxCache / 2;
const absl::Duration kMaxAge = absl::Minutes(30);

// What a stream sends, as the gRPC reactor does it: read the table when
// notified, send what the cursor says.
class RecordingWatcher final : public TokenWatcher {
 public:
  RecordingWatcher(const TokenTable& table, const Clock& clock,
                   uint64_t known_generation = 0)
      : table_(table), clock_(clock), cursor_(known_generation) {}

  void Notify(bool resend) override {
    if (ended) return;
    absl::StatusOr<Token> current =
        table_.Get(kApp, TokenKind::kAccessToken, clock_.SteadyNow());
    switch (cursor_.Next(current, resend)) {
      case WatchCursor::Action::kNothing:
        return;
      case WatchCursor::Action::kSend:
        generations.push_back(current->generation);
        sent.push_back(*current);
        return;
      case WatchCursor::Action::kEnd:
        ended = current.status();
        return;
    }
  }
  void End(const absl::Status& status) override {
    if (!ended) ended = status;
  }

  std::vector<uint64_t> generations;
  std::vector<Token> sent;
  std::optional<absl::Status> ended;

 private:
  const TokenTable& table_;
  const Clock& clock_;
  WatchCursor cursor_;
};

class TokenWatchTest : public ::testing::Test {
 protected:
  TokenWatchTest() {
    table_.SetPublishListener([this](absl::string_view app_id, TokenKind kind) {
      hub_.OnPublished(app_id, kind);
    });
  }

  // Publishes generation `generation`, valid for `valid_for` from now.
  void Publish(uint64_t generation, absl::Duration valid_for = absl::Hours(1)) {
    PublishedToken published;
    published.value = absl::StrCat("value-", generation);
    published.generation = generation;
    published.fetched_at = clock_.Now();
    published.valid_until = clock_.InstantNow() + valid_for;
    table_.Publish(kApp, TokenKind::kAccessToken, std::move(published));
  }

  std::shared_ptr<RecordingWatcher> Watch(uint64_t known_generation = 0) {
    auto watcher =
        std::make_shared<RecordingWatcher>(table_, clock_, known_generation);
    absl::StatusOr<uint64_t> id =
        hub_.Watch(kApp, TokenKind::kAccessToken, watcher);
    EXPECT_TRUE(id.ok()) << id.status();
    return watcher;
  }

  FakeClock clock_;
  TokenTable table_{{{kApp, TokenKind::kAccessToken}},
                    {kClientMaxCache, absl::Minutes(5)}};
  TokenWatchHub hub_{table_, clock_, {kResend, kMaxAge}};
};

TEST_F(TokenWatchTest, FirstMessageAtOnceThenOnePerNewGeneration) {
  Publish(1);
  auto watcher = Watch();
  EXPECT_THAT(watcher->generations, ElementsAre(1)) << "before any RunDue";
  Publish(2);
  Publish(2);  // published again, nothing a caller may do changed
  hub_.RunDue();
  Publish(3);
  hub_.RunDue();
  hub_.RunDue();
  EXPECT_THAT(watcher->generations, ElementsAre(1, 2, 3));
  const absl::StatusOr<Token> now =
      table_.Get(kApp, TokenKind::kAccessToken, clock_.SteadyNow());
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(watcher->sent.back().value, now->value);
  EXPECT_EQ(watcher->sent.back().max_cache, kClientMaxCache);
}

TEST_F(TokenWatchTest, KnownGenerationCurrentWaitsForTheNextChange) {
  Publish(4);
  auto current = Watch(/*known_generation=*/4);
  auto behind = Watch(/*known_generation=*/3);
  EXPECT_THAT(current->generations, IsEmpty());
  EXPECT_THAT(behind->generations, ElementsAre(4));
  // A resend renews a message; the caller that got none has none to renew.
  clock_.AdvanceTime(kResend);
  hub_.RunDue();
  EXPECT_THAT(current->generations, IsEmpty());
  EXPECT_THAT(behind->generations, ElementsAre(4, 4));
  Publish(5);
  hub_.RunDue();
  EXPECT_THAT(current->generations, ElementsAre(5));
}

TEST_F(TokenWatchTest, AShortenedValidityIsPushed) {
  Publish(1);
  auto watcher = Watch();
  auto known = Watch(/*known_generation=*/1);
  // An intent is written: the same value now ends in 90 s.
  Publish(1, absl::Seconds(90));
  hub_.RunDue();
  ASSERT_THAT(watcher->generations, ElementsAre(1, 1));
  EXPECT_EQ(watcher->sent.back().max_cache, absl::Seconds(90));
  EXPECT_EQ(watcher->sent.back().expires_at, clock_.Now() + absl::Seconds(90));
  EXPECT_THAT(known->generations, ElementsAre(1)) << "its validity shrank too";
  // Lengthened again (the request was answered cleanly): not news.
  Publish(1, absl::Hours(1));
  hub_.RunDue();
  EXPECT_THAT(watcher->generations, ElementsAre(1, 1));
}

TEST_F(TokenWatchTest, MessagesAreRenewedBeforeTheirMaxCacheRunsOut) {
  Publish(1);
  auto watcher = Watch();
  EXPECT_EQ(hub_.RunDue(), clock_.SteadyNow() + kResend);
  for (int i = 0; i < 3; ++i) {
    clock_.AdvanceTime(kResend);
    hub_.RunDue();
  }
  ASSERT_EQ(watcher->sent.size(), 4u);
  for (const Token& token : watcher->sent) {
    EXPECT_EQ(token.generation, 1u);
    EXPECT_GT(token.max_cache, kResend) << "renewed inside its max_cache";
  }
}

TEST_F(TokenWatchTest, AValidityThatRunsOutEndsTheStreamThen) {
  Publish(1, absl::Seconds(30));
  auto watcher = Watch();
  ASSERT_THAT(watcher->generations, ElementsAre(1));
  // The hub wakes when the value stops being servable, not a resend later.
  const SteadyTime wake = hub_.RunDue();
  EXPECT_EQ(wake, clock_.SteadyNow() + absl::Seconds(30));
  clock_.AdvanceTime(absl::Seconds(30));
  hub_.RunDue();
  ASSERT_TRUE(watcher->ended);
  EXPECT_EQ(watcher->ended->code(), absl::StatusCode::kUnavailable)
      << *watcher->ended;
  EXPECT_EQ(hub_.WatcherCount(), 1u) << "the reactor's OnDone unwatches";
}

TEST_F(TokenWatchTest, ACredentialErrorEndsTheStreamWithGetTokensStatus) {
  Publish(1);
  auto watcher = Watch();
  PublishedToken rejected;
  rejected.unavailable =
      absl::FailedPreconditionError("WeChat rejected the secret (40125)");
  table_.Publish(kApp, TokenKind::kAccessToken, rejected);
  hub_.RunDue();
  ASSERT_TRUE(watcher->ended);
  EXPECT_EQ(watcher->ended->code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(watcher->generations, ElementsAre(1));
}

TEST_F(TokenWatchTest, BeforeTheFirstValueTheStreamWaitsForIt) {
  auto watcher = Watch();
  clock_.AdvanceTime(kResend);
  hub_.RunDue();
  EXPECT_FALSE(watcher->ended) << "no reconnect loop while wxtokend starts";
  EXPECT_THAT(watcher->generations, IsEmpty());
  Publish(1);
  hub_.RunDue();
  EXPECT_THAT(watcher->generations, ElementsAre(1));
  // Once it sent a value, losing it ends the stream.
  PublishedToken gone;  // UNAVAILABLE, as after a failed refresh
  table_.Publish(kApp, TokenKind::kAccessToken, gone);
  hub_.RunDue();
  ASSERT_TRUE(watcher->ended);
  EXPECT_EQ(watcher->ended->code(), absl::StatusCode::kUnavailable);
}

TEST_F(TokenWatchTest, UnknownAppOrKindIsNotFound) {
  auto watcher = std::make_shared<RecordingWatcher>(table_, clock_);
  absl::StatusOr<uint64_t> app =
      hub_.Watch("wxunknown", TokenKind::kAccessToken, watcher);
  EXPECT_EQ(app.status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<uint64_t> kind =
      hub_.Watch(kApp, TokenKind::kJsapiTicket, watcher);
  EXPECT_EQ(kind.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(hub_.WatcherCount(), 0u);
  EXPECT_FALSE(watcher->ended) << "refused, never notified";
}

TEST_F(TokenWatchTest, StreamsEndAfterAJitteredMaxAge) {
  Publish(1);
  std::vector<std::shared_ptr<RecordingWatcher>> watchers;
  for (int i = 0; i < 50; ++i) watchers.push_back(Watch());
  // Step from one due time to the next, noting when each stream ended.
  std::vector<std::optional<absl::Duration>> ended_after(watchers.size());
  absl::Duration elapsed;
  while (elapsed <= kMaxAge * 1.1) {
    const SteadyTime next = hub_.RunDue();
    for (size_t i = 0; i < watchers.size(); ++i) {
      if (watchers[i]->ended && !ended_after[i]) ended_after[i] = elapsed;
    }
    const absl::Duration step = std::max(
        std::min(kResend, next - clock_.SteadyNow()), absl::Nanoseconds(1));
    clock_.AdvanceTime(step);
    elapsed += step;
  }
  std::set<absl::Duration> distinct;
  for (size_t i = 0; i < watchers.size(); ++i) {
    ASSERT_TRUE(ended_after[i]) << "stream " << i;
    EXPECT_GE(*ended_after[i], kMaxAge * 0.9);
    EXPECT_LE(*ended_after[i], kMaxAge * 1.1);
    distinct.insert(*ended_after[i]);
    EXPECT_EQ(watchers[i]->ended->code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(watchers[i]->ended->message()),
                ::testing::HasSubstr("watch.max_stream_age"));
  }
  EXPECT_GT(distinct.size(), 25u) << "spread, not all at once";
  EXPECT_EQ(hub_.WatcherCount(), 0u);
}

TEST_F(TokenWatchTest, ShutdownEndsEveryStreamAndRefusesNewOnes) {
  Publish(1);
  auto first = Watch();
  auto second = Watch();
  hub_.Shutdown(absl::UnavailableError("shutting down"));
  ASSERT_TRUE(first->ended);
  ASSERT_TRUE(second->ended);
  EXPECT_EQ(first->ended->message(), "shutting down");
  EXPECT_EQ(hub_.WatcherCount(), 0u);
  auto late = std::make_shared<RecordingWatcher>(table_, clock_);
  EXPECT_EQ(hub_.Watch(kApp, TokenKind::kAccessToken, late).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(TokenWatchTest, AnUnwatchedStreamHearsNothingMore) {
  Publish(1);
  auto watcher = std::make_shared<RecordingWatcher>(table_, clock_);
  absl::StatusOr<uint64_t> id =
      hub_.Watch(kApp, TokenKind::kAccessToken, watcher);
  ASSERT_TRUE(id.ok());
  hub_.Unwatch(*id);
  hub_.Unwatch(*id);  // twice: OnDone and a late SetId may both do it
  EXPECT_EQ(hub_.WatcherCount(), 0u);
  Publish(2);
  EXPECT_EQ(hub_.RunDue(), SteadyTime::InfiniteFuture()) << "nothing left";
  EXPECT_THAT(watcher->generations, ElementsAre(1));
}

// The pure decision, on its own.
TEST(WatchCursorTest, SendsChangesAndResendsOnly) {
  Token token;
  token.generation = 7;
  token.expires_at = absl::FromUnixSeconds(2000);
  WatchCursor cursor(/*known_generation=*/0);
  EXPECT_EQ(cursor.Next(token, false), WatchCursor::Action::kSend);
  EXPECT_EQ(cursor.Next(token, false), WatchCursor::Action::kNothing);
  EXPECT_EQ(cursor.Next(token, true), WatchCursor::Action::kSend);
  token.expires_at -= absl::Seconds(1);
  EXPECT_EQ(cursor.Next(token, false), WatchCursor::Action::kSend);
  token.generation = 8;
  token.expires_at += absl::Hours(1);
  EXPECT_EQ(cursor.Next(token, false), WatchCursor::Action::kSend);
  EXPECT_EQ(cursor.Next(absl::UnavailableError("gone"), false),
            WatchCursor::Action::kEnd);
  // A caller holding the known generation hears that it is gone.
  WatchCursor known(/*known_generation=*/7);
  token.generation = 7;
  EXPECT_EQ(known.Next(token, false), WatchCursor::Action::kNothing);
  EXPECT_EQ(known.Next(absl::UnavailableError("gone"), false),
            WatchCursor::Action::kEnd);
  WatchCursor waiting(/*known_generation=*/0);
  EXPECT_EQ(waiting.Next(absl::UnavailableError("none yet"), false),
            WatchCursor::Action::kNothing);
  EXPECT_EQ(waiting.Next(absl::FailedPreconditionError("40125"), false),
            WatchCursor::Action::kEnd);
}

}  // namespace
}  // namespace wxtoken::server
