// The refresh engine with a fake clock, a fake upstream and a fake store:
// every scenario of DESIGN.md "The refresh worker" and "State and restarts"
// that one process can show, restarts included (a new engine over the same
// durable records, as after kill -9).
#include "server/token/refresh_engine.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/token/refresh_policy.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"
#include "tests/fakes/fake_upstream.h"

namespace wxtoken::server {
namespace {

using testing::FakeClock;
using testing::FakeStateStore;
using testing::FakeUpstream;
using ::testing::HasSubstr;

constexpr char kApp[] = "wx0123456789abcdef";
constexpr char kWeComApp[] = "ww0123456789abcdef/1000002";
// The upper bound a recorded intent puts on its send time (overlap 5m).
const absl::Duration kMaxRecording = MaxRecordingTime(absl::Minutes(5));

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

// What a ForceRefresh answered, if anything yet.
struct ForceResult {
  std::optional<absl::StatusOr<ForceRefreshReply>> reply;
  // What GetToken answered at the moment the reply was given.
  std::optional<absl::StatusOr<Token>> published;
  std::shared_ptr<std::atomic<bool>> cancelled =
      std::make_shared<std::atomic<bool>>(false);
  bool answered() const { return reply.has_value(); }
  absl::StatusCode code() const { return reply->status().code(); }
  const std::string& value() const { return (*reply)->token.value; }
  ForceOutcome outcome() const { return (*reply)->outcome; }
};

Config MakeConfig(AppConfig::Api api = AppConfig::Api::kClassic) {
  Config config;
  AppConfig app;
  app.app_id = api == AppConfig::Api::kWeCom ? kWeComApp : kApp;
  app.api = api;
  app.secret = "s3cret-value";
  config.apps.push_back(app);
  return config;  // DESIGN.md defaults: margin 10m, overlap 5m, max_cache 4m
}

Config WithJsapiTicket(Config config) {
  config.apps[0].tickets = {TokenKind::kJsapiTicket};
  return config;
}

// 2024-04-25 16:00:00 UTC is midnight in Beijing.
constexpr int64_t kBeijingMidnight = 1714060800;

class RefreshEngineTest : public ::testing::Test {
 protected:
  void Init(Config config, size_t bases = 1) {
    config_ = std::move(config);
    app_id_ = config_.apps[0].app_id;
    // Quota polls (requests of their own) are tested in owner_view_test.
    config_.quota.poll_interval = absl::ZeroDuration();
    bases_ = bases;
    engine_.reset();
    store_.CompleteAll();
    store_.durable.clear();
    Restart();
  }
  // A new process over the same durable state: what was in flight is gone,
  // as after kill -9.
  void Restart() {
    engine_.reset();
    // Every process issues values of its own, like WeChat would.
    upstream_ = std::make_unique<FakeUpstream>(
        bases_, absl::StrCat("token-", ++processes_, "-"));
    store_.CompleteAll(absl::UnavailableError("the process died"));
    table_ = std::make_unique<TokenTable>(
        RefreshEngine::TableEntries(config_),
        CacheLimits{config_.refresh.client_max_cache, config_.refresh.overlap});
    health_ = RecordingHealth{};
    engine_ = std::make_unique<RefreshEngine>(config_, clock_, *upstream_,
                                              *table_, store_, health_,
                                              [this] { return random01_; });
  }
  // Starts the engine and lets it record and send what is due.
  void Start() {
    engine_->Start();
    Pump();
  }
  // As the worker's loop: store completions, then due work, until quiet.
  void Pump() {
    for (int i = 0; i < 100; ++i) {
      store_.CompleteAll();
      engine_->RunDue();
      if (store_.pending() == 0) return;
    }
    ADD_FAILURE() << "the engine keeps writing";
  }
  void StartWithToken() {
    Start();
    ASSERT_EQ(upstream_->InFlight(), 1);
    token_ = Succeed();
  }
  std::string Succeed(absl::Duration expires_in = absl::Seconds(7200)) {
    std::string value = upstream_->Succeed(expires_in);
    Pump();
    return value;
  }
  void Fail(FailureClass failure, int errcode, bool maybe_issued = false) {
    upstream_->Fail(failure, errcode, maybe_issued);
    Pump();
  }
  void TimeOut() {
    upstream_->TimeOut();
    Pump();
  }
  absl::StatusOr<Token> Get(TokenKind kind = TokenKind::kAccessToken) {
    return table_->Get(app_id_, kind, clock_.SteadyNow());
  }
  // The wall time of the engine's next wakeup.
  absl::Time NextWakeup() {
    return clock_.Now() + (engine_->NextWakeup() - clock_.SteadyNow());
  }
  void RunAt(absl::Time time) {
    clock_.SetTime(time);
    Pump();
  }
  void RunToNext() { RunAt(NextWakeup()); }
  void ForceRefresh(ForceResult& result, std::string stale,
                    TokenKind kind = TokenKind::kAccessToken,
                    int errcode = 40001) {
    ForceRefreshCommand command;
    command.app_id = app_id_;
    command.kind = kind;
    command.stale_value = std::move(stale);
    command.wechat_errcode = errcode;
    command.done = [this, &result,
                    kind](absl::StatusOr<ForceRefreshReply> reply) {
      ASSERT_FALSE(result.answered()) << "answered twice";
      result.reply = std::move(reply);
      result.published = table_->Get(app_id_, kind, clock_.SteadyNow());
    };
    command.cancelled = result.cancelled;
    engine_->ForceRefresh(std::move(command));
    Pump();
  }
  const AppRecord& Durable() { return store_.durable.at(app_id_); }
  size_t Sent() const { return upstream_->started().size(); }

  Config config_;
  std::string app_id_;  // config_'s first app
  size_t bases_ = 1;
  int processes_ = 0;
  FakeClock clock_;
  FakeStateStore store_;
  RecordingHealth health_;
  double random01_ = 1.0;
  std::unique_ptr<FakeUpstream> upstream_;
  std::unique_ptr<TokenTable> table_;
  std::unique_ptr<RefreshEngine> engine_;
  std::string token_;
};

// ---- The basic cycle
// ----------------------------------------------------------

TEST_F(RefreshEngineTest, FirstFetchIsServedWhenItArrives) {
  Init(MakeConfig());
  Start();
  ASSERT_EQ(Sent(), 1u);
  EXPECT_EQ(upstream_->started()[0].api, FetchApi::kClassic);
  EXPECT_EQ(upstream_->started()[0].secret, "s3cret-value");
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Get().status().message(), HasSubstr("first fetch in progress"));
  EXPECT_EQ(health_.startup_done, 0);

  const absl::Time sent = clock_.Now();
  clock_.AdvanceTime(absl::Milliseconds(300));
  const std::string value = Succeed();
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
  ASSERT_EQ(Durable().tokens.size(), 1u);
  EXPECT_EQ(Durable().tokens[0].value, value);
  EXPECT_FALSE(Durable().tokens[0].intent);
}

// A WeCom app (DESIGN.md "WeCom"): gettoken with its corp_id and its own
// secret, on the classic rules; 40001 reported by a caller is the secret's
// fault, which no refresh fixes, while 40014 and 42001 are the token's.
TEST_F(RefreshEngineTest, AWeComAppFetchesWithItsCorpAndSecret) {
  Init(MakeConfig(AppConfig::Api::kWeCom));
  StartWithToken();
  ASSERT_EQ(Sent(), 1u);
  const FetchRequest& sent = upstream_->started()[0];
  EXPECT_EQ(sent.api, FetchApi::kWeComToken);
  EXPECT_EQ(sent.app_id, kWeComApp);
  EXPECT_EQ(sent.corp_id, "ww0123456789abcdef");
  EXPECT_EQ(sent.secret, "s3cret-value");
  ASSERT_TRUE(Get().ok()) << Get().status();
  EXPECT_EQ(Get()->value, token_);
  // Refreshed margin before expiry, as a classic app is.
  RunAt(Get()->expires_at - absl::Minutes(10));
  EXPECT_EQ(Sent(), 2u);
  const std::string renewed = Succeed();

  ForceResult secret_fault;
  ForceRefresh(secret_fault, renewed, TokenKind::kAccessToken, 40001);
  ASSERT_TRUE(secret_fault.answered());
  EXPECT_EQ(secret_fault.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(secret_fault.reply->status().message(),
              HasSubstr("secret is wrong"));
  EXPECT_EQ(Sent(), 2u);

  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult expired;
  ForceRefresh(expired, renewed, TokenKind::kAccessToken, 42001);
  EXPECT_EQ(Sent(), 3u);
  const std::string forced = Succeed();
  ASSERT_TRUE(expired.answered());
  ASSERT_EQ(expired.code(), absl::StatusCode::kOk);
  EXPECT_EQ(expired.value(), forced);
}

TEST_F(RefreshEngineTest, RefreshesMarginBeforeExpiry) {
  Init(MakeConfig());
  const absl::Time sent = clock_.Now();
  StartWithToken();
  const absl::Time refresh_at = sent + absl::Seconds(7200) - absl::Minutes(10);
  EXPECT_EQ(NextWakeup(), refresh_at);
  RunAt(refresh_at - absl::Seconds(1));
  EXPECT_EQ(Sent(), 1u);
  RunAt(refresh_at);
  EXPECT_EQ(Sent(), 2u);
}

TEST_F(RefreshEngineTest, FetchesEqualRotationsPlusOne) {
  Init(MakeConfig());
  StartWithToken();
  std::string previous = token_;
  for (int rotation = 1; rotation <= 3; ++rotation) {
    RunToNext();
    ASSERT_EQ(upstream_->InFlight(), 1);
    // The old value is still served while the new one is on its way.
    EXPECT_EQ(Get()->value, previous);
    previous = Succeed();
    EXPECT_EQ(Get()->value, previous);
    EXPECT_EQ(Get()->generation, static_cast<uint64_t>(rotation + 1));
  }
  EXPECT_EQ(Sent(), 4u);
}

TEST_F(RefreshEngineTest, ShortLifetimeRefreshesAtHalfInsteadOfLooping) {
  Init(MakeConfig());
  Start();
  const absl::Time sent = clock_.Now();
  Succeed(absl::Minutes(8));  // less than twice the 10m margin
  EXPECT_EQ(NextWakeup(), sent + absl::Minutes(4));
}

TEST_F(RefreshEngineTest, MaxCacheNeverExceedsRemainingLifetime) {
  Init(MakeConfig());
  Start();
  const absl::Time sent = clock_.Now();
  Succeed(absl::Seconds(150));  // shorter than client_max_cache
  EXPECT_EQ(Get()->max_cache, absl::Seconds(150));
  clock_.SetTime(sent + absl::Seconds(100));
  EXPECT_EQ(Get()->max_cache, absl::Seconds(50));
}

// ---- Intents: nothing leaves before it is durable
// -----------------------------

TEST_F(RefreshEngineTest, TheIntentIsDurableBeforeTheRequestIsSent) {
  Init(MakeConfig());
  StartWithToken();
  const absl::Time refresh_at = NextWakeup();
  clock_.SetTime(refresh_at);
  engine_->RunDue();
  // Recorded, not sent: the write is still pending.
  EXPECT_EQ(Sent(), 1u);
  ASSERT_EQ(store_.pending(), 1u);
  // The shortened validity is served already.
  EXPECT_EQ(Get()->expires_at, refresh_at + absl::Minutes(5));
  store_.CompleteOne();
  EXPECT_EQ(Sent(), 2u);
  ASSERT_EQ(Durable().tokens.size(), 1u);
  EXPECT_EQ(Durable().tokens[0].intent, refresh_at);
  EXPECT_EQ(Durable().fetches, 2);
}

TEST_F(RefreshEngineTest, NoDurableIntentNoRequest) {
  Init(MakeConfig());
  const absl::Time sent = clock_.Now();
  StartWithToken();
  clock_.SetTime(NextWakeup());
  engine_->RunDue();
  store_.CompleteOne(absl::InternalError("disk full"));
  EXPECT_EQ(Sent(), 1u) << "nothing is sent without a durable intent";
  // Nothing was sent, so nothing was revoked: the full lifetime is back.
  EXPECT_EQ(Get()->expires_at, sent + absl::Seconds(7200));
  Pump();
  RunToNext();
  EXPECT_EQ(Sent(), 2u) << "tried again once the store works";
}

TEST_F(RefreshEngineTest, RefreshInFlightBoundsMaxCacheByOverlap) {
  Init(MakeConfig());
  StartWithToken();
  const absl::Time refresh_sent = NextWakeup();
  RunAt(refresh_sent);
  ASSERT_EQ(upstream_->InFlight(), 1);
  // WeChat may already have issued a successor: the old value dies at most
  // `overlap` after our request was sent.
  clock_.SetTime(refresh_sent + absl::Minutes(2));
  EXPECT_EQ(Get()->expires_at, refresh_sent + absl::Minutes(5));
  EXPECT_EQ(Get()->max_cache, absl::Minutes(3));
  for (absl::Duration at :
       {absl::Seconds(0), absl::Seconds(90), absl::Seconds(299)}) {
    clock_.SetTime(refresh_sent + at);
    auto served = Get();
    ASSERT_TRUE(served.ok());
    EXPECT_LE(clock_.Now() + served->max_cache,
              refresh_sent + absl::Minutes(5));
  }
  clock_.SetTime(refresh_sent + absl::Minutes(5));
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RefreshEngineTest, CleanErrorAnswerRestoresTheFullLifetime) {
  Init(MakeConfig());
  const absl::Time sent = clock_.Now();
  StartWithToken();
  RunToNext();
  Fail(FailureClass::kTransient, -1, /*maybe_issued=*/false);
  // WeChat said "system busy": it issued nothing, so nothing was revoked.
  EXPECT_EQ(Get()->expires_at, sent + absl::Seconds(7200));
  EXPECT_FALSE(Durable().tokens[0].intent);
}

TEST_F(RefreshEngineTest, UnansweredRequestKeepsTheBoundAndRetriesCleanly) {
  Init(MakeConfig());
  StartWithToken();
  const absl::Time refresh_sent = NextWakeup();
  RunAt(refresh_sent);
  TimeOut();
  EXPECT_EQ(Get()->expires_at, refresh_sent + absl::Minutes(5));
  // The retry waits until the unanswered request is past the horizon
  // (overlap / 2, from the latest it may have been sent), so its answer is
  // WeChat's newest value for sure; the old value is still valid until then.
  EXPECT_EQ(NextWakeup(), refresh_sent + kMaxRecording + absl::Seconds(150));
  RunToNext();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Get()->expires_at, refresh_sent + absl::Minutes(5));
  const absl::Time retry_sent = clock_.Now();
  const std::string fresh = Succeed();
  EXPECT_EQ(Get()->value, fresh);
  EXPECT_EQ(Get()->expires_at, retry_sent + absl::Seconds(7200));
  EXPECT_EQ(Sent(), 3u);
}

TEST_F(RefreshEngineTest, SuccessAfterAnUnansweredAttemptIsBoundedUntilSafe) {
  // No value yet, so failover goes at once: base_urls[0] times out (WeChat
  // may still process it later), base_urls[1] answers.
  Init(MakeConfig(), /*bases=*/2);
  Start();
  const absl::Time first_sent = clock_.Now();
  clock_.AdvanceTime(absl::Seconds(5));
  TimeOut();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(upstream_->front().base_index, 1u);
  const absl::Time second_sent = clock_.Now();
  const std::string value = Succeed();
  // A late-processed first request could revoke this value overlap after
  // it was issued: served until then only, and refetched halfway.
  EXPECT_EQ(Get()->value, value);
  EXPECT_EQ(Get()->expires_at, second_sent + absl::Minutes(5));
  EXPECT_LE(Get()->max_cache, absl::Minutes(4));
  EXPECT_EQ(NextWakeup(), second_sent + absl::Seconds(150));
  ASSERT_TRUE(Durable().tokens[0].intent);
  EXPECT_EQ(*Durable().tokens[0].intent, first_sent);
  RunToNext();
  const absl::Time third_sent = clock_.Now();
  const std::string clean = Succeed();
  // Past the horizon of the first request: the full lifetime.
  EXPECT_EQ(Get()->value, clean);
  EXPECT_EQ(Get()->expires_at, third_sent + absl::Seconds(7200));
  EXPECT_FALSE(Durable().tokens[0].intent);
  EXPECT_EQ(Durable().fetches, 3) << "every request counts, failover too";
}

TEST_F(RefreshEngineTest, FailoverWithAValidTokenWaitsForACleanAnswer) {
  Init(MakeConfig(), /*bases=*/2);
  StartWithToken();
  const absl::Time refresh_sent = NextWakeup();
  RunAt(refresh_sent);
  TimeOut();
  // The old token is good until refresh_sent + overlap: no need to race.
  EXPECT_EQ(NextWakeup(), refresh_sent + kMaxRecording + absl::Seconds(150));
  RunToNext();
  EXPECT_EQ(upstream_->front().base_index, 1u);
  const absl::Time sent = clock_.Now();
  Succeed();
  EXPECT_EQ(Get()->expires_at, sent + absl::Seconds(7200));
}

// Issue 22, item 1: R1 is unanswered; later R2 is unanswered too, and its
// failover is answered while R2 may still be processed after it. The
// failover's value is bounded by overlap after its own send; the refresh
// after it, once R2 is past the horizon, is clean.
class SecondUnansweredRequestTest : public RefreshEngineTest {
 protected:
  // From an unanswered R1 on: R2 goes out, times out, and a caller's
  // ForceRefresh sends the failover within R2's horizon.
  void SecondRequestTimesOutAndItsFailoverSucceeds() {
    RunToNext();
    ASSERT_EQ(upstream_->InFlight(), 1);
    r2_ = clock_.Now();
    TimeOut();
    clock_.AdvanceTime(absl::Seconds(1));
    ForceResult caller;
    ForceRefresh(caller, Get()->value);
    RunToNext();
    ASSERT_EQ(upstream_->InFlight(), 1);
    EXPECT_EQ(upstream_->front().base_index, 1u);
    failover_sent_ = clock_.Now();
    ASSERT_LT(failover_sent_, r2_ + absl::Seconds(150))
        << "within R2's horizon";
    v3_ = Succeed();
    ASSERT_EQ(caller.value(), v3_);
  }
  void ExpectBoundedThenClean() {
    EXPECT_EQ(Get()->value, v3_);
    EXPECT_EQ(Get()->expires_at, failover_sent_ + absl::Minutes(5))
        << "R2 may still revoke it";
    ASSERT_TRUE(Durable().tokens[0].latest_intent);
    EXPECT_EQ(*Durable().tokens[0].latest_intent, r2_ + kMaxRecording);
    RunToNext();
    EXPECT_GE(clock_.Now(), r2_ + kMaxRecording + absl::Seconds(150));
    const absl::Time clean_sent = clock_.Now();
    EXPECT_EQ(Get()->value, v3_) << "still valid when the refresh goes";
    const std::string v4 = Succeed();
    EXPECT_EQ(Get()->value, v4);
    EXPECT_EQ(Get()->expires_at, clean_sent + absl::Seconds(7200));
    EXPECT_FALSE(Durable().tokens[0].intent);
    EXPECT_FALSE(Durable().tokens[0].latest_intent);
  }
  absl::Time r2_;
  absl::Time failover_sent_;
  std::string v3_;
};

TEST_F(SecondUnansweredRequestTest, AfterAForceRefreshsFailover) {
  Init(MakeConfig(), /*bases=*/2);
  StartWithToken();
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult first;
  ForceRefresh(first, token_);
  TimeOut();  // R1; a caller waits, so its failover goes at once
  ASSERT_EQ(upstream_->InFlight(), 1);
  const std::string v2 = Succeed();
  ASSERT_EQ(first.value(), v2);
  ASSERT_TRUE(Durable().tokens[0].intent) << "R1 is unanswered";
  SecondRequestTimesOutAndItsFailoverSucceeds();
  ExpectBoundedThenClean();
}

TEST_F(SecondUnansweredRequestTest, AfterAKillDuringTheFirst) {
  Init(MakeConfig(), /*bases=*/2);
  StartWithToken();
  RunToNext();  // R1
  ASSERT_EQ(upstream_->InFlight(), 1);
  Restart();  // kill -9 with R1 in flight
  Start();
  SecondRequestTimesOutAndItsFailoverSucceeds();
  ExpectBoundedThenClean();
}

// ---- Restarts
// -------------------------------------------------------------------

TEST_F(RefreshEngineTest, RestartAfterATimedOutForceRefreshHonoursTheIntent) {
  Init(MakeConfig());
  StartWithToken();
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult result;
  ForceRefresh(result, token_);
  const absl::Time force_sent = clock_.Now();
  TimeOut();
  ASSERT_TRUE(result.answered());
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable);

  clock_.AdvanceTime(absl::Seconds(10));
  Restart();
  Start();
  // The restarted server knows the old token may be revoked at
  // force_sent + overlap, not in two hours.
  EXPECT_EQ(Get()->value, token_);
  EXPECT_EQ(Get()->expires_at, force_sent + absl::Minutes(5));
  EXPECT_EQ(Get()->max_cache, absl::Minutes(4));
  clock_.SetTime(force_sent + absl::Minutes(2));
  EXPECT_EQ(Get()->max_cache, absl::Minutes(3));
  // One fetch, sent once the unanswered request is past its horizon.
  EXPECT_EQ(Sent(), 0u);
  RunToNext();
  EXPECT_EQ(clock_.Now(), force_sent + kMaxRecording + absl::Seconds(150));
  ASSERT_EQ(Sent(), 1u);
  const std::string fresh = Succeed();
  EXPECT_EQ(Get()->value, fresh);
  EXPECT_EQ(Get()->max_cache, absl::Minutes(4));
  RunAt(clock_.Now() + absl::Minutes(30));
  EXPECT_EQ(Sent(), 1u);
}

TEST_F(RefreshEngineTest, CrashDuringAFetchLeavesTheIntentInForce) {
  Init(MakeConfig());
  StartWithToken();
  const absl::Time refresh_sent = NextWakeup();
  RunAt(refresh_sent);
  ASSERT_EQ(upstream_->InFlight(), 1);
  Restart();  // kill -9 with the request in flight
  Start();
  EXPECT_EQ(Get()->value, token_);
  EXPECT_EQ(Get()->expires_at, refresh_sent + absl::Minutes(5));
}

TEST_F(RefreshEngineTest, FailedWriteAfterAFetchIsRetriedAndBoundsARestart) {
  Init(MakeConfig());
  StartWithToken();
  const absl::Time refresh_sent = NextWakeup();
  clock_.SetTime(refresh_sent);
  engine_->RunDue();
  store_.CompleteOne();  // the intent is durable; the request goes
  upstream_->Succeed();
  store_.CompleteOne(absl::InternalError("disk full"));
  const std::string fresh = Get()->value;
  EXPECT_NE(fresh, token_);
  // The stored record still has the old value and its intent.
  EXPECT_EQ(Durable().tokens[0].value, token_);
  EXPECT_EQ(Durable().tokens[0].intent, refresh_sent);
  // Written again soon, as after a transient failure: replicas read the
  // fresh value from the store, and until then see the old one's intent
  // run out.
  RunAt(clock_.Now() + config_.refresh.retry_initial);
  EXPECT_EQ(Durable().tokens[0].value, fresh);
  EXPECT_FALSE(Durable().tokens[0].intent);
}

TEST_F(RefreshEngineTest, RepeatedWriteFailuresBackOffToRetryMax) {
  Init(MakeConfig());
  StartWithToken();
  clock_.SetTime(NextWakeup());
  engine_->RunDue();
  store_.CompleteOne();
  upstream_->Succeed();
  const std::string fresh = Get()->value;
  // Each retry fails too: the waits double, up to retry_max.
  absl::Duration wait = config_.refresh.retry_initial;
  for (int failure = 1; failure <= 8; ++failure) {
    store_.CompleteOne(absl::InternalError("disk full"));
    ASSERT_EQ(store_.pending(), 0u);
    clock_.AdvanceTime(wait - absl::Milliseconds(1));
    engine_->RunDue();
    EXPECT_EQ(store_.pending(), 0u) << "retried too soon after " << failure;
    clock_.AdvanceTime(absl::Milliseconds(1));
    engine_->RunDue();
    ASSERT_EQ(store_.pending(), 1u) << "not retried after " << failure;
    wait = std::min(wait * 2, config_.refresh.retry_max);
  }
  store_.CompleteOne();
  EXPECT_EQ(Durable().tokens[0].value, fresh);
}

TEST_F(RefreshEngineTest, RestartAfterAFailedWriteTrustsOnlyTheIntent) {
  Init(MakeConfig());
  StartWithToken();
  const absl::Time refresh_sent = NextWakeup();
  clock_.SetTime(refresh_sent);
  engine_->RunDue();
  store_.CompleteOne();
  upstream_->Succeed();
  store_.CompleteOne(absl::InternalError("disk full"));
  Restart();
  Start();
  // The old value was revoked overlap after the request that replaced it.
  EXPECT_EQ(Get()->value, token_);
  EXPECT_EQ(Get()->expires_at, refresh_sent + absl::Minutes(5));
}

TEST_F(RefreshEngineTest, StoredGoodTokenIsServedWithoutAFetch) {
  Init(MakeConfig());
  StartWithToken();
  clock_.AdvanceTime(absl::Minutes(30));
  Restart();
  Start();
  EXPECT_EQ(Sent(), 0u);
  EXPECT_EQ(Get()->value, token_);
  EXPECT_EQ(Get()->generation, 1u);
  EXPECT_EQ(health_.startup_done, 1);
  EXPECT_TRUE(health_.app[kApp]);
  EXPECT_EQ(NextWakeup(), clock_.Now() + absl::Minutes(90) - absl::Minutes(10));
}

TEST_F(RefreshEngineTest, StoredTokenNearExpiryIsServedWhileRefetching) {
  Init(MakeConfig());
  StartWithToken();
  clock_.AdvanceTime(absl::Minutes(115));
  Restart();
  Start();
  EXPECT_EQ(Sent(), 1u);
  EXPECT_EQ(Get()->value, token_);
  Succeed();
  EXPECT_EQ(Get()->generation, 2u);
}

TEST_F(RefreshEngineTest, ExpiredStoredTokenIsNotServed) {
  Init(MakeConfig());
  StartWithToken();
  clock_.AdvanceTime(absl::Hours(3));
  Restart();
  Start();
  EXPECT_EQ(Sent(), 1u);
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
  Succeed();
  EXPECT_EQ(Get()->generation, 2u) << "generations go on from the store";
}

TEST_F(RefreshEngineTest, StoredStateOfAnUnconfiguredAppIsIgnored) {
  Init(MakeConfig());
  AppRecord foreign;
  foreign.app_id = "wxsomebodyelse";
  store_.durable[foreign.app_id] = foreign;
  Start();
  EXPECT_EQ(Sent(), 1u);
}

TEST_F(RefreshEngineTest, ACrashLoopWithADeadUpstreamSpendsOnlyTheBudget) {
  Config config = MakeConfig();
  config.refresh.daily_budget = 5;
  config.refresh.force_budget = 2;
  Init(config);
  clock_.SetTime(absl::FromUnixSeconds(kBeijingMidnight + 3600));
  size_t sent = 0;
  for (int crash = 0; crash < 50; ++crash) {
    Start();
    while (upstream_->InFlight() > 0) {
      upstream_->Fail(FailureClass::kTransient, 0, /*maybe_issued=*/false);
      Pump();
      ++sent;
      RunToNext();
    }
    clock_.AdvanceTime(absl::Seconds(3));
    Restart();
  }
  EXPECT_EQ(sent, 5u);
}

// ---- Wall clock steps
// -------------------------------------------------------------

TEST_F(RefreshEngineTest, AWallClockStepChangesNoServableWindow) {
  for (absl::Duration step : {absl::Hours(1), -absl::Hours(1)}) {
    SCOPED_TRACE(step);
    Init(MakeConfig());
    StartWithToken();
    RunToNext();  // a refresh in flight: the value ends at sent + overlap
    const absl::Duration max_cache_before = Get()->max_cache;
    const SteadyTime wakeup_before = engine_->NextWakeup();
    clock_.StepWall(step);
    engine_->RunDue();
    EXPECT_EQ(Get()->max_cache, max_cache_before);
    EXPECT_EQ(engine_->NextWakeup(), wakeup_before);
    // The value stops being served when the steady clock says, not before
    // and not after, whatever the wall clock did.
    clock_.AdvanceTime(absl::Minutes(5) - absl::Milliseconds(1));
    EXPECT_TRUE(Get().ok());
    clock_.AdvanceTime(absl::Milliseconds(1));
    EXPECT_FALSE(Get().ok());
    Succeed();
  }
}

// ---- Failures
// ----------------------------------------------------------------------

TEST_F(RefreshEngineTest, TransientFailuresBackOffAndKeepTheToken) {
  Init(MakeConfig());
  StartWithToken();
  RunToNext();
  absl::Duration expected = absl::Seconds(1);
  for (int failure = 1; failure <= 8; ++failure) {
    const absl::Time failed_at = clock_.Now();
    Fail(FailureClass::kTransient, -1);
    EXPECT_EQ(Get()->value, token_) << "a good token is never dropped";
    EXPECT_EQ(NextWakeup() - failed_at, expected) << failure;
    RunToNext();
    ASSERT_EQ(upstream_->InFlight(), 1);
    expected = std::min(expected * 2, config_.refresh.retry_max);
  }
  Succeed();
  EXPECT_NE(Get()->value, token_);
}

TEST_F(RefreshEngineTest, TokenExpiresAfterFailuresThenUnavailable) {
  Init(MakeConfig());
  const absl::Time sent = clock_.Now();
  StartWithToken();
  random01_ = 0.0;
  while (clock_.Now() < sent + absl::Seconds(7200)) {
    RunAt(std::min(NextWakeup(), sent + absl::Seconds(7200)));
    if (upstream_->InFlight() > 0) Fail(FailureClass::kTransient, -1);
  }
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Get().status().message(), HasSubstr("injected errcode -1"));
  EXPECT_FALSE(health_.app[kApp]);
  EXPECT_EQ(health_.all, false);
}

TEST_F(RefreshEngineTest, CredentialErrorIsPermanentNotHammeredAndNamed) {
  Init(MakeConfig());
  const absl::Time sent = clock_.Now();
  StartWithToken();
  RunToNext();
  Fail(FailureClass::kPermanent, 40164);
  // Still a valid token, but the app is unhealthy: someone must act.
  EXPECT_EQ(Get()->value, token_);
  EXPECT_FALSE(health_.app[kApp]);
  EXPECT_EQ(NextWakeup() - clock_.Now(), config_.refresh.permanent_retry);
  while (clock_.Now() < sent + absl::Seconds(7200)) {
    RunAt(std::min(NextWakeup(), sent + absl::Seconds(7200)));
    if (upstream_->InFlight() > 0) Fail(FailureClass::kPermanent, 40164);
  }
  // One at the refresh time, one permanent_retry (10m) later at expiry.
  EXPECT_EQ(Sent(), 3u);
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Get().status().message(), HasSubstr("40164"));
}

// DESIGN.md "Operations": a whitelist error says which IP to add.
TEST_F(RefreshEngineTest, AWhitelistErrorNamesTheIpWeChatSaw) {
  Init(MakeConfig());
  Start();
  upstream_->FailFromIp(40164, "203.0.113.7");
  Pump();
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Get().status().message(),
              HasSubstr("WeChat saw this server as 203.0.113.7: add it to "
                        "the IP whitelist (errcode 40164)"));
  EXPECT_FALSE(health_.app[kApp]);
}

// A reload rotated the AppSecret (DESIGN.md "Configuration", Live changes).
TEST_F(RefreshEngineTest, ARotatedSecretRetriesACredentialErrorAtOnce) {
  Init(MakeConfig());
  Start();
  Fail(FailureClass::kPermanent, 40125);  // someone reset the AppSecret
  ASSERT_EQ(NextWakeup() - clock_.Now(), config_.refresh.permanent_retry);
  engine_->UpdateSecret(kApp, "the-new-secret");
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1) << "not after permanent_retry";
  EXPECT_EQ(upstream_->started().back().secret, "the-new-secret");
  const std::string value = Succeed();
  EXPECT_EQ(Get()->value, value);
}

TEST_F(RefreshEngineTest,
       ACredentialErrorOfTheOldSecretInFlightIsRetriedAtOnce) {
  Init(MakeConfig());
  Start();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(upstream_->started().back().secret, "s3cret-value");
  // Rotated while the request with the old secret is out; WeChat refuses it.
  engine_->UpdateSecret(kApp, "the-new-secret");
  Fail(FailureClass::kPermanent, 40125);
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(upstream_->started().back().secret, "the-new-secret");
  // The new secret refused too: that one waits permanent_retry.
  Fail(FailureClass::kPermanent, 40125);
  EXPECT_EQ(upstream_->InFlight(), 0);
  EXPECT_EQ(NextWakeup() - clock_.Now(), config_.refresh.permanent_retry);
}

TEST_F(RefreshEngineTest, AnUnchangedOrUnknownSecretUpdateChangesNothing) {
  Init(MakeConfig());
  Start();
  Fail(FailureClass::kPermanent, 40125);
  engine_->UpdateSecret(kApp, "s3cret-value");  // the same
  engine_->UpdateSecret("wxunknown", "x");
  Pump();
  EXPECT_EQ(upstream_->InFlight(), 0);
  EXPECT_EQ(NextWakeup() - clock_.Now(), config_.refresh.permanent_retry);
}

// ---- Apps added and removed by a reload
// ---------------------------------------

constexpr char kOtherApp[] = "wxfedcba9876543210";

AppConfig OtherApp() {
  AppConfig app;
  app.app_id = kOtherApp;
  app.secret = "other-secret";
  return app;
}

TEST_F(RefreshEngineTest, AnAddedAppIsFetchedAndServedBesideTheOthers) {
  Init(MakeConfig());
  StartWithToken();
  health_.all.reset();
  engine_->AddApp(OtherApp());
  auto other =
      table_->Get(kOtherApp, TokenKind::kAccessToken, clock_.SteadyNow());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(other.status().message(), HasSubstr("first fetch in progress"));
  EXPECT_EQ(health_.all, false);  // not every app has a token now
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(upstream_->started().back().app_id, kOtherApp);
  EXPECT_EQ(upstream_->started().back().secret, "other-secret");
  const std::string value = Succeed();
  other = table_->Get(kOtherApp, TokenKind::kAccessToken, clock_.SteadyNow());
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->value, value);
  EXPECT_TRUE(health_.app[kOtherApp]);
  EXPECT_EQ(health_.all, true);
  EXPECT_EQ(Get()->value, token_);
  EXPECT_EQ(store_.durable.at(kOtherApp).tokens.at(0).value, value);
  engine_->AddApp(OtherApp());  // already there: nothing
  Pump();
  EXPECT_EQ(Sent(), 2u);
}

TEST_F(RefreshEngineTest, ARemovedAppIsNotFoundAndNothingMoreIsSent) {
  Init(MakeConfig());
  StartWithToken();
  engine_->AddApp(OtherApp());
  Pump();
  Succeed();
  ForceResult waiting;
  ForceRefresh(waiting, token_);  // waits out force_min_interval
  ASSERT_FALSE(waiting.answered());
  engine_->RemoveApp(kApp);
  Pump();
  ASSERT_TRUE(waiting.answered());
  EXPECT_EQ(waiting.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(waiting.reply->status().message(), HasSubstr("removed"));
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(health_.app[kApp]);
  EXPECT_EQ(health_.all, true);  // the remaining app is serving
  ForceResult after;
  ForceRefresh(after, token_);
  EXPECT_EQ(after.code(), absl::StatusCode::kNotFound);
  // A day of the other app's refreshes, and none of the removed one's.
  const absl::Time end = clock_.Now() + absl::Hours(24);
  while (clock_.Now() < end) {
    RunAt(std::min(NextWakeup(), end));
    while (upstream_->InFlight() > 0) Succeed();
  }
  for (size_t i = 2; i < Sent(); ++i) {
    EXPECT_EQ(upstream_->started()[i].app_id, kOtherApp);
  }
  EXPECT_GE(Sent(), 12u);
}

TEST_F(RefreshEngineTest, ARequestOutAtRemovalIsRecordedButNeverServed) {
  Init(MakeConfig());
  StartWithToken();
  RunToNext();
  ASSERT_EQ(upstream_->InFlight(), 1);
  engine_->RemoveApp(kApp);
  Pump();
  const std::string late = Succeed();
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kNotFound);
  // WeChat issued it and counted it: the stored record says so.
  EXPECT_EQ(Durable().tokens.at(0).value, late);
  EXPECT_FALSE(Durable().tokens.at(0).intent);
  EXPECT_EQ(Durable().fetches, 2);
  RunAt(clock_.Now() + absl::Hours(24));
  EXPECT_EQ(Sent(), 2u);
}

TEST_F(RefreshEngineTest, AddedAgainAnAppKeepsItsValueAndItsSpend) {
  Init(MakeConfig());
  StartWithToken();
  engine_->RemoveApp(kApp);
  Pump();
  clock_.AdvanceTime(absl::Minutes(1));
  engine_->AddApp(MakeConfig().apps[0]);
  Pump();
  // No fetch: the stored value is still good, and WeChat's one live token
  // is not replaced for nothing.
  EXPECT_EQ(Sent(), 1u);
  ASSERT_TRUE(Get().ok()) << Get().status();
  EXPECT_EQ(Get()->value, token_);
  EXPECT_EQ(Get()->generation, 1u);
  EXPECT_TRUE(health_.app[kApp]);
  // The day's spend continues from 1, not from 0.
  RunToNext();
  Succeed();
  EXPECT_EQ(Durable().fetches, 2);
}

TEST_F(RefreshEngineTest, AddedAgainWhileItsRequestIsOutItStartsWithTheAnswer) {
  Init(MakeConfig());
  StartWithToken();
  RunToNext();
  engine_->RemoveApp(kApp);
  engine_->AddApp(MakeConfig().apps[0]);
  Pump();
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(upstream_->InFlight(), 1);
  const std::string value = Succeed();
  ASSERT_TRUE(Get().ok()) << Get().status();
  EXPECT_EQ(Get()->value, value);
  EXPECT_EQ(Get()->generation, 2u);
  EXPECT_EQ(Sent(), 2u);
}

TEST_F(RefreshEngineTest, AddedAgainWhileItsRequestIsOutTheRemovalWins) {
  Init(MakeConfig());
  StartWithToken();
  RunToNext();
  engine_->RemoveApp(kApp);
  engine_->AddApp(MakeConfig().apps[0]);
  engine_->RemoveApp(kApp);  // removed again before the answer
  Pump();
  Succeed();
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kNotFound);
  RunAt(clock_.Now() + absl::Hours(24));
  EXPECT_EQ(Sent(), 2u);
}

// Review finding: the last write of a removed app came back changed (here a
// generation the store assigned) and put its freed slot back on the
// schedule.
TEST_F(RefreshEngineTest, ARemovedAppsLastWriteSchedulesNothing) {
  Init(MakeConfig());
  StartWithToken();
  RunToNext();
  ASSERT_EQ(upstream_->InFlight(), 1);
  engine_->RemoveApp(kApp);
  upstream_->Succeed();  // answered; its write is still out
  ASSERT_EQ(store_.pending(), 1u);
  store_.AssignGeneration(TokenKind::kAccessToken, 9);
  store_.CompleteAll();
  engine_->RunDue();  // forgets the removed app
  RunAt(clock_.Now() + absl::Hours(24));
  EXPECT_EQ(Sent(), 2u);
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kNotFound);
}

// Review finding: a removed app's late first answer counted once more
// towards startup, reporting it while another app had not answered.
TEST_F(RefreshEngineTest, StartupWaitsForTheAppsThatRemain) {
  Config both = MakeConfig();
  both.apps.push_back(OtherApp());
  both.upstream.max_concurrency = 1;
  Init(both);
  Start();
  ASSERT_EQ(upstream_->InFlight(), 1);
  const std::string first = upstream_->started()[0].app_id;
  engine_->RemoveApp(first);
  Pump();
  EXPECT_EQ(health_.startup_done, 0);
  Succeed();  // the removed app's answer; the other one's request goes out
  EXPECT_EQ(health_.startup_done, 0) << "the other app has not answered";
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_NE(upstream_->started().back().app_id, first);
  Succeed();
  EXPECT_EQ(health_.startup_done, 1);
}

// Review finding: a secret rotated while a re-add waited for the request of
// the removal was lost.
TEST_F(RefreshEngineTest,
       AReAddedAppWaitingForItsLastAnswerTakesARotatedSecret) {
  Init(MakeConfig());
  StartWithToken();
  RunToNext();
  engine_->RemoveApp(kApp);
  engine_->AddApp(MakeConfig().apps[0]);
  engine_->UpdateSecret(kApp, "the-new-secret");
  Fail(FailureClass::kPermanent, 40125);  // the old secret, refused
  ASSERT_EQ(upstream_->InFlight(), 1) << "the re-added app retries at once";
  EXPECT_EQ(upstream_->started().back().secret, "the-new-secret");
}

TEST_F(RefreshEngineTest, TheStoredRecordOfAnAppNotConfiguredIsKeptForItsAdd) {
  Config both = MakeConfig();
  both.apps.push_back(OtherApp());
  Init(both);
  Start();
  Succeed();
  Succeed();
  const std::string other = store_.durable.at(kOtherApp).tokens.at(0).value;
  ASSERT_FALSE(other.empty());
  // Restarted with the other app taken out of the config, then added back.
  config_ = MakeConfig();
  Restart();
  Start();
  EXPECT_EQ(Sent(), 0u);
  engine_->AddApp(OtherApp());
  Pump();
  EXPECT_EQ(Sent(), 0u);
  auto token =
      table_->Get(kOtherApp, TokenKind::kAccessToken, clock_.SteadyNow());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, other);
}

TEST_F(RefreshEngineTest, StartupIsDoneAfterTheFirstAttemptEvenIfItFailed) {
  Init(MakeConfig());
  Start();
  Fail(FailureClass::kPermanent, 40125);
  EXPECT_EQ(health_.startup_done, 1);
  EXPECT_FALSE(health_.app[kApp]);
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Get().status().message(), HasSubstr("40125"));
  EXPECT_THAT(Get().status().message(), ::testing::Not(HasSubstr("s3cret")));
}

// ---- Budgets and quotas
// ---------------------------------------------------------------

// A caller answered with a new value may call GetToken at once (another
// thread, another replica's forward): it must find that value, not the one
// it reported. Seen in CI as a race between the answer and the publish.
TEST_F(RefreshEngineTest, AForceRefreshIsAnsweredOnlyOnceItsValueIsPublished) {
  Init(MakeConfig());
  StartWithToken();
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult result;
  ForceRefresh(result, token_);
  const std::string fresh = Succeed();
  ASSERT_TRUE(result.answered());
  ASSERT_EQ(result.value(), fresh);
  ASSERT_TRUE(result.published->ok()) << result.published->status();
  EXPECT_EQ((*result.published)->value, fresh);
}

TEST_F(RefreshEngineTest, DailyBudgetStopsFetchesUntilTheNextBeijingDay) {
  Config config = MakeConfig();
  config.refresh.daily_budget = 3;
  config.refresh.force_budget = 3;
  Init(config);
  clock_.SetTime(absl::FromUnixSeconds(kBeijingMidnight + 3600));
  StartWithToken();
  for (int i = 0; i < 2; ++i) {
    clock_.AdvanceTime(absl::Minutes(1));
    ForceResult result;
    ForceRefresh(result, "");
    token_ = Succeed();
  }
  EXPECT_EQ(Sent(), 3u);
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult refused;
  ForceRefresh(refused, "");
  ASSERT_TRUE(refused.answered());
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.reply->status().message(), HasSubstr("daily_budget"));
  // Scheduled refreshes respect it too, and resume the next Beijing day.
  RunAt(clock_.Now() + absl::Minutes(110));
  EXPECT_EQ(Sent(), 3u);
  EXPECT_EQ(Get()->value, token_);
  // At midnight plus its jitter (random01_ 1.0: a minute), not before.
  RunAt(absl::FromUnixSeconds(kBeijingMidnight) + absl::Hours(24) +
        absl::Seconds(59));
  EXPECT_EQ(Sent(), 3u);
  RunAt(absl::FromUnixSeconds(kBeijingMidnight) + absl::Hours(24) +
        absl::Minutes(1));
  EXPECT_EQ(Sent(), 4u);
}

TEST_F(RefreshEngineTest, ForceRefreshCannotSpendTheScheduledShare) {
  Config config = MakeConfig();
  config.refresh.force_budget = 2;
  Init(config);
  clock_.SetTime(absl::FromUnixSeconds(kBeijingMidnight + 3600));
  StartWithToken();
  // One caller reporting the current value every 30 s.
  for (int i = 0; i < 2; ++i) {
    clock_.AdvanceTime(config_.refresh.force_min_interval);
    ForceResult result;
    ForceRefresh(result, Get()->value);
    Succeed();
    EXPECT_EQ(result.outcome(), ForceOutcome::kRefreshed);
  }
  clock_.AdvanceTime(config_.refresh.force_min_interval);
  ForceResult refused;
  ForceRefresh(refused, Get()->value);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.reply->status().message(), HasSubstr("force_budget"));
  EXPECT_EQ(Sent(), 3u);
  // The scheduled refresh still has its share.
  RunToNext();
  EXPECT_EQ(Sent(), 4u);
}

TEST_F(RefreshEngineTest, QuotaErrorWaitsUntilAfterTheNextBeijingMidnight) {
  Init(MakeConfig());
  clock_.SetTime(absl::FromUnixSeconds(kBeijingMidnight + 12 * 3600));
  StartWithToken();
  RunToNext();
  random01_ = 0.5;
  Fail(FailureClass::kQuota, 45009);
  const absl::Time next_midnight =
      absl::FromUnixSeconds(kBeijingMidnight) + absl::Hours(24);
  ForceResult result;
  ForceRefresh(result, token_);
  EXPECT_EQ(result.code(), absl::StatusCode::kResourceExhausted);
  // The token lives out its life; then GetToken says why there is none.
  RunAt(clock_.Now() + absl::Minutes(10));
  EXPECT_EQ(Sent(), 2u);
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Get().status().message(), HasSubstr("45009"));
  // A few minutes after midnight, jittered: not all apps at 00:00:00.
  EXPECT_EQ(NextWakeup(),
            next_midnight + absl::Minutes(2) + absl::Seconds(150));
  // The block survives a restart.
  Restart();
  Start();
  EXPECT_EQ(Sent(), 0u);
  RunToNext();
  EXPECT_EQ(Sent(), 1u);
  EXPECT_GT(clock_.Now(), next_midnight);
}

TEST_F(RefreshEngineTest, QuotaErrorJustAfterMidnightIsRetriedWithBackoff) {
  Init(MakeConfig());
  clock_.SetTime(absl::FromUnixSeconds(kBeijingMidnight + 10));
  Start();
  random01_ = 1.0;
  Fail(FailureClass::kQuota, 45009);
  // WeChat's reset may lag ours: not another whole day.
  EXPECT_EQ(NextWakeup(), clock_.Now() + config_.refresh.retry_initial);
  RunToNext();
  ASSERT_EQ(upstream_->InFlight(), 1);
  Fail(FailureClass::kQuota, 45009);
  EXPECT_EQ(NextWakeup(), clock_.Now() + 2 * config_.refresh.retry_initial);
  RunToNext();
  Succeed();
  EXPECT_TRUE(Get().ok());
}

// ---- ForceRefresh
// ----------------------------------------------------------------------

TEST_F(RefreshEngineTest, ForceRefreshWithAnOlderValueIsAlreadyNewer) {
  Init(MakeConfig());
  StartWithToken();
  ForceResult result;
  ForceRefresh(result, "some-older-token");
  ASSERT_TRUE(result.answered());
  EXPECT_EQ(result.outcome(), ForceOutcome::kAlreadyNewer);
  EXPECT_EQ(result.value(), token_);
  EXPECT_EQ(Sent(), 1u);
}

TEST_F(RefreshEngineTest, AlreadyNewerComesBeforeAnyFailureState) {
  Init(MakeConfig());
  StartWithToken();
  RunToNext();
  Fail(FailureClass::kPermanent, 40125);  // someone reset the AppSecret
  ForceResult older;
  ForceRefresh(older, "some-older-token");
  EXPECT_EQ(older.outcome(), ForceOutcome::kAlreadyNewer);
  EXPECT_EQ(older.value(), token_);
  // The current value: asking WeChat again cannot help; answered at once.
  ForceResult current;
  ForceRefresh(current, token_);
  ASSERT_TRUE(current.answered());
  EXPECT_EQ(current.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(current.reply->status().message(), HasSubstr("40125"));
  EXPECT_EQ(Sent(), 2u);
}

TEST_F(RefreshEngineTest, WechatErrcodeMustBeATokenError) {
  Init(MakeConfig());
  StartWithToken();
  for (int errcode : {0, 40001, 40014, 42001}) {
    ForceResult result;
    ForceRefresh(result, "older", TokenKind::kAccessToken, errcode);
    EXPECT_EQ(result.outcome(), ForceOutcome::kAlreadyNewer) << errcode;
  }
  for (int errcode : {45009, 40164, -1, 48001}) {
    ForceResult result;
    ForceRefresh(result, token_, TokenKind::kAccessToken, errcode);
    EXPECT_EQ(result.code(), absl::StatusCode::kInvalidArgument) << errcode;
    EXPECT_THAT(result.reply->status().message(), HasSubstr("wechat_errcode"));
  }
  // Checked before the app: a bad errcode for an unknown app is still
  // INVALID_ARGUMENT.
  ForceResult unknown;
  ForceRefreshCommand command;
  command.app_id = "wxunknown";
  command.wechat_errcode = 45009;
  command.done = [&unknown](auto reply) { unknown.reply = std::move(reply); };
  engine_->ForceRefresh(std::move(command));
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sent(), 1u);
}

TEST_F(RefreshEngineTest, UnknownAppIsNotFound) {
  Init(MakeConfig());
  StartWithToken();
  ForceResult result;
  ForceRefreshCommand command;
  command.app_id = "wxunknown";
  command.done = [&result](auto reply) { result.reply = std::move(reply); };
  engine_->ForceRefresh(std::move(command));
  EXPECT_EQ(result.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.reply->status().message(), HasSubstr("app_id"));
}

TEST_F(RefreshEngineTest, ConcurrentForceRefreshesShareOneFetch) {
  Init(MakeConfig());
  StartWithToken();
  clock_.AdvanceTime(config_.refresh.force_min_interval);
  std::vector<ForceResult> results(100);
  for (ForceResult& result : results) ForceRefresh(result, token_);
  EXPECT_EQ(Sent(), 2u);
  const std::string fresh = Succeed();
  int refreshed = 0;
  for (ForceResult& result : results) {
    ASSERT_TRUE(result.answered());
    EXPECT_EQ(result.value(), fresh);
    if (result.outcome() == ForceOutcome::kRefreshed) ++refreshed;
  }
  EXPECT_EQ(refreshed, 1);
  EXPECT_EQ(Sent(), 2u);
}

TEST_F(RefreshEngineTest, ForceRefreshJoinsAFetchAlreadyInFlight) {
  Init(MakeConfig());
  StartWithToken();
  RunToNext();
  ASSERT_EQ(upstream_->InFlight(), 1);
  ForceResult result;
  ForceRefresh(result, token_);
  EXPECT_FALSE(result.answered());
  const std::string fresh = Succeed();
  EXPECT_EQ(result.outcome(), ForceOutcome::kCoalesced);
  EXPECT_EQ(result.value(), fresh);
  EXPECT_EQ(Sent(), 2u);
}

TEST_F(RefreshEngineTest, ForceRefreshWaitsForTheMinimumInterval) {
  Init(MakeConfig());
  const absl::Time first_sent = clock_.Now();
  StartWithToken();
  ForceResult first, second;
  ForceRefresh(first, token_);
  ForceRefresh(second, "");
  EXPECT_EQ(Sent(), 1u);
  EXPECT_EQ(NextWakeup(), first_sent + config_.refresh.force_min_interval);
  RunAt(first_sent + config_.refresh.force_min_interval - absl::Seconds(1));
  EXPECT_EQ(Sent(), 1u);
  RunAt(first_sent + config_.refresh.force_min_interval);
  EXPECT_EQ(Sent(), 2u);
  const std::string fresh = Succeed();
  EXPECT_EQ(first.outcome(), ForceOutcome::kRefreshed);
  EXPECT_EQ(second.outcome(), ForceOutcome::kCoalesced);
  EXPECT_EQ(second.value(), fresh);
}

TEST_F(RefreshEngineTest, ForceRefreshFailureAnswersWaitersButKeepsToken) {
  Init(MakeConfig());
  StartWithToken();
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult result;
  ForceRefresh(result, token_);
  Fail(FailureClass::kTransient, -1);
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Get()->value, token_);
}

TEST_F(RefreshEngineTest, WaitersAreBoundedAndCancelledOnesDropped) {
  Init(MakeConfig());
  StartWithToken();
  // All within force_min_interval of the first fetch: they wait.
  std::vector<ForceResult> waiting(RefreshEngine::kMaxWaitersPerToken);
  for (ForceResult& result : waiting) ForceRefresh(result, token_);
  ForceResult refused;
  ForceRefresh(refused, token_);
  ASSERT_TRUE(refused.answered());
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  // Callers that gave up make room, and are never answered.
  for (size_t i = 0; i < 10; ++i) waiting[i].cancelled->store(true);
  ForceResult admitted;
  ForceRefresh(admitted, token_);
  EXPECT_FALSE(admitted.answered());
  RunToNext();
  const std::string fresh = Succeed();
  EXPECT_EQ(admitted.value(), fresh);
  for (size_t i = 0; i < waiting.size(); ++i) {
    EXPECT_EQ(waiting[i].answered(), i >= 10) << i;
  }
  EXPECT_EQ(Sent(), 2u);
}

TEST_F(RefreshEngineTest, ShutdownAnswersWaitersAndRecordsWhatIsInFlight) {
  Init(MakeConfig());
  StartWithToken();
  ForceResult waiting;
  ForceRefresh(waiting, token_);  // waits for force_min_interval
  clock_.SetTime(NextWakeup());
  engine_->RunDue();  // its fetch: being recorded, not sent
  EXPECT_EQ(store_.pending(), 1u);
  engine_->BeginShutdown();
  ASSERT_TRUE(waiting.answered());
  EXPECT_EQ(waiting.code(), absl::StatusCode::kUnavailable);
  Pump();
  EXPECT_EQ(Sent(), 1u) << "nothing is sent once shutdown began";
  EXPECT_FALSE(Durable().tokens[0].intent) << "the unsent intent is undone";
  EXPECT_TRUE(engine_->Quiescent());
}

TEST_F(RefreshEngineTest, ShutdownLetsAnInFlightRequestFinishAndRecordsIt) {
  Init(MakeConfig());
  StartWithToken();
  RunToNext();
  ASSERT_EQ(upstream_->InFlight(), 1);
  engine_->BeginShutdown();
  EXPECT_FALSE(engine_->Quiescent());
  const std::string fresh = Succeed();
  EXPECT_TRUE(engine_->Quiescent());
  EXPECT_EQ(Durable().tokens[0].value, fresh);
  EXPECT_FALSE(Durable().tokens[0].intent);
}

// ---- stable_token
// ---------------------------------------------------------------------

TEST_F(RefreshEngineTest, StableRefreshesInsideWechatsWindowAndRechecks) {
  Init(MakeConfig(AppConfig::Api::kStable));
  Start();
  ASSERT_EQ(upstream_->started()[0].api, FetchApi::kStable);
  EXPECT_FALSE(upstream_->started()[0].force_refresh);
  const absl::Time sent = clock_.Now();
  const std::string value = Succeed();
  const absl::Time expires_at = sent + absl::Seconds(7200);
  EXPECT_EQ(NextWakeup(), expires_at - absl::Minutes(4));

  // WeChat still returns the same value (its clock is a little behind):
  // ask again shortly, not at expires_at - margin (which would loop).
  RunToNext();
  upstream_->SucceedWith(value, absl::Minutes(4));
  Pump();
  EXPECT_EQ(Get()->generation, 1u);
  EXPECT_EQ(NextWakeup(), clock_.Now() + absl::Seconds(30));

  RunToNext();
  const std::string next = Succeed();
  EXPECT_EQ(Get()->value, next);
  EXPECT_EQ(Get()->generation, 2u);
  EXPECT_EQ(Sent(), 3u);
  for (const FetchRequest& request : upstream_->started()) {
    EXPECT_FALSE(request.force_refresh);
  }
  // Normal-mode stable requests revoke nothing: no intent is recorded.
  EXPECT_FALSE(Durable().tokens[0].intent);
}

TEST_F(RefreshEngineTest, StableForceRefreshTriesNormalModeFirst) {
  Init(MakeConfig(AppConfig::Api::kStable));
  StartWithToken();
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult result;
  ForceRefresh(result, token_);
  ASSERT_EQ(Sent(), 2u);
  EXPECT_FALSE(upstream_->started()[1].force_refresh);
  upstream_->SucceedWith(token_, absl::Seconds(7000));
  Pump();
  // WeChat still hands out the rejected value: only force_refresh helps.
  EXPECT_FALSE(result.answered());
  ASSERT_EQ(Sent(), 3u);
  EXPECT_TRUE(upstream_->started()[2].force_refresh);
  const std::string fresh = Succeed();
  EXPECT_EQ(result.value(), fresh);
  EXPECT_EQ(result.outcome(), ForceOutcome::kRefreshed);
  EXPECT_EQ(Durable().stable_forces, 1);
}

TEST_F(RefreshEngineTest, StableForceRefreshesAreLimitedToTwentyADay) {
  Init(MakeConfig(AppConfig::Api::kStable));
  clock_.SetTime(absl::FromUnixSeconds(kBeijingMidnight + 3600));
  StartWithToken();
  for (int force = 1; force <= 21; ++force) {
    clock_.AdvanceTime(absl::Seconds(31));
    ForceResult result;
    ForceRefresh(result, Get()->value);
    ASSERT_EQ(upstream_->InFlight(), 1) << force;
    EXPECT_FALSE(upstream_->front().force_refresh) << "normal mode first";
    upstream_->SucceedWith(Get()->value, absl::Seconds(7000));
    Pump();
    if (force <= 20) {
      ASSERT_EQ(upstream_->InFlight(), 1) << force;
      EXPECT_TRUE(upstream_->front().force_refresh);
      Succeed();
      EXPECT_EQ(result.outcome(), ForceOutcome::kRefreshed) << force;
    } else {
      EXPECT_EQ(upstream_->InFlight(), 0);
      ASSERT_TRUE(result.answered());
      EXPECT_EQ(result.code(), absl::StatusCode::kResourceExhausted);
      EXPECT_THAT(result.reply->status().message(),
                  HasSubstr("20 stable_token force refreshes"));
    }
    if (force == 10) {
      // The count is durable: a restart does not reset it.
      Restart();
      Start();
    }
  }
  EXPECT_EQ(Durable().stable_forces, 20);
  EXPECT_TRUE(Get().ok()) << "the current value is still served";
}

// ---- Tickets
// ---------------------------------------------------------------------------

TEST_F(RefreshEngineTest, TicketIsFetchedWithTheAccessTokenOnceItArrives) {
  Init(WithJsapiTicket(MakeConfig()));
  Start();
  ASSERT_EQ(Sent(), 1u) << "the ticket waits for a token";
  EXPECT_EQ(health_.startup_done, 0);
  token_ = Succeed();
  EXPECT_EQ(health_.startup_done, 1) << "tickets do not hold up startup";
  ASSERT_EQ(Sent(), 2u);
  const FetchRequest& request = upstream_->started()[1];
  EXPECT_EQ(request.api, FetchApi::kTicket);
  EXPECT_EQ(request.ticket_type, "jsapi");
  EXPECT_EQ(request.access_token, token_);
  EXPECT_TRUE(request.secret.empty()) << "getticket never needs the secret";
  const std::string ticket = Succeed();
  auto served = Get(TokenKind::kJsapiTicket);
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->value, ticket);
  EXPECT_EQ(served->max_cache, absl::Minutes(4));
  EXPECT_EQ(Durable().tokens.size(), 2u);
  EXPECT_EQ(Get(TokenKind::kWxCardTicket).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RefreshEngineTest, TicketsOfStableAppsFollowTheClassicSchedule) {
  Init(WithJsapiTicket(MakeConfig(AppConfig::Api::kStable)));
  Start();
  Succeed();
  const absl::Time ticket_sent = clock_.Now();
  upstream_->SucceedWith("ticket-1", absl::Seconds(7200));
  Pump();
  // The token refreshes 4 minutes before expiry (stable), the ticket
  // `margin` (10 minutes) before.
  EXPECT_EQ(NextWakeup(),
            ticket_sent + absl::Seconds(7200) - config_.refresh.margin);
}

TEST_F(RefreshEngineTest, RejectedAccessTokenIsRefreshedOnceThenTheTicket) {
  Init(WithJsapiTicket(MakeConfig()));
  Start();
  token_ = Succeed();
  Succeed();  // the first ticket
  clock_.AdvanceTime(absl::Minutes(1));
  ForceResult result;
  ForceRefresh(result, "", TokenKind::kJsapiTicket);
  ASSERT_EQ(Sent(), 3u);
  // getticket says the access token is no good (someone else rotated it).
  Fail(FailureClass::kTokenRejected, 40001);
  ASSERT_EQ(Sent(), 4u);
  EXPECT_EQ(upstream_->started()[3].api, FetchApi::kClassic);
  const std::string fresh_token = Succeed();
  EXPECT_EQ(Get()->value, fresh_token);
  ASSERT_EQ(Sent(), 5u);
  EXPECT_EQ(upstream_->started()[4].api, FetchApi::kTicket);
  EXPECT_EQ(upstream_->started()[4].access_token, fresh_token);
  EXPECT_FALSE(result.answered()) << "waits for the new ticket";
  const std::string fresh_ticket = Succeed();
  EXPECT_EQ(result.value(), fresh_ticket);
  EXPECT_EQ(Get(TokenKind::kJsapiTicket)->value, fresh_ticket);
  Pump();
  EXPECT_EQ(Sent(), 5u) << "one token and one ticket fetch";
}

// Issue 22, item 4: a ticket woken by a new access token while its own
// request is in flight does not send a second one.
TEST_F(RefreshEngineTest, OneRequestPerTicketEvenWhenWokenWhileInFlight) {
  Init(WithJsapiTicket(MakeConfig()));
  Start();
  token_ = Succeed();
  Succeed(absl::Hours(1));  // the ticket, refreshed before the token
  RunToNext();              // its scheduled refresh
  ASSERT_EQ(upstream_->front().api, FetchApi::kTicket);
  Fail(FailureClass::kTokenRejected, 40001);
  ASSERT_EQ(upstream_->InFlight(), 1);
  ASSERT_EQ(upstream_->front().api, FetchApi::kClassic);
  ForceResult caller;
  ForceRefresh(caller, "", TokenKind::kJsapiTicket);
  RunToNext();  // force_min_interval after the rejected getticket
  ASSERT_EQ(upstream_->InFlight(), 2) << "the caller's getticket";
  const size_t sent = Sent();
  const absl::Time ticket_sent = clock_.Now();
  Succeed();  // the access token: wakes the ticket, whose request is out
  EXPECT_EQ(Sent(), sent) << "no second getticket";
  ASSERT_EQ(upstream_->InFlight(), 1);
  clock_.AdvanceTime(absl::Seconds(1));
  const std::string ticket = Succeed();
  EXPECT_EQ(caller.value(), ticket);
  auto served = Get(TokenKind::kJsapiTicket);
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->fetched_at, ticket_sent);
  Pump();
  EXPECT_EQ(upstream_->InFlight(), 0);
}

TEST_F(RefreshEngineTest, TicketWithAnUnusableAccessTokenAnswersAtOnce) {
  Init(WithJsapiTicket(MakeConfig()));
  Start();
  Fail(FailureClass::kPermanent, 40125);  // a bad AppSecret
  // GetToken names the access token's error, not "first fetch".
  auto ticket = Get(TokenKind::kJsapiTicket);
  EXPECT_EQ(ticket.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ticket.status().message(), HasSubstr("40125"));
  ForceResult result;
  ForceRefresh(result, "", TokenKind::kJsapiTicket);
  ASSERT_TRUE(result.answered()) << "never left waiting";
  EXPECT_EQ(result.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.reply->status().message(), HasSubstr("40125"));
  EXPECT_EQ(Sent(), 1u);
}

// ---- Many apps
// ----------------------------------------------------------------------------

TEST_F(RefreshEngineTest, AtMostMaxConcurrencyRequestsAreInFlight) {
  Config config = MakeConfig();
  config.apps.clear();
  for (int i = 0; i < 20; ++i) {
    AppConfig app;
    app.app_id = absl::StrCat("wxapp", i);
    app.secret = "secret";
    config.apps.push_back(app);
  }
  config.upstream.max_concurrency = 8;
  Init(config);
  Start();
  size_t answered = 0;
  while (upstream_->InFlight() > 0) {
    EXPECT_LE(upstream_->InFlight(), 8);
    upstream_->Succeed();
    Pump();
    ++answered;
  }
  EXPECT_EQ(answered, 20u);
  EXPECT_EQ(Sent(), 20u) << "exactly one fetch per app";
  EXPECT_EQ(health_.all, true);
  EXPECT_EQ(health_.startup_done, 1);
}

}  // namespace
}  // namespace wxtoken::server
