// A WeCom suite in the refresh engine, with a fake clock, upstream and
// store (DESIGN.md "WeCom", Suites): the pushed suite_ticket (30 minutes,
// never asked for), create_auth's code kept sealed until get_permanent_code
// exchanged it, the permanent code sealed in the corp's record and used for
// its tokens across restarts, cancel_auth and a refused permanent code.
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/token/refresh_engine.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/random_vault_key.h"

namespace wxtoken::server {
namespace {

using testing::FakeClock;
using testing::FakeStateStore;
using testing::FakeUpstream;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSuite[] = "wwsuite00000000001";
constexpr char kCorp[] = "wwcorp000000000001";
constexpr char kCorpKey[] = "wwsuite00000000001/wwcorp000000000001";

class NoHealth final : public HealthSink {
 public:
  void SetAppServing(const std::string&, bool) override {}
  void SetAllAppsServing(bool) override {}
  void SetStartupDone() override {}
};

class SuiteEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AppConfig owner;
    owner.app_id = kSuite;
    owner.api = AppConfig::Api::kWeComSuite;
    owner.secret = "suite-secret";
    config_.apps.push_back(owner);
    PlatformConfig suite;
    suite.wecom_suite = true;
    suite.component_app_id = kSuite;
    suite.vault_keys = wxtoken::testing::RandomVaultKey();
    config_.platforms.push_back(suite);
    config_.quota.poll_interval = absl::ZeroDuration();
    Restart();
  }
  // A new process over the same durable state.
  void Restart() {
    engine_.reset();
    store_.CompleteAll(absl::UnavailableError("the process died"));
    upstream_ = std::make_unique<FakeUpstream>();
    table_ = std::make_unique<TokenTable>(
        RefreshEngine::TableEntries(config_),
        CacheLimits{config_.refresh.client_max_cache, config_.refresh.overlap});
    engine_ =
        std::make_unique<RefreshEngine>(config_, clock_, *upstream_, *table_,
                                        store_, health_, [] { return 1.0; });
  }
  void Pump() {
    for (int i = 0; i < 100 && (i == 0 || store_.pending() > 0); ++i) {
      store_.CompleteAll();
      engine_->RunDue();
    }
  }
  void RunAt(absl::Time time) {
    clock_.SetTime(time);
    Pump();
  }
  const FetchRequest& Oldest() const {
    return upstream_
        ->started()[upstream_->started().size() - upstream_->InFlight()];
  }
  std::optional<absl::Status>& Submit(PlatformEvent event) {
    answers_.emplace_back();
    std::optional<absl::Status>& answer = answers_.back();
    engine_->SubmitPlatformEvent(
        std::move(event),
        [&answer](absl::Status status) { answer = std::move(status); });
    return answer;
  }
  std::optional<absl::Status>& PushTicket(const std::string& ticket) {
    PlatformEvent event;
    event.type = PlatformEvent::Type::kVerifyTicket;
    event.info_type = "suite_ticket";
    event.component_app_id = kSuite;
    event.ticket = ticket;
    event.create_time = clock_.Now();
    return Submit(std::move(event));
  }
  std::optional<absl::Status>& CreateAuth(const std::string& code) {
    PlatformEvent event;
    event.type = PlatformEvent::Type::kAuthorized;
    event.info_type = "create_auth";
    event.component_app_id = kSuite;
    event.authorization_code = code;
    event.create_time = clock_.Now();
    return Submit(std::move(event));
  }
  // Stamped `stamped` (WeCom's TimeStamp), or now.
  std::optional<absl::Status>& CancelAuth(
      std::optional<absl::Time> stamped = std::nullopt) {
    PlatformEvent event;
    event.type = PlatformEvent::Type::kUnauthorized;
    event.info_type = "cancel_auth";
    event.component_app_id = kSuite;
    event.authorizer_app_id = kCorp;
    event.create_time = stamped.value_or(clock_.Now());
    return Submit(std::move(event));
  }
  // The suite with a ticket and its suite token.
  void StartWithSuiteToken() {
    engine_->Start();
    Pump();
    ASSERT_EQ(upstream_->InFlight(), 0) << "nothing goes before a ticket";
    PushTicket("suiteticket@@@1");
    Pump();
    ASSERT_EQ(upstream_->InFlight(), 1);
    EXPECT_EQ(Oldest().api, FetchApi::kWeComSuiteToken);
    EXPECT_EQ(Oldest().app_id, kSuite);
    EXPECT_EQ(Oldest().verify_ticket, "suiteticket@@@1");
    EXPECT_EQ(Oldest().secret, "suite-secret");
    suite_token_ = upstream_->Succeed();
    Pump();
  }
  // Answers get_permanent_code in flight for kCorp.
  void AnswerPermanentCode(const std::string& permanent_code) {
    ASSERT_EQ(upstream_->InFlight(), 1);
    ASSERT_EQ(Oldest().api, FetchApi::kWeComPermanentCode);
    FetchResult result;
    result.refresh_token = permanent_code;
    result.auth_corp_id = kCorp;
    upstream_->Complete(result);
    Pump();
  }
  // An installed corp with a token from "permanentcode@@@1".
  void StartInstalled() {
    StartWithSuiteToken();
    CreateAuth("authcode@@@1");
    Pump();
    AnswerPermanentCode("permanentcode@@@1");
    ASSERT_EQ(upstream_->InFlight(), 1);
    corp_token_ = upstream_->Succeed();
    Pump();
  }
  // Replicas (a shared store): this one leads, with the suite's token.
  void StartLeaderWithSuiteToken() {
    store_.shared = true;
    store_.may_send = true;
    Restart();
    engine_->Start();
    engine_->OnLeader({}, /*epoch=*/1, clock_.SteadyNow(), clock_.SteadyNow());
    Pump();
    PushTicket("suiteticket@@@1");
    Pump();
    upstream_->Succeed();
    Pump();
  }
  // ... and an installed corp with a token from "permanentcode@@@1".
  void StartInstalledLeader() {
    StartLeaderWithSuiteToken();
    CreateAuth("authcode@@@1");
    Pump();
    AnswerPermanentCode("permanentcode@@@1");
    corp_token_ = upstream_->Succeed();
    Pump();
  }
  // A caller's ForceRefresh of the corp's `stale` token (40014), once
  // force_min_interval has passed.
  void ForceRefreshCorp(const std::string& stale) {
    ForceRefreshCommand force;
    force.app_id = kCorpKey;
    force.stale_value = stale;
    force.wechat_errcode = 40014;
    force.done = [](absl::StatusOr<ForceRefreshReply>) {};
    engine_->ForceRefresh(std::move(force));
    RunAt(clock_.Now() + absl::Seconds(31));
  }
  absl::StatusOr<Token> GetCorp() {
    return table_->Get(kCorpKey, TokenKind::kAccessToken, clock_.SteadyNow());
  }
  const AppRecord& Stored(const std::string& key) {
    return store_.durable.at(key);
  }

  Config config_;
  FakeClock clock_;
  FakeStateStore store_;
  NoHealth health_;
  std::unique_ptr<FakeUpstream> upstream_;
  std::unique_ptr<TokenTable> table_;
  std::unique_ptr<RefreshEngine> engine_;
  std::deque<std::optional<absl::Status>> answers_;
  std::string suite_token_;
  std::string corp_token_;
};

TEST_F(SuiteEngineTest, ASuiteTicketLastsThirtyMinutesAndIsNeverAskedFor) {
  engine_->Start();
  Pump();
  const absl::StatusOr<Token> none =
      table_->Get(kSuite, TokenKind::kAccessToken, clock_.SteadyNow());
  EXPECT_THAT(none.status().message(), HasSubstr("/wecom/suite/"));
  ASSERT_NO_FATAL_FAILURE(StartWithSuiteToken());
  // Past the ticket's 30 minutes nothing asks WeCom for another (it has
  // no api_start_push_ticket); the suite token is renewed while the
  // ticket is valid, and then waits for the next push.
  const absl::Time start = clock_.Now();
  for (absl::Duration at = absl::Minutes(1); at < absl::Hours(3);
       at += absl::Minutes(1)) {
    RunAt(start + at);
    while (upstream_->InFlight() > 0) {
      EXPECT_EQ(Oldest().api, FetchApi::kWeComSuiteToken);
      upstream_->Succeed(absl::Minutes(20));
      Pump();
    }
  }
  for (const FetchRequest& request : upstream_->started()) {
    EXPECT_NE(request.api, FetchApi::kStartPushTicket);
  }
  for (const FetchRequest& request : upstream_->started()) {
    EXPECT_EQ(request.verify_ticket, "suiteticket@@@1");
  }
  const absl::StatusOr<Token> stale =
      table_->Get(kSuite, TokenKind::kAccessToken, clock_.SteadyNow());
  EXPECT_FALSE(stale.ok());
  // A new push brings it back at once.
  PushTicket("suiteticket@@@2");
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().verify_ticket, "suiteticket@@@2");
}

TEST_F(SuiteEngineTest, ACreateAuthIsKeptSealedThenExchangedAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartWithSuiteToken());
  std::optional<absl::Status>& answer = CreateAuth("authcode@@@1");
  // Acknowledged once the code is durable, sealed in the suite's record.
  EXPECT_FALSE(answer.has_value());
  store_.CompleteOne();
  ASSERT_TRUE(answer.has_value() && answer->ok());
  ASSERT_TRUE(Stored(kSuite).owner.contains("auth_codes"));
  EXPECT_THAT(Stored(kSuite).owner.at("auth_codes"),
              Not(HasSubstr("authcode")));
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComPermanentCode);
  EXPECT_EQ(Oldest().access_token, suite_token_);
  EXPECT_EQ(Oldest().authorization_code, "authcode@@@1");
  AnswerPermanentCode("permanentcode@@@1");

  // The corp is known, and its token goes at once with the permanent code.
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComCorpToken);
  EXPECT_EQ(Oldest().access_token, suite_token_);
  EXPECT_EQ(Oldest().authorizer_app_id, kCorp);
  EXPECT_EQ(Oldest().refresh_token, "permanentcode@@@1");
  const std::string token = upstream_->Succeed();
  Pump();
  absl::StatusOr<Token> served = GetCorp();
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->value, token);
  // The permanent code is stored sealed; the used code is gone.
  ASSERT_TRUE(Stored(kCorpKey).owner.contains("refresh_token"));
  EXPECT_THAT(Stored(kCorpKey).owner.at("refresh_token"),
              Not(HasSubstr("permanentcode")));
  EXPECT_FALSE(Stored(kSuite).owner.contains("auth_codes"));
  // The same code pushed again is answered and sends nothing (WeCom would
  // refuse a used code).
  const size_t sent = upstream_->started().size();
  std::optional<absl::Status>& again = CreateAuth("authcode@@@1");
  Pump();
  ASSERT_TRUE(again.has_value() && again->ok());
  EXPECT_EQ(upstream_->started().size(), sent);
  EXPECT_TRUE(GetCorp().ok());
  EXPECT_FALSE(Stored(kSuite).owner.contains("auth_codes"));
}

TEST_F(SuiteEngineTest, ACodeWaitsForTheSuiteTokenAndSurvivesARestart) {
  engine_->Start();
  Pump();
  std::optional<absl::Status>& answer = CreateAuth("authcode@@@1");
  Pump();
  ASSERT_TRUE(answer.has_value() && answer->ok());
  EXPECT_EQ(upstream_->InFlight(), 0) << "no suite token yet";
  // A crash before any ticket: the code is still there afterwards.
  Restart();
  ASSERT_NO_FATAL_FAILURE(StartWithSuiteToken());
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComPermanentCode);
  EXPECT_EQ(Oldest().authorization_code, "authcode@@@1");
}

TEST_F(SuiteEngineTest, AFailedExchangeIsRetriedAndAUsedCodeDropped) {
  ASSERT_NO_FATAL_FAILURE(StartWithSuiteToken());
  CreateAuth("authcode@@@1");
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  upstream_->TimeOut();
  Pump();
  EXPECT_EQ(upstream_->InFlight(), 0);
  RunAt(clock_.Now() + absl::Seconds(2));
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().authorization_code, "authcode@@@1");
  // 40029: used or expired. Dropped, never sent again.
  upstream_->Fail(FailureClass::kPermanent, 40029);
  Pump();
  EXPECT_FALSE(Stored(kSuite).owner.contains("auth_codes"));
  RunAt(clock_.Now() + absl::Minutes(5));
  EXPECT_EQ(upstream_->InFlight(), 0);
  EXPECT_EQ(GetCorp().status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SuiteEngineTest, ARestartUsesTheSealedPermanentCode) {
  ASSERT_NO_FATAL_FAILURE(StartInstalled());
  Restart();
  engine_->Start();
  Pump();
  absl::StatusOr<Token> served = GetCorp();
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->value, corp_token_);
  // Its next token: the permanent code again, no code exchanged.
  PushTicket("suiteticket@@@2");
  Pump();
  while (upstream_->InFlight() > 0) {
    upstream_->Succeed();
    Pump();
  }
  ForceRefreshCommand force;
  force.app_id = kCorpKey;
  force.stale_value = corp_token_;
  force.wechat_errcode = 40014;
  std::optional<absl::StatusOr<ForceRefreshReply>> reply;
  force.done = [&reply](absl::StatusOr<ForceRefreshReply> r) { reply = r; };
  engine_->ForceRefresh(std::move(force));
  RunAt(clock_.Now() + absl::Seconds(31));
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComCorpToken);
  EXPECT_EQ(Oldest().refresh_token, "permanentcode@@@1");
  for (const FetchRequest& request : upstream_->started()) {
    EXPECT_NE(request.api, FetchApi::kWeComPermanentCode);
  }
}

TEST_F(SuiteEngineTest, ARefusedPermanentCodeIsKeptButNothingMoreIsSent) {
  ASSERT_NO_FATAL_FAILURE(StartInstalled());
  ForceRefreshCorp(corp_token_);
  ASSERT_EQ(upstream_->InFlight(), 1);
  upstream_->Fail(FailureClass::kPermanent, 40084);
  Pump();
  const size_t sent = upstream_->started().size();
  RunAt(clock_.Now() + absl::Hours(3));
  while (upstream_->InFlight() > 0) {
    EXPECT_NE(Oldest().api, FetchApi::kWeComCorpToken);
    upstream_->Fail(FailureClass::kTransient, -1);
    Pump();
  }
  for (size_t i = sent; i < upstream_->started().size(); ++i) {
    EXPECT_NE(upstream_->started()[i].api, FetchApi::kWeComCorpToken);
  }
  const absl::Status refused = GetCorp().status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("40084"));
  // Never dropped: only a new installation replaces it.
  EXPECT_TRUE(Stored(kCorpKey).owner.contains("refresh_token"));
}

TEST_F(SuiteEngineTest, CancelAuthRevokesAtOnceAndANewInstallBringsItBack) {
  ASSERT_NO_FATAL_FAILURE(StartInstalled());
  ASSERT_TRUE(GetCorp().ok());
  std::optional<absl::Status>& answer = CancelAuth();
  EXPECT_EQ(GetCorp().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(GetCorp().status().message(), HasSubstr("cancel_auth"));
  Pump();
  ASSERT_TRUE(answer.has_value() && answer->ok());
  EXPECT_EQ(upstream_->InFlight(), 0);
  // Its end is written with the value, not only the value dropped: a store
  // that keeps values a write lacks (Redis) would otherwise hand the
  // revoked token back to a follower once the corp installs again.
  bool ended = false;
  for (const TokenRecord& stored : Stored(kCorpKey).tokens) {
    if (stored.value != corp_token_) continue;
    ended = stored.expires_at <= clock_.Now();
  }
  EXPECT_TRUE(ended) << "the revoked token's end is not in the store";
  // Installed again: a new code, a new permanent code, a new token.
  CreateAuth("authcode@@@2");
  Pump();
  AnswerPermanentCode("permanentcode@@@2");
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().refresh_token, "permanentcode@@@2");
  const std::string token = upstream_->Succeed();
  Pump();
  absl::StatusOr<Token> served = GetCorp();
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->value, token);
}

// Installed again while installed (reset_permanent_code, or a cancel_auth
// that never reached us): the old installation's token stops at once, even
// while the new permanent code's write is still on its way.
TEST_F(SuiteEngineTest, AReinstallEndsTheOldTokenBeforeTheNewCodeIsStored) {
  ASSERT_NO_FATAL_FAILURE(StartInstalled());
  ASSERT_TRUE(GetCorp().ok());
  CreateAuth("authcode@@@2");
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  ASSERT_EQ(Oldest().api, FetchApi::kWeComPermanentCode);
  FetchResult result;
  result.refresh_token = "permanentcode@@@2";
  result.auth_corp_id = kCorp;
  upstream_->Complete(result);
  engine_->RunDue();  // the answer taken; the corp's write not yet done
  ASSERT_GT(store_.pending(), 0u);
  const absl::StatusOr<Token> served = GetCorp();
  EXPECT_FALSE(served.ok() && served->value == corp_token_)
      << "the replaced installation's token is still served";
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().refresh_token, "permanentcode@@@2");
  const std::string token = upstream_->Succeed();
  Pump();
  ASSERT_TRUE(GetCorp().ok());
  EXPECT_EQ(GetCorp()->value, token);
}

// A get_corp_token sent with the old permanent code answers after the corp
// uninstalled and installed again: what it brings is never served, and the
// new permanent code's token is fetched at once.
TEST_F(SuiteEngineTest, AnAnswerForAReplacedPermanentCodeIsNotServed) {
  ASSERT_NO_FATAL_FAILURE(StartInstalled());
  ForceRefreshCorp(corp_token_);
  ASSERT_EQ(upstream_->InFlight(), 1);
  ASSERT_EQ(Oldest().api, FetchApi::kWeComCorpToken);
  ASSERT_EQ(Oldest().refresh_token, "permanentcode@@@1");
  CancelAuth();
  Pump();
  CreateAuth("authcode@@@2");
  Pump();
  // The new code's exchange is answered first, then the old request.
  ASSERT_EQ(upstream_->InFlight(), 2);
  FetchResult exchanged;
  exchanged.refresh_token = "permanentcode@@@2";
  exchanged.auth_corp_id = kCorp;
  upstream_->CompleteNewest(exchanged);
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  ASSERT_EQ(upstream_->front().refresh_token, "permanentcode@@@1");
  const std::string stale = upstream_->Succeed();
  Pump();
  EXPECT_FALSE(GetCorp().ok() && GetCorp()->value == stale)
      << "a token of the replaced permanent code is served";
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(upstream_->front().api, FetchApi::kWeComCorpToken);
  EXPECT_EQ(upstream_->front().refresh_token, "permanentcode@@@2");
  const std::string token = upstream_->Succeed();
  Pump();
  ASSERT_TRUE(GetCorp().ok());
  EXPECT_EQ(GetCorp()->value, token);
  // Its full life: the discarded request does not count as one that may
  // replace it (that would cut it to the overlap and fetch again soon).
  const size_t sent = upstream_->started().size();
  RunAt(clock_.Now() + absl::Minutes(10));
  for (size_t i = sent; i < upstream_->started().size(); ++i) {
    EXPECT_NE(upstream_->started()[i].api, FetchApi::kWeComCorpToken);
  }
  EXPECT_TRUE(GetCorp().ok());
}

// The suite token WeCom refused for an exchange cannot be refreshed at once
// (ForceRefresh's budget is spent): the code, which lives minutes, is not
// left waiting hours for the token's own schedule, nor sent again with the
// refused token; the suite token is renewed as scheduled.
TEST_F(SuiteEngineTest, ARefusedSuiteTokenRefreshDoesNotStallTheExchange) {
  config_.refresh.force_budget = 0;
  Restart();
  ASSERT_NO_FATAL_FAILURE(StartWithSuiteToken());
  CreateAuth("authcode@@@1");
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  upstream_->Fail(FailureClass::kTokenRejected, 42009);
  Pump();
  const absl::Time refused = clock_.Now();
  while (upstream_->InFlight() == 0 &&
         clock_.Now() < refused + absl::Minutes(5)) {
    RunAt(clock_.Now() + absl::Seconds(5));
  }
  // Renewed as its schedule would, not tried again as refused.
  ASSERT_EQ(upstream_->InFlight(), 1) << "the exchange waits for hours";
  ASSERT_EQ(Oldest().api, FetchApi::kWeComSuiteToken);
  const std::string fresh = upstream_->Succeed();
  Pump();
  while (upstream_->InFlight() == 0 &&
         clock_.Now() < refused + absl::Minutes(5)) {
    RunAt(clock_.Now() + absl::Seconds(5));
  }
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComPermanentCode);
  EXPECT_EQ(Oldest().access_token, fresh);
  int with_refused = 0;  // the first exchange only
  for (const FetchRequest& request : upstream_->started()) {
    if (request.api == FetchApi::kWeComPermanentCode &&
        request.access_token == suite_token_) {
      ++with_refused;
    }
  }
  EXPECT_EQ(with_refused, 1);
  AnswerPermanentCode("permanentcode@@@1");
  EXPECT_TRUE(Stored(kCorpKey).owner.contains("refresh_token"));
}

TEST_F(SuiteEngineTest, AnExchangeRefusedForOtherReasonsKeepsItsCode) {
  ASSERT_NO_FATAL_FAILURE(StartWithSuiteToken());
  CreateAuth("authcode@@@1");
  Pump();
  // 60020 (one egress IP not trusted): retried with backoff, not dropped.
  ASSERT_EQ(upstream_->InFlight(), 1);
  upstream_->Fail(FailureClass::kPermanent, 60020);
  Pump();
  EXPECT_TRUE(Stored(kSuite).owner.contains("auth_codes"));
  RunAt(clock_.Now() + absl::Seconds(2));
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComPermanentCode);
  // The suite token refused (42009): refreshed once, as a ForceRefresh
  // would be, and the exchange goes again with the new one, never with the
  // refused one.
  upstream_->Fail(FailureClass::kTokenRejected, 42009);
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 0);
  RunAt(clock_.Now() + absl::Seconds(31));  // force_min_interval
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComSuiteToken);
  const std::string fresh = upstream_->Succeed();
  Pump();
  RunAt(clock_.Now() + absl::Seconds(5));
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComPermanentCode);
  EXPECT_EQ(Oldest().access_token, fresh);
  AnswerPermanentCode("permanentcode@@@1");
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComCorpToken);
  size_t suite_tokens = 0;
  for (const FetchRequest& request : upstream_->started()) {
    if (request.api == FetchApi::kWeComSuiteToken) ++suite_tokens;
  }
  EXPECT_EQ(suite_tokens, 2u);
}

// WeCom retries a cancel_auth we did not take in time (503s through an
// outage) after the corp has installed the suite again: stamped before the
// new installation, it is answered but revokes nothing.
TEST_F(SuiteEngineTest, ACancelAuthFromBeforeAReinstallRevokesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartInstalled());
  const absl::Time cancelled = clock_.Now() + absl::Minutes(5);
  RunAt(clock_.Now() + absl::Minutes(10));
  CreateAuth("authcode@@@2");
  Pump();
  AnswerPermanentCode("permanentcode@@@2");
  const std::string token = upstream_->Succeed();
  Pump();
  std::optional<absl::Status>& late = CancelAuth(cancelled);
  Pump();
  ASSERT_TRUE(late.has_value() && late->ok()) << "WeCom would retry it";
  ASSERT_TRUE(GetCorp().ok()) << GetCorp().status();
  EXPECT_EQ(GetCorp()->value, token);
  EXPECT_FALSE(Stored(kCorpKey).owner.contains("revoked"));
  // One stamped after it (even in its second) revokes.
  CancelAuth(clock_.Now());
  Pump();
  EXPECT_EQ(GetCorp().status().code(), absl::StatusCode::kFailedPrecondition);
}

// A store restored from an older snapshot (Redis restarted without the
// last writes) still holds the corp's earlier installation: the later one
// held is kept and written back, never replaced by the older permanent code.
TEST_F(SuiteEngineTest, AnOlderStoredInstallationNeverReplacesALaterOne) {
  ASSERT_NO_FATAL_FAILURE(StartInstalledLeader());
  const AppRecord snapshot = Stored(kCorpKey);
  RunAt(clock_.Now() + absl::Seconds(10));
  CreateAuth("authcode@@@2");
  Pump();
  AnswerPermanentCode("permanentcode@@@2");
  const std::string token = upstream_->Succeed();
  Pump();
  auto installed_at = [this] {
    const auto& owner = Stored(kCorpKey).owner;
    auto it = owner.find("installed_at");
    return it == owner.end() ? std::string() : it->second;
  };
  const std::string later = installed_at();
  ASSERT_FALSE(later.empty());

  // Redis restarts from the snapshot.
  store_.durable[kCorpKey] = snapshot;
  clock_.SetTime(clock_.Now() + absl::Seconds(1));
  engine_->OnRecords({snapshot}, ReadKind::kAfterLoss, clock_.SteadyNow(),
                     clock_.SteadyNow());
  Pump();
  EXPECT_EQ(installed_at(), later)
      << "the later installation is not written back";
  ASSERT_TRUE(GetCorp().ok()) << GetCorp().status();
  // Its next token goes with the later permanent code.
  ForceRefreshCorp(token);
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComCorpToken);
  EXPECT_EQ(Oldest().refresh_token, "permanentcode@@@2");
}

// Replicas: another replica took the corp's new installation (it lost the
// lease before its write, so its heal could not cut the old token's expiry
// in the store). The leader reading it ends the old installation's token
// and fetches the new permanent code's.
TEST_F(SuiteEngineTest, AnInstallationReadFromAnotherReplicaEndsTheOldToken) {
  ASSERT_NO_FATAL_FAILURE(StartInstalledLeader());
  const AppRecord first = Stored(kCorpKey);
  RunAt(clock_.Now() + absl::Seconds(10));
  CreateAuth("authcode@@@2");
  Pump();
  AnswerPermanentCode("permanentcode@@@2");
  AppRecord healed = Stored(kCorpKey);
  for (TokenRecord& token : healed.tokens) {
    for (const TokenRecord& before : first.tokens) {
      if (token.value == before.value) token.expires_at = before.expires_at;
    }
  }

  // The leader still holds the first installation.
  store_.durable[kCorpKey] = first;
  Restart();
  engine_->Start();
  std::vector<AppRecord> records;
  for (const auto& [key, record] : store_.durable) records.push_back(record);
  engine_->OnLeader(records, /*epoch=*/2, clock_.SteadyNow(),
                    clock_.SteadyNow());
  Pump();
  ASSERT_TRUE(GetCorp().ok()) << GetCorp().status();
  ASSERT_EQ(GetCorp()->value, corp_token_);
  ASSERT_EQ(upstream_->InFlight(), 0);

  clock_.SetTime(clock_.Now() + absl::Seconds(1));
  engine_->OnRecords({healed}, ReadKind::kChanges, clock_.SteadyNow(),
                     clock_.SteadyNow());
  EXPECT_FALSE(GetCorp().ok() && GetCorp()->value == corp_token_)
      << "the replaced installation's token is still served";
  RunAt(clock_.Now() + absl::Seconds(1));
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(upstream_->front().api, FetchApi::kWeComCorpToken);
  EXPECT_EQ(upstream_->front().refresh_token, "permanentcode@@@2");
}

// Replicas: the leader reads its own record back, and a read that began
// before the exchanged code left the record still holds it. That code is
// not exchanged again (WeCom would answer 40029 and it would be logged as
// an installation lost).
TEST_F(SuiteEngineTest, ALeaderReadingAnOlderRecordDoesNotExchangeAgain) {
  ASSERT_NO_FATAL_FAILURE(StartLeaderWithSuiteToken());
  CreateAuth("authcode@@@1");
  Pump();
  const AppRecord with_code = Stored(kSuite);
  ASSERT_TRUE(with_code.owner.contains("auth_codes"));
  AnswerPermanentCode("permanentcode@@@1");
  upstream_->Succeed();  // the corp's token
  Pump();
  const size_t sent = upstream_->started().size();
  clock_.SetTime(clock_.Now() + absl::Milliseconds(1));  // after its writes
  engine_->OnRecords({with_code}, ReadKind::kChanges, clock_.SteadyNow(),
                     clock_.SteadyNow());
  Pump();
  RunAt(clock_.Now() + absl::Seconds(5));
  EXPECT_EQ(upstream_->started().size(), sent);
  EXPECT_EQ(upstream_->InFlight(), 0);
}

// Replicas: a code the leader stored is exchanged by whichever replica
// leads next, and a follower's copy of the codes follows the leader's.
TEST_F(SuiteEngineTest, ANewLeaderExchangesTheCodesTheOldOneStored) {
  engine_->Start();
  Pump();
  CreateAuth("authcode@@@1");
  Pump();
  const AppRecord stored = Stored(kSuite);
  ASSERT_TRUE(stored.owner.contains("auth_codes"));
  store_.durable.clear();
  store_.shared = true;
  store_.may_send = true;
  Restart();
  engine_->Start();
  // A follower mirrors the leader's record, then leads.
  engine_->OnRecords({stored}, ReadKind::kAll, clock_.SteadyNow(),
                     clock_.SteadyNow());
  engine_->OnLeader({stored}, /*epoch=*/1, clock_.SteadyNow(),
                    clock_.SteadyNow());
  Pump();
  PushTicket("suiteticket@@@1");
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  upstream_->Succeed();
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kWeComPermanentCode);
  EXPECT_EQ(Oldest().authorization_code, "authcode@@@1");
}

}  // namespace
}  // namespace wxtoken::server
