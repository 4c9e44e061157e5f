// Between the engine's state and the stored record.
#include "server/token/state_record.h"

#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace wxtoken::server {
namespace {

using testing::FakeClock;

TEST(StateRecordTest, TokensRoundTripThroughTheWallClock) {
  FakeClock clock;
  const Instant now = clock.InstantNow();
  TokenState state;
  state.value = "V";
  state.generation = 7;
  state.fetched = now - absl::Minutes(1);
  state.expires = now + absl::Hours(2);
  state.intent = now - absl::Seconds(5);
  state.latest_intent = now - absl::Seconds(2);
  const TokenRecord record = ToTokenRecord(TokenKind::kJsapiTicket, state);
  EXPECT_EQ(record.kind, TokenKind::kJsapiTicket);
  EXPECT_EQ(record.expires_at, state.expires.wall);
  ASSERT_TRUE(record.intent);
  EXPECT_EQ(*record.intent, state.intent->wall);

  // Read back later, in another process: the steady clock has another
  // origin, but the times keep their distance from now.
  clock.AdvanceTime(absl::Seconds(30));
  const TokenState back = FromTokenRecord(record, clock);
  EXPECT_EQ(back.value, "V");
  EXPECT_EQ(back.generation, 7u);
  EXPECT_EQ(back.expires.wall, state.expires.wall);
  EXPECT_EQ(back.expires.steady - clock.SteadyNow(),
            state.expires.wall - clock.Now());
  ASSERT_TRUE(back.intent);
  EXPECT_EQ(back.intent->steady - clock.SteadyNow(),
            state.intent->wall - clock.Now());
  ASSERT_TRUE(back.latest_intent);
  EXPECT_EQ(back.latest_intent->wall, state.latest_intent->wall);
}

// A record of the version that kept only the earliest unanswered send: a
// later request of that version may have gone out unrecorded at any time
// until it stopped, so the latest is taken as the time of reading.
TEST(StateRecordTest, AnEarliestOnlyRecordIsUpgradedConservatively) {
  FakeClock clock;
  TokenRecord record;
  record.value = "V";
  record.fetched_at = clock.Now() - absl::Minutes(10);
  record.expires_at = record.fetched_at + absl::Hours(2);
  record.intent = clock.Now() - absl::Minutes(3);
  clock.AdvanceTime(absl::Seconds(30));
  const TokenState back = FromTokenRecord(record, clock);
  ASSERT_TRUE(back.intent);
  ASSERT_TRUE(back.latest_intent);
  EXPECT_EQ(back.latest_intent->wall, clock.Now());
  // Without an intent there is no latest either.
  record.intent.reset();
  EXPECT_FALSE(FromTokenRecord(record, clock).latest_intent);
}

TEST(StateRecordTest, CountersRoundTrip) {
  FakeClock clock;
  AppCounters counters;
  counters.day = 19838;
  counters.fetches = 12;
  counters.force_fetches = 3;
  counters.stable_forces = 2;
  counters.quota_blocked_until = clock.InstantNow() + absl::Hours(3);
  AppRecord record;
  PutCounters(counters, record);
  EXPECT_FALSE(record.last_stable_force);
  const AppCounters back = CountersFromRecord(record, clock);
  EXPECT_EQ(back.day, 19838);
  EXPECT_EQ(back.fetches, 12);
  EXPECT_EQ(back.force_fetches, 3);
  EXPECT_EQ(back.stable_forces, 2);
  EXPECT_FALSE(back.last_stable_force);
  ASSERT_TRUE(back.quota_blocked_until);
  EXPECT_EQ(*back.quota_blocked_until, *counters.quota_blocked_until);
}

}  // namespace
}  // namespace wxtoken::server
