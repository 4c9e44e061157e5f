#include "server/token/refresh_engine.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/token/refresh_policy.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_upstream.h"

namespace wxtoken::server {
namespace {

using testing::FakeClock;
using testing::FakeUpstream;
using ::testing::HasSubstr;

constexpr char kApp[] = "wx0123456789abcdef";

class MemoryStore final : public TokenStore {
 public:
  std::vector<StoredToken> LoadAll() override { return preload; }
  absl::Status Save(const StoredToken& credential) override {
    saved.push_back(credential);
    return absl::OkStatus();
  }
  std::vector<StoredToken> preload;
  std::vector<StoredToken> saved;
};

class RecordingHealth final : public HealthSink {
 public:
  void SetAppServing(const std::string& app_id, bool serving) override {
    app[app_id] = serving;
  }
  void SetAllAppsServing(bool serving) override { all = serving; }
  void SetStartupDone() override { ++startup_done; }
  std::map<std::string, bool> app;
  std::optional<bool> all;
  int startup_done = 0;
};

// Collects what a ForceRefresh answered.
struct ForceResult {
  std::optional<absl::StatusOr<ForceRefreshReply>> reply;
  ForceRefreshCallback Callback() {
    return
        [this](absl::StatusOr<ForceRefreshReply> r) { reply = std::move(r); };
  }
};

Config MakeConfig(AppConfig::Api api = AppConfig::Api::kClassic) {
  Config config;
  AppConfig app;
  app.app_id = kApp;
  app.api = api;
  app.secret = "s3cret-value";
  config.apps.push_back(app);
  return config;  // DESIGN.md defaults: margin 10m, overlap 5m, max_cache 4m
}

class RefreshEngineTest : public ::testing::Test {
 protected:
  void Init(Config config) {
    config_ = std::move(config);
    table_ = std::make_unique<TokenTable>(RefreshEngine::TableEntries(config_),
                                          config_.refresh.client_max_cache);
    engine_ = std::make_unique<RefreshEngine>(config_, clock_, upstream_,
                                              *table_, store_, health_,
                                              [this] { return random01_; });
  }
  void StartWithToken() {
    engine_->Start();
    ASSERT_EQ(upstream_.InFlight(), 1);
    token_ = upstream_.Succeed();
  }
  absl::StatusOr<Token> Get() {
    return table_->Get(kApp, TokenKind::kAccessToken, clock_.Now());
  }
  // Moves the clock to `time` and lets the engine act, as the worker would.
  void RunAt(absl::Time time) {
    clock_.SetTime(time);
    engine_->RunDue();
  }
  ForceRefreshCommand Force(ForceResult& result, std::string stale) {
    ForceRefreshCommand command;
    command.app_id = kApp;
    command.stale_value = std::move(stale);
    command.wechat_errcode = 40001;
    command.done = result.Callback();
    return command;
  }

  Config config_;
  FakeClock clock_;
  FakeUpstream upstream_;
  MemoryStore store_;
  RecordingHealth health_;
  double random01_ = 1.0;
  std::unique_ptr<TokenTable> table_;
  std::unique_ptr<RefreshEngine> engine_;
  std::string token_;
};

TEST_F(RefreshEngineTest, FirstFetchStartsAtOnceAndIsServedWhenItArrives) {
  Init(MakeConfig());
  engine_->Start();
  ASSERT_EQ(upstream_.started().size(), 1u);
  EXPECT_EQ(upstream_.started()[0].api, FetchApi::kClassic);
  EXPECT_EQ(upstream_.started()[0].secret, "s3cret-value");
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(health_.startup_done, 0);

  const absl::Time sent = clock_.Now();
  clock_.AdvanceTime(absl::Milliseconds(300));
  const std::string value = upstream_.Succeed();
  auto token = Get();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, value);
  EXPECT_EQ(token->generation, 1u);
  // expires_at counts from when the request was sent, not when it arrived.
  EXPECT_EQ(token->expires_at, sent + absl::Seconds(7200));
  EXPECT_EQ(token->fetched_at, sent);
  EXPECT_EQ(token->max_cache, absl::Minutes(4));
  EXPECT_EQ(health_.startup_done, 1);
  EXPECT_TRUE(health_.app[kApp]);
  EXPECT_EQ(health_.all, true);
  ASSERT_EQ(store_.saved.size(), 1u);
  EXPECT_EQ(store_.saved[0].value.value, value);
}

TEST_F(RefreshEngineTest, RefreshesMarginBeforeExpiry) {
  Init(MakeConfig());
  const absl::Time sent = clock_.Now();
  StartWithToken();
  const absl::Time refresh_at = sent + absl::Seconds(7200) - absl::Minutes(10);
  EXPECT_EQ(engine_->NextWakeup(), refresh_at);
  RunAt(refresh_at - absl::Seconds(1));
  EXPECT_EQ(upstream_.started().size(), 1u);
  RunAt(refresh_at);
  EXPECT_EQ(upstream_.started().size(), 2u);
}

TEST_F(RefreshEngineTest, FetchesEqualRotationsPlusOne) {
  Init(MakeConfig());
  StartWithToken();
  std::string previous = token_;
  for (int rotation = 1; rotation <= 3; ++rotation) {
    RunAt(engine_->NextWakeup());
    ASSERT_EQ(upstream_.InFlight(), 1);
    // The old value is still served while the new one is on its way.
    EXPECT_EQ(Get()->value, previous);
    previous = upstream_.Succeed();
    EXPECT_EQ(Get()->value, previous);
    EXPECT_EQ(Get()->generation, static_cast<uint64_t>(rotation + 1));
  }
  EXPECT_EQ(upstream_.started().size(), 4u);
}

TEST_F(RefreshEngineTest, RefreshInFlightBoundsMaxCacheByOverlap) {
  Init(MakeConfig());
  StartWithToken();
  const absl::Time refresh_sent = engine_->NextWakeup();
  RunAt(refresh_sent);
  ASSERT_EQ(upstream_.InFlight(), 1);
  // WeChat may already have issued a successor: the old value dies at most
  // `overlap` after our request was sent.
  clock_.SetTime(refresh_sent + absl::Minutes(2));
  auto token = Get();
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->value, token_);
  EXPECT_EQ(token->expires_at, refresh_sent + absl::Minutes(5));
  EXPECT_EQ(token->max_cache, absl::Minutes(3));
  // Every max_cache handed out ends before the revocation.
  for (absl::Duration at :
       {absl::Seconds(0), absl::Seconds(90), absl::Seconds(299)}) {
    clock_.SetTime(refresh_sent + at);
    auto served = Get();
    ASSERT_TRUE(served.ok());
    EXPECT_LE(clock_.Now() + served->max_cache,
              refresh_sent + absl::Minutes(5));
    EXPECT_LE(served->max_cache, config_.refresh.client_max_cache);
  }
  clock_.SetTime(refresh_sent + absl::Minutes(5));
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RefreshEngineTest, CleanErrorAnswerRestoresTheFullLifetime) {
  Init(MakeConfig());
  const absl::Time sent = clock_.Now();
  StartWithToken();
  RunAt(engine_->NextWakeup());
  upstream_.Fail(FailureClass::kTransient, -1, /*maybe_issued=*/false);
  // WeChat said "system busy": it issued nothing, so nothing was revoked.
  EXPECT_EQ(Get()->expires_at, sent + absl::Seconds(7200));
}

TEST_F(RefreshEngineTest, UncertainFailureKeepsTheOverlapBound) {
  Init(MakeConfig());
  StartWithToken();
  const absl::Time refresh_sent = engine_->NextWakeup();
  RunAt(refresh_sent);
  upstream_.Fail(FailureClass::kTransient, 0, /*maybe_issued=*/true);
  EXPECT_EQ(Get()->expires_at, refresh_sent + absl::Minutes(5));
  // A later retry does not move the bound: the first request counts.
  RunAt(engine_->NextWakeup());
  ASSERT_EQ(upstream_.InFlight(), 1);
  EXPECT_EQ(Get()->expires_at, refresh_sent + absl::Minutes(5));
}

TEST_F(RefreshEngineTest, MaxCacheNeverExceedsRemainingLifetime) {
  Init(MakeConfig());
  engine_->Start();
  const absl::Time sent = clock_.Now();
  upstream_.Succeed(absl::Seconds(150));  // shorter than client_max_cache
  auto token = Get();
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->max_cache, absl::Seconds(150));
  clock_.SetTime(sent + absl::Seconds(100));
  EXPECT_EQ(Get()->max_cache, absl::Seconds(50));
}

TEST_F(RefreshEngineTest, ShortLifetimeRefreshesAtHalfInsteadOfLooping) {
  Init(MakeConfig());
  engine_->Start();
  const absl::Time sent = clock_.Now();
  upstream_.Succeed(absl::Minutes(8));  // less than twice the 10m margin
  EXPECT_EQ(engine_->NextWakeup(), sent + absl::Minutes(4));
}

TEST_F(RefreshEngineTest,
       TransientFailuresBackOffExponentiallyAndKeepTheToken) {
  Init(MakeConfig());
  StartWithToken();
  RunAt(engine_->NextWakeup());
  absl::Duration expected = absl::Seconds(1);
  for (int failure = 1; failure <= 8; ++failure) {
    const absl::Time failed_at = clock_.Now();
    upstream_.Fail(FailureClass::kTransient, -1);
    EXPECT_EQ(Get()->value, token_) << "a good token is never dropped";
    EXPECT_EQ(engine_->NextWakeup() - failed_at, expected) << failure;
    RunAt(engine_->NextWakeup());
    ASSERT_EQ(upstream_.InFlight(), 1);
    expected = std::min(expected * 2, config_.refresh.retry_max);
  }
  upstream_.Succeed();
  EXPECT_NE(Get()->value, token_);
}

TEST_F(RefreshEngineTest, BackoffJitterStaysWithinHalfToFullDelay) {
  EXPECT_EQ(BackoffDelay(1, absl::Seconds(1), absl::Seconds(60), 0.0),
            absl::Milliseconds(500));
  EXPECT_EQ(BackoffDelay(1, absl::Seconds(1), absl::Seconds(60), 1.0),
            absl::Seconds(1));
  EXPECT_EQ(BackoffDelay(3, absl::Seconds(1), absl::Seconds(60), 0.5),
            absl::Seconds(3));
  EXPECT_EQ(BackoffDelay(40, absl::Seconds(1), absl::Seconds(60), 1.0),
            absl::Seconds(60));
}

TEST_F(RefreshEngineTest, TokenExpiresAfterFailuresThenUnavailable) {
  Init(MakeConfig());
  const absl::Time sent = clock_.Now();
  StartWithToken();
  random01_ = 0.0;
  while (clock_.Now() < sent + absl::Seconds(7200)) {
    RunAt(std::min(engine_->NextWakeup(), sent + absl::Seconds(7200)));
    if (upstream_.InFlight() > 0) {
      upstream_.Fail(FailureClass::kTransient, -1);
    }
  }
  auto token = Get();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(), HasSubstr("injected errcode -1"));
  EXPECT_FALSE(health_.app[kApp]);
  EXPECT_EQ(health_.all, false);
}

TEST_F(RefreshEngineTest, ForceRefreshWithOlderValueIsAlreadyNewer) {
  Init(MakeConfig());
  StartWithToken();
  ForceResult result;
  engine_->ForceRefresh(Force(result, "some-older-token"));
  ASSERT_TRUE(result.reply.has_value());
  ASSERT_TRUE(result.reply->ok());
  EXPECT_EQ((*result.reply)->outcome, ForceOutcome::kAlreadyNewer);
  EXPECT_EQ((*result.reply)->token.value, token_);
  EXPECT_EQ(upstream_.started().size(), 1u);
}

TEST_F(RefreshEngineTest, ConcurrentForceRefreshesShareOneFetch) {
  Init(MakeConfig());
  StartWithToken();
  clock_.AdvanceTime(config_.refresh.force_min_interval);
  std::vector<ForceResult> results(100);
  for (ForceResult& result : results) {
    engine_->ForceRefresh(Force(result, token_));
  }
  EXPECT_EQ(upstream_.started().size(), 2u);
  const std::string fresh = upstream_.Succeed();
  int refreshed = 0;
  for (ForceResult& result : results) {
    ASSERT_TRUE(result.reply.has_value());
    ASSERT_TRUE(result.reply->ok());
    EXPECT_EQ((*result.reply)->token.value, fresh);
    if ((*result.reply)->outcome == ForceOutcome::kRefreshed) ++refreshed;
  }
  EXPECT_EQ(refreshed, 1);
  EXPECT_EQ(upstream_.started().size(), 2u);
}

TEST_F(RefreshEngineTest, ForceRefreshJoinsAFetchAlreadyInFlight) {
  Init(MakeConfig());
  StartWithToken();
  RunAt(engine_->NextWakeup());
  ASSERT_EQ(upstream_.InFlight(), 1);
  ForceResult result;
  engine_->ForceRefresh(Force(result, token_));
  EXPECT_FALSE(result.reply.has_value());
  const std::string fresh = upstream_.Succeed();
  ASSERT_TRUE(result.reply->ok());
  EXPECT_EQ((*result.reply)->outcome, ForceOutcome::kCoalesced);
  EXPECT_EQ((*result.reply)->token.value, fresh);
  EXPECT_EQ(upstream_.started().size(), 2u);
}

TEST_F(RefreshEngineTest, ForceRefreshWaitsForTheMinimumInterval) {
  Init(MakeConfig());
  const absl::Time first_sent = clock_.Now();
  StartWithToken();
  ForceResult first, second;
  engine_->ForceRefresh(Force(first, token_));
  engine_->ForceRefresh(Force(second, ""));
  EXPECT_EQ(upstream_.started().size(), 1u);
  EXPECT_EQ(engine_->NextWakeup(),
            first_sent + config_.refresh.force_min_interval);
  RunAt(first_sent + config_.refresh.force_min_interval - absl::Seconds(1));
  EXPECT_EQ(upstream_.started().size(), 1u);
  RunAt(first_sent + config_.refresh.force_min_interval);
  EXPECT_EQ(upstream_.started().size(), 2u);
  const std::string fresh = upstream_.Succeed();
  EXPECT_EQ((*first.reply)->outcome, ForceOutcome::kRefreshed);
  EXPECT_EQ((*second.reply)->outcome, ForceOutcome::kCoalesced);
  EXPECT_EQ((*second.reply)->token.value, fresh);
}

TEST_F(RefreshEngineTest, ForceRefreshFailureAnswersWaitersButKeepsToken) {
  Init(MakeConfig());
  StartWithToken();
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult result;
  engine_->ForceRefresh(Force(result, token_));
  upstream_.Fail(FailureClass::kTransient, -1);
  ASSERT_TRUE(result.reply.has_value());
  EXPECT_EQ(result.reply->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Get()->value, token_);
}

TEST_F(RefreshEngineTest, UnknownAppIsNotFound) {
  Init(MakeConfig());
  StartWithToken();
  ForceResult result;
  ForceRefreshCommand command = Force(result, "");
  command.app_id = "wxunknown";
  engine_->ForceRefresh(std::move(command));
  EXPECT_EQ(result.reply->status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.reply->status().message(), HasSubstr("app_id"));
  EXPECT_EQ(upstream_.started().size(), 1u);
}

TEST_F(RefreshEngineTest, DailyBudgetStopsFetchesUntilTheNextBeijingDay) {
  Config config = MakeConfig();
  config.refresh.daily_budget = 3;
  Init(config);
  // 01:00 Beijing time, so the whole test stays within one Beijing day.
  clock_.SetTime(
      absl::FromUnixSeconds(1714000000 - 1714000000 % 86400 + 17 * 3600));
  StartWithToken();
  for (int i = 0; i < 2; ++i) {
    clock_.AdvanceTime(absl::Minutes(1));
    ForceResult result;
    engine_->ForceRefresh(Force(result, ""));
    token_ = upstream_.Succeed();
  }
  EXPECT_EQ(upstream_.started().size(), 3u);
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult refused;
  engine_->ForceRefresh(Force(refused, ""));
  ASSERT_TRUE(refused.reply.has_value());
  EXPECT_EQ(refused.reply->status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(upstream_.started().size(), 3u);
  // Proactive refreshes respect it too, and resume the next Beijing day.
  RunAt(clock_.Now() + absl::Minutes(110));  // past the refresh time
  EXPECT_EQ(upstream_.started().size(), 3u);
  EXPECT_EQ(Get()->value, token_);
  RunAt(StartOfNextBeijingDay(clock_.Now()));
  EXPECT_EQ(upstream_.started().size(), 4u);
}

TEST_F(RefreshEngineTest, CredentialErrorIsPermanentNotHammeredAndNamed) {
  Init(MakeConfig());
  const absl::Time sent = clock_.Now();
  StartWithToken();
  RunAt(engine_->NextWakeup());
  upstream_.Fail(FailureClass::kPermanent, 40164);
  // Still a valid token, but the app is unhealthy: someone must act.
  EXPECT_EQ(Get()->value, token_);
  EXPECT_FALSE(health_.app[kApp]);
  EXPECT_EQ(engine_->NextWakeup() - clock_.Now(),
            config_.refresh.permanent_retry);
  ForceResult result;
  engine_->ForceRefresh(Force(result, token_));
  EXPECT_EQ(result.reply->status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(upstream_.started().size(), 2u);
  // Retries come only every permanent_retry until the token expires.
  while (clock_.Now() < sent + absl::Seconds(7200)) {
    RunAt(std::min(engine_->NextWakeup(), sent + absl::Seconds(7200)));
    if (upstream_.InFlight() > 0)
      upstream_.Fail(FailureClass::kPermanent, 40164);
  }
  // One at the refresh time, one permanent_retry (10m) later at expiry.
  EXPECT_EQ(upstream_.started().size(), 3u);
  auto token = Get();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(token.status().message(), HasSubstr("40164"));
}

TEST_F(RefreshEngineTest, QuotaErrorStopsUntilTheNextBeijingDay) {
  Init(MakeConfig());
  StartWithToken();
  RunAt(engine_->NextWakeup());
  upstream_.Fail(FailureClass::kQuota, 45009);
  const absl::Time next_day = StartOfNextBeijingDay(clock_.Now());
  ForceResult result;
  engine_->ForceRefresh(Force(result, token_));
  EXPECT_EQ(result.reply->status().code(),
            absl::StatusCode::kResourceExhausted);
  // The token lives out its life; then GetToken says why there is none.
  RunAt(clock_.Now() + absl::Minutes(10));
  EXPECT_EQ(upstream_.started().size(), 2u);
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Get().status().message(), HasSubstr("45009"));
  RunAt(next_day);
  EXPECT_EQ(upstream_.started().size(), 3u);
}

TEST_F(RefreshEngineTest, BeijingDayBoundaries) {
  // 2024-04-25 16:00:00 UTC is midnight in Beijing.
  const absl::Time midnight = absl::FromUnixSeconds(1714060800);
  EXPECT_EQ(BeijingDay(midnight), BeijingDay(midnight - absl::Seconds(1)) + 1);
  EXPECT_EQ(StartOfNextBeijingDay(midnight - absl::Seconds(1)), midnight);
  EXPECT_EQ(StartOfNextBeijingDay(midnight), midnight + absl::Hours(24));
}

TEST_F(RefreshEngineTest, StableRefreshesInsideWechatsWindowAndRechecks) {
  Init(MakeConfig(AppConfig::Api::kStable));
  engine_->Start();
  ASSERT_EQ(upstream_.started()[0].api, FetchApi::kStable);
  EXPECT_FALSE(upstream_.started()[0].force_refresh);
  const absl::Time sent = clock_.Now();
  const std::string value = upstream_.Succeed();
  const absl::Time expires_at = sent + absl::Seconds(7200);
  EXPECT_EQ(engine_->NextWakeup(), expires_at - absl::Minutes(4));

  // WeChat still returns the same value (its clock is a little behind):
  // ask again shortly, not at expires_at - margin (which would loop).
  RunAt(engine_->NextWakeup());
  upstream_.SucceedWith(value, absl::Minutes(4));
  EXPECT_EQ(Get()->generation, 1u);
  EXPECT_EQ(engine_->NextWakeup(), clock_.Now() + absl::Seconds(30));

  RunAt(engine_->NextWakeup());
  const std::string next = upstream_.Succeed();
  EXPECT_EQ(Get()->value, next);
  EXPECT_EQ(Get()->generation, 2u);
  // Normal-mode stable fetches revoke nothing: no overlap bound applies.
  EXPECT_EQ(upstream_.started().size(), 3u);
  for (const FetchRequest& request : upstream_.started()) {
    EXPECT_FALSE(request.force_refresh);
  }
}

TEST_F(RefreshEngineTest, StableForceRefreshTriesNormalModeFirst) {
  Init(MakeConfig(AppConfig::Api::kStable));
  StartWithToken();
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult result;
  engine_->ForceRefresh(Force(result, token_));
  ASSERT_EQ(upstream_.started().size(), 2u);
  EXPECT_FALSE(upstream_.started()[1].force_refresh);
  upstream_.SucceedWith(token_, absl::Seconds(7000));
  // WeChat still hands out the rejected value: only force_refresh helps.
  EXPECT_FALSE(result.reply.has_value());
  engine_->RunDue();
  ASSERT_EQ(upstream_.started().size(), 3u);
  EXPECT_TRUE(upstream_.started()[2].force_refresh);
  const std::string fresh = upstream_.Succeed();
  ASSERT_TRUE(result.reply.has_value());
  EXPECT_EQ((*result.reply)->token.value, fresh);
  EXPECT_EQ((*result.reply)->outcome, ForceOutcome::kRefreshed);
}

TEST_F(RefreshEngineTest, StoredGoodTokenIsServedWithoutAFetch) {
  Init(MakeConfig());
  StoredToken stored;
  stored.app_id = kApp;
  stored.value = {"stored-token", clock_.Now() - absl::Minutes(30),
                  clock_.Now() + absl::Minutes(90), 7};
  store_.preload.push_back(stored);
  engine_->Start();
  EXPECT_EQ(upstream_.started().size(), 0u);
  EXPECT_EQ(Get()->value, "stored-token");
  EXPECT_EQ(Get()->generation, 7u);
  EXPECT_EQ(health_.startup_done, 1);
  EXPECT_TRUE(health_.app[kApp]);
  EXPECT_EQ(engine_->NextWakeup(),
            clock_.Now() + absl::Minutes(90) - absl::Minutes(10));
}

TEST_F(RefreshEngineTest, StoredTokenNearExpiryIsServedWhileRefetching) {
  Init(MakeConfig());
  StoredToken stored;
  stored.app_id = kApp;
  stored.value = {"stored-token", clock_.Now() - absl::Minutes(115),
                  clock_.Now() + absl::Minutes(5), 7};
  StoredToken foreign = stored;
  foreign.app_id = "wxsomebodyelse";
  store_.preload = {stored, foreign};
  engine_->Start();
  EXPECT_EQ(upstream_.started().size(), 1u);
  EXPECT_EQ(Get()->value, "stored-token");
  upstream_.Succeed();
  EXPECT_EQ(Get()->generation, 8u);
}

TEST_F(RefreshEngineTest, ExpiredStoredTokenIsIgnored) {
  Init(MakeConfig());
  StoredToken stored;
  stored.app_id = kApp;
  stored.value = {"stored-token", clock_.Now() - absl::Hours(3),
                  clock_.Now() - absl::Hours(1), 7};
  store_.preload.push_back(stored);
  engine_->Start();
  EXPECT_EQ(upstream_.started().size(), 1u);
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RefreshEngineTest, StartupIsDoneAfterTheFirstAttemptEvenIfItFailed) {
  Init(MakeConfig());
  engine_->Start();
  upstream_.Fail(FailureClass::kPermanent, 40125);
  EXPECT_EQ(health_.startup_done, 1);
  EXPECT_FALSE(health_.app[kApp]);
  auto token = Get();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(token.status().message(), HasSubstr("40125"));
  EXPECT_THAT(token.status().message(), ::testing::Not(HasSubstr("s3cret")));
}

TEST_F(RefreshEngineTest, FailAllWaitersAnswersEveryone) {
  Init(MakeConfig());
  StartWithToken();
  ForceResult waiting;
  engine_->ForceRefresh(Force(waiting, token_));  // within the min interval
  EXPECT_FALSE(waiting.reply.has_value());
  engine_->FailAllWaiters(absl::UnavailableError("shutting down"));
  ASSERT_TRUE(waiting.reply.has_value());
  EXPECT_EQ(waiting.reply->status().code(), absl::StatusCode::kUnavailable);
}

Config ConfigWithJsapiTicket() {
  Config config = MakeConfig();
  config.apps[0].tickets = {"jsapi"};
  return config;
}

TEST_F(RefreshEngineTest, TicketIsFetchedWithTheAccessTokenOnceItArrives) {
  Init(ConfigWithJsapiTicket());
  engine_->Start();
  ASSERT_EQ(upstream_.started().size(), 1u) << "the ticket waits for a token";
  EXPECT_EQ(health_.startup_done, 0);
  token_ = upstream_.Succeed();
  EXPECT_EQ(health_.startup_done, 1) << "tickets do not hold up startup";
  engine_->RunDue();
  ASSERT_EQ(upstream_.started().size(), 2u);
  const FetchRequest& request = upstream_.started()[1];
  EXPECT_EQ(request.api, FetchApi::kTicket);
  EXPECT_EQ(request.ticket_type, "jsapi");
  EXPECT_EQ(request.access_token, token_);
  EXPECT_TRUE(request.secret.empty()) << "getticket never needs the secret";
  const std::string ticket = upstream_.Succeed();
  auto served = table_->Get(kApp, TokenKind::kJsapiTicket, clock_.Now());
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->value, ticket);
  EXPECT_EQ(served->max_cache, absl::Minutes(4));
  ASSERT_EQ(store_.saved.size(), 2u);
  EXPECT_EQ(store_.saved[1].kind, TokenKind::kJsapiTicket);
  EXPECT_EQ(
      table_->Get(kApp, TokenKind::kWxCardTicket, clock_.Now()).status().code(),
      absl::StatusCode::kNotFound);
}

TEST_F(RefreshEngineTest, RejectedAccessTokenIsRefreshedOnceThenTheTicket) {
  Init(ConfigWithJsapiTicket());
  engine_->Start();
  token_ = upstream_.Succeed();
  engine_->RunDue();
  upstream_.Succeed();  // the first ticket
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult result;
  ForceRefreshCommand command = Force(result, "");
  command.kind = TokenKind::kJsapiTicket;
  engine_->ForceRefresh(std::move(command));
  ASSERT_EQ(upstream_.started().size(), 3u);
  // getticket says the access token is no good (someone else rotated it).
  upstream_.Fail(FailureClass::kTokenRejected, 40001);
  engine_->RunDue();
  ASSERT_EQ(upstream_.started().size(), 4u);
  EXPECT_EQ(upstream_.started()[3].api, FetchApi::kClassic);
  const std::string fresh_token = upstream_.Succeed();
  EXPECT_EQ(Get()->value, fresh_token);
  engine_->RunDue();
  ASSERT_EQ(upstream_.started().size(), 5u);
  EXPECT_EQ(upstream_.started()[4].api, FetchApi::kTicket);
  EXPECT_EQ(upstream_.started()[4].access_token, fresh_token);
  EXPECT_FALSE(result.reply.has_value()) << "waits for the new ticket";
  const std::string fresh_ticket = upstream_.Succeed();
  ASSERT_TRUE(result.reply.has_value());
  ASSERT_TRUE(result.reply->ok());
  EXPECT_EQ((*result.reply)->token.value, fresh_ticket);
  EXPECT_EQ(table_->Get(kApp, TokenKind::kJsapiTicket, clock_.Now())->value,
            fresh_ticket);
  engine_->RunDue();
  EXPECT_EQ(upstream_.started().size(), 5u) << "one token and one ticket fetch";
}

}  // namespace
}  // namespace wxtoken::server
