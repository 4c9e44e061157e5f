// The refresh policy on its own: pure functions of the state and `now`.
#include "server/token/refresh_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;

// 2024-04-25 16:00:00 UTC is midnight in Beijing.
const absl::Time kMidnight = absl::FromUnixSeconds(1714060800);

// An Instant `d` after the test's epoch, on both clocks.
Instant At(absl::Duration d) {
  return {kMidnight + absl::Hours(12) + d,
          SteadyTime::FromSinceBoot(absl::Hours(1000)) + d};
}

TokenState Fetched(absl::Duration at, absl::Duration lifetime) {
  TokenState state;
  state.value = "V";
  state.generation = 1;
  state.fetched = At(at);
  state.expires = At(at + lifetime);
  return state;
}

RefreshConfig Defaults() { return RefreshConfig{}; }

const absl::Duration kOverlap = absl::Minutes(5);

TEST(ValidUntilTest, IsTheExpiryWithoutAnIntent) {
  EXPECT_EQ(ValidUntil(Fetched({}, absl::Hours(2)), kOverlap),
            At(absl::Hours(2)));
}

TEST(ValidUntilTest, AnIntentCutsItToOverlapAfterTheIntent) {
  TokenState state = Fetched({}, absl::Hours(2));
  state.intent = At(absl::Minutes(100));
  EXPECT_EQ(ValidUntil(state, kOverlap), At(absl::Minutes(105)));
  // Never later than the value's own expiry.
  state.intent = At(absl::Minutes(118));
  EXPECT_EQ(ValidUntil(state, kOverlap), At(absl::Hours(2)));
}

TEST(ValidUntilTest, AnIntentOlderThanTheValueCountsFromTheValue) {
  // A request sent before this value's own can revoke it only after it was
  // issued: overlap after the value's own send.
  TokenState state = Fetched(absl::Seconds(10), absl::Hours(2));
  state.intent = At({});
  EXPECT_EQ(ValidUntil(state, kOverlap), At(absl::Seconds(10) + kOverlap));
}

TEST(ValidUntilTest, NothingIsValidWithoutAValue) {
  TokenState state;
  EXPECT_EQ(ValidUntil(state, kOverlap).steady, SteadyTime::InfinitePast());
}

TEST(ServeTokenTest, MaxCacheIsTheSmallerOfClientMaxCacheAndWhatRemains) {
  PublishedToken published;
  published.value = "V";
  published.generation = 3;
  published.valid_until = At(absl::Minutes(10));
  const CacheLimits limits = {absl::Minutes(4), absl::Minutes(5)};
  auto early = ServeToken("app", TokenKind::kAccessToken, published,
                          At({}).steady, limits);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->max_cache, absl::Minutes(4));
  // A later request revokes it no sooner than the overlap after it is sent.
  EXPECT_EQ(early->stale_if_error, absl::Minutes(5));
  EXPECT_EQ(early->expires_at, published.valid_until.wall);
  auto late = ServeToken("app", TokenKind::kAccessToken, published,
                         At(absl::Minutes(9)).steady, limits);
  EXPECT_EQ(late->max_cache, absl::Minutes(1));
  EXPECT_EQ(late->stale_if_error, absl::Minutes(1));
  published.unavailable = absl::FailedPreconditionError("errcode 40125");
  auto past = ServeToken("app", TokenKind::kAccessToken, published,
                         At(absl::Minutes(10)).steady, limits);
  EXPECT_EQ(past.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(MayRevokeTest, OnlyStableNormalModeRevokesNothing) {
  EXPECT_TRUE(MayRevoke(FetchApi::kClassic, false));
  EXPECT_TRUE(MayRevoke(FetchApi::kTicket, false));
  EXPECT_TRUE(MayRevoke(FetchApi::kStable, true));
  EXPECT_FALSE(MayRevoke(FetchApi::kStable, false));
}

TEST(IntentTest, ASuccessClearsTheIntentItRecorded) {
  TokenState state = Fetched({}, absl::Hours(2));
  const IntentRecord own =
      RecordIntent(state, At(absl::Minutes(110)), kOverlap);
  EXPECT_EQ(state.intent, At(absl::Minutes(110)));
  EXPECT_EQ(state.latest_intent,
            At(absl::Minutes(110)) + MaxRecordingTime(kOverlap));
  IntentAfterSuccess(state, own, At(absl::Minutes(110) + absl::Seconds(1)),
                     kOverlap);
  EXPECT_FALSE(state.intent);
  EXPECT_FALSE(state.latest_intent);
}

TEST(IntentTest, ASuccessKeepsAnEarlierUnansweredRequestUntilItsHorizon) {
  TokenState state = Fetched({}, absl::Hours(2));
  RecordIntent(state, At({}), kOverlap);  // unanswered
  const TokenState unanswered = state;
  const absl::Duration latest = MaxRecordingTime(kOverlap);
  for (absl::Duration sent : {absl::Seconds(5), latest + absl::Seconds(149)}) {
    state = unanswered;
    IntentAfterSuccess(state, RecordIntent(state, At(sent), kOverlap), At(sent),
                       kOverlap);
    EXPECT_EQ(state.intent, At({})) << sent;
    EXPECT_EQ(state.latest_intent, At(latest)) << sent;
  }
  state = unanswered;
  const absl::Duration clean = latest + absl::Seconds(150);
  IntentAfterSuccess(state, RecordIntent(state, At(clean), kOverlap), At(clean),
                     kOverlap);
  EXPECT_FALSE(state.intent);
  EXPECT_FALSE(state.latest_intent);
  EXPECT_EQ(UnansweredHorizon(kOverlap), absl::Seconds(150));
}

// Issue 22, item 1: R1 unanswered, its failover answered; later R2
// unanswered, its failover answered. R2 may still be processed after its
// failover, so the failover's value stays bounded by R2's send + overlap
// (before, R2 recorded nothing and I1 alone was tested against the horizon).
TEST(IntentTest, TheLatestUnansweredRequestBoundsALaterValue) {
  TokenState state = Fetched({}, absl::Hours(2));
  RecordIntent(state, At(absl::Minutes(110)), kOverlap);  // R1: times out
  const Instant failover1 = At(absl::Minutes(110) + absl::Seconds(5));
  IntentAfterSuccess(state, RecordIntent(state, failover1, kOverlap), failover1,
                     kOverlap);
  state.value = "V2";
  state.fetched = failover1;
  state.expires = failover1 + absl::Hours(2);
  ASSERT_EQ(state.intent, At(absl::Minutes(110)));
  // The next refresh comes once R1 is past the horizon.
  const Instant r2 = RefreshTime(state, FetchApi::kClassic, Defaults());
  EXPECT_GE(r2, *state.latest_intent + UnansweredHorizon(kOverlap));
  RecordIntent(state, r2, kOverlap);  // R2: times out
  const Instant failover2 = r2 + absl::Seconds(5);
  IntentAfterSuccess(state, RecordIntent(state, failover2, kOverlap), failover2,
                     kOverlap);
  state.value = "V3";
  state.fetched = failover2;
  state.expires = failover2 + absl::Hours(2);
  ASSERT_TRUE(state.intent) << "R2 is unanswered";
  EXPECT_EQ(state.latest_intent, r2 + MaxRecordingTime(kOverlap));
  // V3 is revoked no sooner than overlap after its own send, and no later
  // is promised.
  EXPECT_EQ(ValidUntil(state, kOverlap), failover2 + kOverlap);
  // Its refresh, once R2 is past the horizon, is clean and clears both.
  const Instant r3 = RefreshTime(state, FetchApi::kClassic, Defaults());
  EXPECT_LT(r3, ValidUntil(state, kOverlap));
  EXPECT_GE(r3, *state.latest_intent + UnansweredHorizon(kOverlap));
  IntentAfterSuccess(state, RecordIntent(state, r3, kOverlap), r3, kOverlap);
  EXPECT_FALSE(state.intent);
  EXPECT_FALSE(state.latest_intent);
}

TEST(IntentTest, ACleanAnswerForgetsOnlyItsOwnRequest) {
  TokenState state = Fetched({}, absl::Hours(2));
  const IntentRecord first =
      RecordIntent(state, At(absl::Minutes(110)), kOverlap);
  // Its own only: the state it found comes back.
  ForgetIntent(state, first);
  EXPECT_FALSE(state.intent);
  EXPECT_FALSE(state.latest_intent);
  // With another unanswered before it, that one stays as it was.
  RecordIntent(state, At(absl::Minutes(100)), kOverlap);
  const TokenState before = state;
  ForgetIntent(state, RecordIntent(state, At(absl::Minutes(110)), kOverlap));
  EXPECT_EQ(state.intent, before.intent);
  EXPECT_EQ(state.latest_intent, before.latest_intent);
}

// Issue 22, item 3: a read merged another request's intent in while this
// one was in flight; its answer must not clear it.
TEST(IntentTest, AnIntentMergedInMeanwhileIsNotForgotten) {
  TokenState state = Fetched({}, absl::Hours(2));
  const IntentRecord own =
      RecordIntent(state, At(absl::Minutes(110)), kOverlap);
  state.intent = At(absl::Minutes(109));  // a read merged an earlier one in
  ForgetIntent(state, own);
  EXPECT_EQ(state.intent, At(absl::Minutes(109)));
  EXPECT_TRUE(state.latest_intent);
  // And a success keeps it until it is past the horizon.
  TokenState succeeded = Fetched({}, absl::Hours(2));
  const IntentRecord mine =
      RecordIntent(succeeded, At(absl::Minutes(110)), kOverlap);
  succeeded.intent = At(absl::Minutes(109));
  IntentAfterSuccess(succeeded, mine, At(absl::Minutes(110)), kOverlap);
  EXPECT_EQ(succeeded.intent, At(absl::Minutes(109)));
}

TEST(RefreshTimeTest, ClassicRefreshesMarginBeforeTheEnd) {
  EXPECT_EQ(
      RefreshTime(Fetched({}, absl::Hours(2)), FetchApi::kClassic, Defaults()),
      At(absl::Minutes(110)));
}

TEST(RefreshTimeTest, AShortLifeRefreshesHalfway) {
  EXPECT_EQ(RefreshTime(Fetched({}, absl::Minutes(8)), FetchApi::kClassic,
                        Defaults()),
            At(absl::Minutes(4)));
}

TEST(RefreshTimeTest, StableRefreshesInsideWechatsEarlyIssueWindow) {
  EXPECT_EQ(
      RefreshTime(Fetched({}, absl::Hours(2)), FetchApi::kStable, Defaults()),
      At(absl::Minutes(116)));
  // Tickets of stable apps follow the classic rule.
  EXPECT_EQ(
      RefreshTime(Fetched({}, absl::Hours(2)), FetchApi::kTicket, Defaults()),
      At(absl::Minutes(110)));
}

TEST(RefreshTimeTest, APendingIntentWaitsForItsHorizon) {
  TokenState state = Fetched({}, absl::Hours(2));
  state.intent = At(absl::Minutes(110));
  EXPECT_EQ(RefreshTime(state, FetchApi::kClassic, Defaults()),
            At(absl::Minutes(110) + absl::Seconds(150)));
}

TEST(RefreshTimeTest, AValueBoundedByAnEarlierRequestIsRefetchedHalfway) {
  TokenState state = Fetched(absl::Seconds(5), absl::Hours(2));
  state.intent = At({});
  EXPECT_EQ(RefreshTime(state, FetchApi::kClassic, Defaults()),
            At(absl::Seconds(5) + absl::Seconds(150)));
}

TEST(RefreshTimeTest, NoValueMeansAtOnce) {
  EXPECT_EQ(RefreshTime(TokenState{}, FetchApi::kClassic, Defaults()).steady,
            SteadyTime::InfinitePast());
}

TEST(BackoffTest, JitterStaysWithinHalfToFullDelay) {
  EXPECT_EQ(BackoffDelay(1, absl::Seconds(1), absl::Seconds(60), 0.0),
            absl::Milliseconds(500));
  EXPECT_EQ(BackoffDelay(1, absl::Seconds(1), absl::Seconds(60), 1.0),
            absl::Seconds(1));
  EXPECT_EQ(BackoffDelay(3, absl::Seconds(1), absl::Seconds(60), 0.5),
            absl::Seconds(3));
  EXPECT_EQ(BackoffDelay(40, absl::Seconds(1), absl::Seconds(60), 1.0),
            absl::Seconds(60));
}

TEST(RetryTimeTest, FailoverGoesAtOnceUnlessAValidValueCanWait) {
  const Instant now = At(absl::Minutes(110));
  TokenState state = Fetched({}, absl::Hours(2));
  state.intent = now;
  // Nobody waits and the value is good until now + overlap: wait for a
  // clean answer.
  EXPECT_EQ(RetryTime(state, FetchApi::kClassic, true, 0, false, now,
                      Defaults(), 1.0),
            now + absl::Seconds(150));
  // Callers say the value is bad: at once.
  EXPECT_EQ(
      RetryTime(state, FetchApi::kClassic, true, 0, true, now, Defaults(), 1.0),
      now);
  // No value to protect: at once.
  EXPECT_EQ(RetryTime(TokenState{}, FetchApi::kClassic, true, 0, false, now,
                      Defaults(), 1.0),
            now);
  // After a clean failure: backoff.
  state.intent.reset();
  EXPECT_EQ(RetryTime(state, FetchApi::kClassic, false, 2, false, now,
                      Defaults(), 1.0),
            now + absl::Seconds(2));
}

TEST(BeijingDayTest, Boundaries) {
  EXPECT_EQ(BeijingDay(kMidnight),
            BeijingDay(kMidnight - absl::Seconds(1)) + 1);
  EXPECT_EQ(StartOfNextBeijingDay(kMidnight - absl::Seconds(1)), kMidnight);
  EXPECT_EQ(StartOfNextBeijingDay(kMidnight), kMidnight + absl::Hours(24));
}

TEST(QuotaResumeTimeTest, AfterTheNextMidnightWithJitter) {
  const Instant noon = At({});  // 12:00 Beijing
  for (double random01 : {0.0, 0.5, 1.0}) {
    const Instant resume = QuotaResumeTime(noon, 1, Defaults(), random01);
    EXPECT_GE(resume.wall, kMidnight + absl::Hours(24) + absl::Minutes(2));
    EXPECT_LE(resume.wall, kMidnight + absl::Hours(24) + absl::Minutes(7));
    EXPECT_EQ(resume - noon, resume.wall - noon.wall);
  }
}

TEST(BudgetResumeTimeTest, AtTheNextMidnightSpreadOverAMinute) {
  const Instant noon = At({});  // 12:00 Beijing
  EXPECT_EQ(BudgetResumeTime(noon, 0.0).wall, kMidnight + absl::Hours(24));
  EXPECT_EQ(BudgetResumeTime(noon, 0.5).wall,
            kMidnight + absl::Hours(24) + absl::Seconds(30));
  EXPECT_EQ(BudgetResumeTime(noon, 1.0).wall,
            kMidnight + absl::Hours(24) + absl::Minutes(1));
}

TEST(QuotaResumeTimeTest, InTheFirstHourBackoffInstead) {
  const Instant just_after = At(-absl::Hours(12) + absl::Minutes(10));
  EXPECT_EQ(QuotaResumeTime(just_after, 3, Defaults(), 1.0),
            just_after + absl::Seconds(4));
}

TEST(CountersTodayTest, ANewDayStartsFromZeroButKeepsTheBlock) {
  AppCounters counters;
  counters.day = BeijingDay(kMidnight) - 1;
  counters.fetches = 1900;
  counters.force_fetches = 200;
  counters.stable_forces = 20;
  counters.quota_blocked_until = At(absl::Minutes(5));
  AppCounters today = CountersToday(counters, At({}));
  EXPECT_EQ(today.day, BeijingDay(kMidnight));
  EXPECT_EQ(today.fetches, 0);
  EXPECT_EQ(today.force_fetches, 0);
  EXPECT_EQ(today.stable_forces, 0);
  EXPECT_TRUE(today.quota_blocked_until);
}

TEST(CheckSpendTest, EachLimitIsNamed) {
  const DailyBudget refresh{.fetches = 10, .force_fetches = 3};
  const Instant now = At({});
  AppCounters counters = CountersToday({}, now);
  EXPECT_TRUE(CheckSpend(counters, Spend::kForce, true, now, refresh).ok());

  counters.force_fetches = 3;
  counters.fetches = 3;
  EXPECT_TRUE(
      CheckSpend(counters, Spend::kScheduled, false, now, refresh).ok());
  absl::Status force = CheckSpend(counters, Spend::kForce, false, now, refresh);
  EXPECT_EQ(force.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(force.message(), HasSubstr("force_budget"));

  counters.fetches = 10;
  absl::Status daily =
      CheckSpend(counters, Spend::kScheduled, false, now, refresh);
  EXPECT_EQ(daily.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(daily.message(), HasSubstr("daily_budget"));

  counters = CountersToday({}, now);
  counters.stable_forces = kStableForceDailyLimit;
  EXPECT_TRUE(CheckSpend(counters, Spend::kForce, false, now, refresh).ok());
  EXPECT_THAT(CheckSpend(counters, Spend::kForce, true, now, refresh).message(),
              HasSubstr("20 stable_token force refreshes"));

  counters = CountersToday({}, now);
  counters.quota_blocked_until = now + absl::Minutes(1);
  EXPECT_THAT(
      CheckSpend(counters, Spend::kScheduled, false, now, refresh).message(),
      HasSubstr("45009"));
  EXPECT_TRUE(CheckSpend(counters, Spend::kScheduled, false,
                         now + absl::Minutes(1), refresh)
                  .ok());
}

TEST(CheckSpendTest, NamesTheKeyThatSetTheBudget) {
  const DailyBudget platform{
      .fetches = 2, .force_fetches = 1, .name = "platforms[0].daily_budget"};
  const Instant now = At({});
  AppCounters counters = CountersToday({}, now);
  counters.fetches = 2;
  EXPECT_THAT(
      CheckSpend(counters, Spend::kScheduled, false, now, platform).message(),
      HasSubstr("platforms[0].daily_budget of 2 fetches is spent"));
}

TEST(ChargeTest, CountsEveryRequestAndItsKind) {
  AppCounters counters;
  Charge(counters, Spend::kScheduled, false, At({}));
  Charge(counters, Spend::kForce, true, At(absl::Seconds(1)));
  EXPECT_EQ(counters.fetches, 2);
  EXPECT_EQ(counters.force_fetches, 1);
  EXPECT_EQ(counters.stable_forces, 1);
  EXPECT_EQ(counters.last_stable_force, At(absl::Seconds(1)));
}

TEST(ValidateForceErrcodeTest, OnlyTokenErrorsOrNone) {
  for (int errcode : {0, 40001, 40014, 42001}) {
    EXPECT_TRUE(ValidateForceErrcode(errcode).ok()) << errcode;
  }
  for (int errcode : {-1, 1, 40125, 45009, 48001}) {
    absl::Status status = ValidateForceErrcode(errcode);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << errcode;
    EXPECT_THAT(status.message(), HasSubstr("wechat_errcode"));
  }
}

TEST(DecideForceRefreshTest, DesignsOrder) {
  const RefreshConfig refresh = Defaults();
  TokenState state = Fetched({}, absl::Hours(2));
  ForceView view;
  view.state = &state;
  view.servable = true;
  view.now = At(absl::Seconds(10));
  view.last_sent = At({});

  // A stale value that is not current: ALREADY_NEWER, even when refusing.
  view.stale_value = "older";
  view.refusal = absl::FailedPreconditionError("errcode 40125");
  view.in_progress = true;
  EXPECT_EQ(DecideForceRefresh(view, refresh).step, ForceStep::kAlreadyNewer);
  // ... but not when the current value is no longer servable.
  view.servable = false;
  EXPECT_EQ(DecideForceRefresh(view, refresh).step, ForceStep::kJoin);
  view.servable = true;

  view.stale_value = "V";
  EXPECT_EQ(DecideForceRefresh(view, refresh).step, ForceStep::kJoin);
  view.in_progress = false;
  EXPECT_EQ(DecideForceRefresh(view, refresh).step, ForceStep::kRefuse);
  view.refusal = absl::OkStatus();
  ForceDecision fetch = DecideForceRefresh(view, refresh);
  EXPECT_EQ(fetch.step, ForceStep::kFetch);
  EXPECT_EQ(fetch.at, At(refresh.force_min_interval));
  // An empty stale value means "whatever is current": the same limits.
  view.stale_value = "";
  EXPECT_EQ(DecideForceRefresh(view, refresh).at,
            At(refresh.force_min_interval));
  view.now = At(absl::Minutes(2));
  EXPECT_EQ(DecideForceRefresh(view, refresh).at, At(absl::Minutes(2)));
}

}  // namespace
}  // namespace wxtoken::server
