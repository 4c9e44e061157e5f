// A third-party platform's component token in the refresh engine, with a
// fake clock, upstream and store (DESIGN.md "Third-party platforms"): the
// verify ticket WeChat pushes is kept (newest wins, durable before it is
// acknowledged), the component token is a recipe with the ticket as its
// input, and api_start_push_ticket asks for a push when pushes stop.
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_policy.h"
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

constexpr char kPlatform[] = "wxcomponent00000001";

class Health final : public HealthSink {
 public:
  void SetAppServing(const std::string& app_id, bool serving) override {
    app[app_id] = serving;
  }
  void SetAllAppsServing(bool) override {}
  void SetStartupDone() override { ++startup_done; }
  std::map<std::string, bool> app;
  int startup_done = 0;
};

class PlatformEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AppConfig owner;
    owner.app_id = kPlatform;
    owner.api = AppConfig::Api::kComponent;
    owner.secret = "component-secret";
    config_.apps.push_back(owner);
    PlatformConfig platform;
    platform.component_app_id = kPlatform;
    platform.vault_keys = wxtoken::testing::RandomVaultKey();
    config_.platforms.push_back(platform);
    // Quota polls (requests of their own) are tested in owner_view_test.
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
    health_ = Health{};
    engine_ =
        std::make_unique<RefreshEngine>(config_, clock_, *upstream_, *table_,
                                        store_, health_, [] { return 1.0; });
  }
  // As the worker's loop; an authorizer list page WeChat is asked for is
  // answered from `listed_` (one page) when it is the oldest request out.
  void Pump() {
    for (int i = 0; i < 100; ++i) {
      store_.CompleteAll();
      engine_->RunDue();
      bool answered = false;
      while (upstream_->InFlight() > 0 &&
             Oldest().api == FetchApi::kAuthorizerList) {
        FetchResult page;
        if (Oldest().offset == 0) page.listed = listed_;
        page.total_count = static_cast<int64_t>(listed_.size());
        upstream_->Complete(page);
        answered = true;
      }
      if (store_.pending() == 0 && !answered) return;
    }
  }
  const FetchRequest& Oldest() const {
    return upstream_
        ->started()[upstream_->started().size() - upstream_->InFlight()];
  }
  // Requests sent, list pages aside.
  size_t Sent() const {
    size_t sent = 0;
    for (const FetchRequest& request : upstream_->started()) {
      if (request.api != FetchApi::kAuthorizerList) ++sent;
    }
    return sent;
  }
  void RunAt(absl::Time time) {
    clock_.SetTime(time);
    Pump();
  }
  absl::Time NextWakeup() {
    return clock_.Now() + (engine_->NextWakeup() - clock_.SteadyNow());
  }
  // Submits a pushed ticket; its answer, once there is one.
  std::optional<absl::Status>& Push(const std::string& ticket,
                                    absl::Time created) {
    answers_.emplace_back();
    std::optional<absl::Status>& answer = answers_.back();
    engine_->SubmitVerifyTicket(
        kPlatform, ticket, created,
        [&answer](absl::Status status) { answer = std::move(status); });
    return answer;
  }
  absl::StatusOr<Token> Get() {
    return table_->Get(kPlatform, TokenKind::kAccessToken, clock_.SteadyNow());
  }
  const FetchRequest& LastSent() const {
    for (auto it = upstream_->started().rbegin();
         it != upstream_->started().rend(); ++it) {
      if (it->api != FetchApi::kAuthorizerList) return *it;
    }
    return upstream_->started().back();
  }
  // The durable record's verify ticket ("" when none).
  std::string StoredTicket() {
    auto it = store_.durable.find(kPlatform);
    if (it == store_.durable.end()) return "";
    for (const TokenRecord& token : it->second.tokens) {
      if (token.kind == TokenKind::kComponentVerifyTicket) return token.value;
    }
    return "";
  }
  // Answers the first api_start_push_ticket of a start.
  void StartAndAnswerTheProbe() {
    engine_->Start();
    Pump();
    ASSERT_EQ(upstream_->InFlight(), 1);
    ASSERT_EQ(LastSent().api, FetchApi::kStartPushTicket);
    upstream_->Complete(FetchResult{});
    Pump();
  }

  Config config_;
  FakeClock clock_;
  FakeStateStore store_;
  Health health_;
  std::unique_ptr<FakeUpstream> upstream_;
  std::unique_ptr<TokenTable> table_;
  std::unique_ptr<RefreshEngine> engine_;
  std::deque<std::optional<absl::Status>> answers_;
  std::vector<ListedAuthorizer> listed_;  // what the list pass finds
};

constexpr char kAuthorizer[] = "wxcomponent00000001/wxauthorizer0001";

// An authorizer's credentials: a code exchanged, a refresh token sealed at
// rest and rotated durably, a revocation that stops serving at once.
class AuthorizerEngineTest : public PlatformEngineTest {
 protected:
  // The platform with a component token, and its answer.
  void StartWithComponentToken() {
    // WeChat lists it (with the refresh token it was first given).
    listed_ = {{"wxauthorizer0001", "refreshtoken@@@listed"}};
    StartAndAnswerTheProbe();
    Push("ticket@@@one", clock_.Now());
    Pump();
    component_ = upstream_->Succeed();
    Pump();
  }
  // The platform with a component token and an authorizer whose code was
  // exchanged for a token and refreshtoken@@@1.
  void StartAuthorized() {
    StartWithComponentToken();
    Event(PlatformEvent::Type::kAuthorized, "code@@@1");
    Pump();
    AnswerWith("refreshtoken@@@1");
    Pump();
  }
  std::optional<absl::Status>& Event(PlatformEvent::Type type,
                                     const std::string& code = "") {
    PlatformEvent event;
    event.type = type;
    event.info_type = "authorized";
    event.component_app_id = kPlatform;
    event.authorizer_app_id = "wxauthorizer0001";
    event.authorization_code = code;
    event.create_time = clock_.Now();
    answers_.emplace_back();
    std::optional<absl::Status>& answer = answers_.back();
    engine_->SubmitPlatformEvent(
        event, [&answer](absl::Status status) { answer = std::move(status); });
    return answer;
  }
  absl::StatusOr<Token> GetAuthorizer() {
    return table_->Get(kAuthorizer, TokenKind::kAccessToken,
                       clock_.SteadyNow());
  }
  // Answers the authorizer's request in flight with a token and `refresh`.
  std::string AnswerWith(const std::string& refresh) {
    FetchResult result;
    result.value = absl::StrCat("authorizer-token-", ++issued_);
    result.expires_in = absl::Seconds(7200);
    result.refresh_token = refresh;
    upstream_->Complete(result);
    return result.value;
  }
  const AppRecord& Stored() { return store_.durable.at(kAuthorizer); }
  // Runs to the authorizer's next request, answering the platform's own
  // (the component token, a probe) meanwhile.
  void RunUntilAuthorizerSent() {
    for (int i = 0; i < 50; ++i) {
      while (upstream_->InFlight() > 0) {
        const FetchRequest& oldest = Oldest();
        if (oldest.api == FetchApi::kAuthorizerToken) {
          sent_ = oldest;
          return;
        }
        upstream_->Succeed();
        Pump();
      }
      RunAt(NextWakeup());
    }
    FAIL() << "no authorizer request";
  }

  std::string component_;
  int issued_ = 0;
  FetchRequest sent_;  // the authorizer's, as RunUntilAuthorizerSent found
};

TEST_F(PlatformEngineTest, TheComponentTokenWaitsForAPushedTicketAndUsesIt) {
  engine_->Start();
  Pump();
  // No ticket yet: WeChat is asked to push one, and nothing else goes.
  ASSERT_EQ(Sent(), 1u);
  EXPECT_EQ(LastSent().api, FetchApi::kStartPushTicket);
  EXPECT_EQ(LastSent().secret, "component-secret");
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Get().status().message(),
              HasSubstr("component_verify_ticket: none pushed yet"));
  // Only a push can end the wait: startup is not held up by it.
  EXPECT_EQ(health_.startup_done, 1);
  upstream_->Complete(FetchResult{});
  Pump();

  std::optional<absl::Status>& answer = Push("ticket@@@one", clock_.Now());
  // Acknowledged only once durable.
  EXPECT_FALSE(answer.has_value());
  Pump();
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->ok()) << *answer;
  EXPECT_EQ(StoredTicket(), "ticket@@@one");

  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(LastSent().api, FetchApi::kComponentToken);
  EXPECT_EQ(LastSent().verify_ticket, "ticket@@@one");
  EXPECT_EQ(LastSent().secret, "component-secret");
  const std::string value = upstream_->Succeed();
  Pump();
  absl::StatusOr<Token> token = Get();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, value);
  EXPECT_TRUE(health_.app[kPlatform]);
}

TEST_F(PlatformEngineTest, APushNotNewerChangesNothing) {
  StartAndAnswerTheProbe();
  const absl::Time created = clock_.Now();
  Push("ticket@@@new", created);
  Pump();
  upstream_->Succeed();
  Pump();
  const int writes = store_.writes;

  // A replay, and an older ticket pushed late: success, nothing changes.
  std::optional<absl::Status>& replay = Push("ticket@@@new", created);
  std::optional<absl::Status>& older =
      Push("ticket@@@old", created - absl::Minutes(10));
  Pump();
  ASSERT_TRUE(replay.has_value() && older.has_value());
  EXPECT_TRUE(replay->ok());
  EXPECT_TRUE(older->ok());
  EXPECT_EQ(store_.writes, writes);
  EXPECT_EQ(StoredTicket(), "ticket@@@new");
}

TEST_F(PlatformEngineTest, ATicketFromTheFutureIsRefused) {
  StartAndAnswerTheProbe();
  std::optional<absl::Status>& answer =
      Push("ticket@@@future", clock_.Now() + absl::Minutes(6));
  Pump();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(answer->message(), HasSubstr("CreateTime"));
  EXPECT_EQ(StoredTicket(), "");
  EXPECT_EQ(upstream_->InFlight(), 0);
}

TEST_F(PlatformEngineTest, APushWhoseWriteFailedIsAcknowledgedOnlyOnceStored) {
  StartAndAnswerTheProbe();
  const absl::Time created = clock_.Now();
  std::optional<absl::Status>& first = Push("ticket@@@one", created);
  store_.CompleteOne(absl::UnavailableError("disk full"));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StoredTicket(), "");

  // WeChat pushes the same ticket again: not newer, but not stored either,
  // so it is written before it is acknowledged.
  std::optional<absl::Status>& again = Push("ticket@@@one", created);
  EXPECT_FALSE(again.has_value());
  Pump();
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->ok()) << *again;
  EXPECT_EQ(StoredTicket(), "ticket@@@one");
}

TEST_F(PlatformEngineTest, ARefusedTicketIsDroppedUntilTheNextPush) {
  StartAndAnswerTheProbe();
  const absl::Time created = clock_.Now();
  Push("ticket@@@bad", created);
  Pump();
  ASSERT_EQ(LastSent().api, FetchApi::kComponentToken);
  upstream_->Fail(FailureClass::kTokenRejected, 61006);
  Pump();
  EXPECT_THAT(Get().status().message(), HasSubstr("refused"));
  EXPECT_FALSE(health_.app[kPlatform]);
  // No component token request goes with it again; WeChat is asked for a
  // push, no sooner than 30 minutes after the last ask.
  const size_t sent = Sent();
  RunAt(NextWakeup());
  ASSERT_EQ(Sent(), sent + 1);
  EXPECT_EQ(LastSent().api, FetchApi::kStartPushTicket);
  upstream_->Complete(FetchResult{});
  Pump();

  // A replay of the refused one is not newer: nothing is sent.
  Push("ticket@@@bad", created);
  Pump();
  EXPECT_EQ(upstream_->InFlight(), 0);
  Push("ticket@@@good", clock_.Now());
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(LastSent().api, FetchApi::kComponentToken);
  EXPECT_EQ(LastSent().verify_ticket, "ticket@@@good");
}

TEST_F(PlatformEngineTest, ARefusedTicketFallsBackOnceToTheOneItReplaced) {
  StartAndAnswerTheProbe();
  Push("ticket@@@older", clock_.Now());
  Pump();
  upstream_->Succeed();  // the component token, with the older ticket
  Pump();
  clock_.AdvanceTime(absl::Minutes(10));
  Push("ticket@@@newer", clock_.Now());
  Pump();
  // Due: the component token is refreshed with the newer ticket, which
  // WeChat refuses (61006): the older one, still within its 12 h, is tried.
  const std::string component = Get()->value;
  ForceRefreshCommand force;
  force.app_id = kPlatform;
  force.stale_value = component;
  force.done = [](absl::StatusOr<ForceRefreshReply>) {};
  engine_->ForceRefresh(std::move(force));
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().verify_ticket, "ticket@@@newer");
  upstream_->Fail(FailureClass::kTokenRejected, 61006);
  Pump();
  RunAt(NextWakeup());
  ASSERT_EQ(upstream_->InFlight(), 1);
  ASSERT_EQ(Oldest().api, FetchApi::kComponentToken);
  EXPECT_EQ(Oldest().verify_ticket, "ticket@@@older");
  EXPECT_EQ(StoredTicket(), "ticket@@@older");
  // Refused too: no third try, WeChat is asked for a push.
  upstream_->Fail(FailureClass::kTokenRejected, 61006);
  Pump();
  RunAt(NextWakeup());
  for (size_t i = upstream_->started().size() - upstream_->InFlight();
       i < upstream_->started().size(); ++i) {
    EXPECT_NE(upstream_->started()[i].api, FetchApi::kComponentToken);
  }
}

TEST_F(PlatformEngineTest, StoppedPushesAreAskedForEveryThirtyMinutes) {
  StartAndAnswerTheProbe();
  const absl::Time pushed = clock_.Now();
  Push("ticket@@@one", pushed);
  Pump();
  upstream_->Succeed();
  Pump();
  // Pushes stop. WeChat is asked when the ticket is 30 minutes old (the
  // component token is not due for well over an hour).
  const size_t sent = Sent();
  for (int i = 0; i < 10 && Sent() == sent; ++i) {
    RunAt(NextWakeup());
  }
  ASSERT_EQ(Sent(), sent + 1);
  EXPECT_EQ(LastSent().api, FetchApi::kStartPushTicket);
  EXPECT_EQ(clock_.Now(), pushed + kVerifyTicketProbeAge);
  const absl::Time asked = clock_.Now();
  upstream_->Complete(FetchResult{});
  Pump();
  // Answered, but no push came: asked again 30 minutes on, not sooner.
  for (int i = 0; i < 10 && Sent() == sent + 1; ++i) {
    RunAt(NextWakeup());
  }
  ASSERT_EQ(Sent(), sent + 2);
  EXPECT_EQ(LastSent().api, FetchApi::kStartPushTicket);
  EXPECT_EQ(clock_.Now(), asked + kVerifyTicketProbeAge);
}

TEST_F(PlatformEngineTest, AStoredTicketServesARestart) {
  StartAndAnswerTheProbe();
  Push("ticket@@@kept", clock_.Now());
  Pump();
  upstream_->Succeed();
  Pump();
  clock_.AdvanceTime(absl::Minutes(1));
  Restart();
  engine_->Start();
  Pump();
  // The stored component token serves; the stored ticket is not probed
  // for; nothing is fetched until the token is due.
  EXPECT_TRUE(Get().ok());
  EXPECT_EQ(Sent(), 0u);
  // At its refresh it goes with the stored ticket (asking WeChat for a
  // push meanwhile, since none came).
  for (int i = 0;
       i < 20 && (Sent() == 0 || LastSent().api != FetchApi::kComponentToken);
       ++i) {
    if (upstream_->InFlight() > 0) upstream_->Complete(FetchResult{});
    RunAt(NextWakeup());
  }
  ASSERT_EQ(LastSent().api, FetchApi::kComponentToken);
  EXPECT_EQ(LastSent().verify_ticket, "ticket@@@kept");
}

TEST_F(AuthorizerEngineTest, AnAuthorizationIsStoredThenExchanged) {
  StartWithComponentToken();
  std::optional<absl::Status>& answer =
      Event(PlatformEvent::Type::kAuthorized, "queryauthcode@@@1");
  // Acknowledged once the code is durable, and sealed there.
  EXPECT_FALSE(answer.has_value());
  store_.CompleteOne();
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->ok()) << *answer;
  ASSERT_TRUE(Stored().owner.contains("code"));
  EXPECT_THAT(Stored().owner.at("code"), Not(HasSubstr("queryauthcode")));
  Pump();

  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(LastSent().api, FetchApi::kQueryAuth);
  EXPECT_EQ(LastSent().app_id, kPlatform);
  EXPECT_EQ(LastSent().access_token, component_);
  EXPECT_EQ(LastSent().authorization_code, "queryauthcode@@@1");
  const std::string token = AnswerWith("refreshtoken@@@1");
  // Not served before its refresh token is durable.
  EXPECT_FALSE(GetAuthorizer().ok());
  Pump();
  absl::StatusOr<Token> served = GetAuthorizer();
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->value, token);
  EXPECT_FALSE(Stored().owner.contains("code"));
  ASSERT_TRUE(Stored().owner.contains("refresh_token"));
  EXPECT_THAT(Stored().owner.at("refresh_token"),
              Not(HasSubstr("refreshtoken")));
  // Authorizers have no health name of their own.
  EXPECT_FALSE(health_.app.contains(kAuthorizer));
}

TEST_F(AuthorizerEngineTest, ARotatedRefreshTokenIsUsedAndSurvivesARestart) {
  ASSERT_NO_FATAL_FAILURE(StartAuthorized());
  // The next refresh goes with the refresh token held; WeChat rotates it.
  (void)GetAuthorizer();  // in use: refreshed ahead
  ASSERT_NO_FATAL_FAILURE(RunUntilAuthorizerSent());
  EXPECT_EQ(sent_.refresh_token, "refreshtoken@@@1");
  EXPECT_EQ(sent_.authorizer_app_id, "wxauthorizer0001");
  const std::string rotated = AnswerWith("refreshtoken@@@2");
  Pump();
  ASSERT_TRUE(GetAuthorizer().ok());
  EXPECT_EQ(GetAuthorizer()->value, rotated);

  // A restart opens the sealed one and uses it.
  Restart();
  engine_->Start();
  Pump();
  EXPECT_EQ(GetAuthorizer()->value, rotated);
  (void)GetAuthorizer();  // in use: refreshed ahead
  ASSERT_NO_FATAL_FAILURE(RunUntilAuthorizerSent());
  EXPECT_EQ(sent_.refresh_token, "refreshtoken@@@2");
  // An answer without one keeps the one held.
  AnswerWith("");
  Pump();
  Restart();
  engine_->Start();
  Pump();
  (void)GetAuthorizer();  // in use: refreshed ahead
  ASSERT_NO_FATAL_FAILURE(RunUntilAuthorizerSent());
  EXPECT_EQ(sent_.refresh_token, "refreshtoken@@@2");
}

TEST_F(AuthorizerEngineTest, ARefusedCodeFallsBackToTheRefreshTokenHeld) {
  ASSERT_NO_FATAL_FAILURE(StartAuthorized());
  (void)GetAuthorizer();  // in use: refreshed ahead
  // An updateauthorized push whose code WeChat then refuses (61009: used
  // already, or expired): the refresh token held still works, and goes
  // now rather than after permanent_retry.
  Event(PlatformEvent::Type::kUpdateAuthorized, "code@@@2");
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  ASSERT_EQ(Oldest().api, FetchApi::kQueryAuth);
  upstream_->Fail(FailureClass::kPermanent, 61009);
  Pump();
  RunAt(clock_.Now() + absl::Seconds(1));
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kAuthorizerToken);
  EXPECT_EQ(Oldest().refresh_token, "refreshtoken@@@1");
  const std::string token = AnswerWith("");
  Pump();
  ASSERT_TRUE(GetAuthorizer().ok());
  EXPECT_EQ(GetAuthorizer()->value, token);
  EXPECT_FALSE(Stored().owner.contains("code"));
}

TEST_F(AuthorizerEngineTest, ARevokedAuthorizerIsRefusedAtOnceAndAskedNothing) {
  ASSERT_NO_FATAL_FAILURE(StartAuthorized());
  ASSERT_TRUE(GetAuthorizer().ok());
  std::optional<absl::Status>& answer =
      Event(PlatformEvent::Type::kUnauthorized);
  // Refused at once, though its token has not expired: WeChat revoked it.
  EXPECT_EQ(GetAuthorizer().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(GetAuthorizer().status().message(), HasSubstr("revoked"));
  Pump();
  ASSERT_TRUE(answer.has_value() && answer->ok());
  EXPECT_TRUE(Stored().owner.contains("revoked"));
  // Nothing is sent for it any more.
  const size_t sent = upstream_->started().size();
  for (int i = 0; i < 5; ++i) {
    if (upstream_->InFlight() > 0) upstream_->Succeed();  // the component
    RunAt(NextWakeup());
  }
  for (size_t i = sent; i < upstream_->started().size(); ++i) {
    EXPECT_NE(upstream_->started()[i].api, FetchApi::kAuthorizerToken);
  }
  // Across a restart too.
  Restart();
  engine_->Start();
  Pump();
  EXPECT_EQ(GetAuthorizer().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// An idle authorizer's GetToken that found nothing servable asks for one
// fetch (wants_any). When the fetch another caller caused lands before the
// worker takes that ask, the value it brought answers it: nothing held is
// reported bad, so nothing more is sent.
TEST_F(AuthorizerEngineTest, AnIdleGetTokenThatRacedAFetchTakesItsValue) {
  ASSERT_NO_FATAL_FAILURE(StartAuthorized());
  absl::StatusOr<Token> held = GetAuthorizer();
  ASSERT_TRUE(held.ok()) << held.status();
  const size_t sent = Sent();
  ForceRefreshCommand use;
  use.app_id = kAuthorizer;
  use.wants_any = true;
  std::optional<absl::StatusOr<ForceRefreshReply>> reply;
  use.done = [&reply](absl::StatusOr<ForceRefreshReply> r) { reply = r; };
  engine_->ForceRefresh(std::move(use));
  Pump();
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(reply->ok()) << reply->status();
  EXPECT_EQ((*reply)->token.value, held->value);
  EXPECT_EQ(Sent(), sent);
  EXPECT_EQ(upstream_->InFlight(), 0);
}

TEST_F(AuthorizerEngineTest, AListPassTakesOverAuthorizersWithoutFetching) {
  listed_.clear();
  for (int i = 0; i < 3; ++i) {
    listed_.push_back({absl::StrCat("wxlisted000", i),
                       absl::StrCat("refreshtoken@@@listed", i)});
  }
  const std::string key = absl::StrCat(kPlatform, "/wxlisted0001");
  engine_->Start();
  Pump();
  // Before the first complete pass an unknown authorizer may be listed yet.
  EXPECT_EQ(table_->Get(key, TokenKind::kAccessToken, clock_.SteadyNow())
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  upstream_->Complete(FetchResult{});  // the probe
  Pump();
  Push("ticket@@@one", clock_.Now());
  Pump();
  upstream_->Succeed();  // the component token; the pass follows
  Pump();
  // Every listed one is known, its refresh token sealed, none fetched.
  EXPECT_EQ(upstream_->InFlight(), 0);
  for (const ListedAuthorizer& listed : listed_) {
    const AppRecord& record = store_.durable.at(
        absl::StrCat(kPlatform, "/", listed.authorizer_app_id));
    ASSERT_TRUE(record.owner.contains("refresh_token"));
    EXPECT_THAT(record.owner.at("refresh_token"),
                Not(HasSubstr(listed.refresh_token)));
  }
  EXPECT_EQ(table_
                ->Get(absl::StrCat(kPlatform, "/wxnotlisted1"),
                      TokenKind::kAccessToken, clock_.SteadyNow())
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  // The first use fetches it, with the listed refresh token.
  ForceRefreshCommand use;
  use.app_id = key;
  std::optional<absl::StatusOr<ForceRefreshReply>> reply;
  use.done = [&reply](absl::StatusOr<ForceRefreshReply> r) { reply = r; };
  engine_->ForceRefresh(std::move(use));
  Pump();
  ASSERT_EQ(upstream_->InFlight(), 1);
  EXPECT_EQ(Oldest().api, FetchApi::kAuthorizerToken);
  EXPECT_EQ(Oldest().refresh_token, "refreshtoken@@@listed1");
  const std::string token = AnswerWith("");
  Pump();
  ASSERT_TRUE(reply.has_value() && reply->ok());
  EXPECT_EQ((*reply)->token.value, token);
}

TEST_F(AuthorizerEngineTest, ACompletePassRevokesOnlyWhatItShouldHaveSeen) {
  config_.platforms[0].reconcile_interval = absl::Hours(1);
  Restart();
  ASSERT_NO_FATAL_FAILURE(StartAuthorized());
  ASSERT_TRUE(GetAuthorizer().ok());
  // It is gone from WeChat's list: the next pass revokes it.
  listed_.clear();
  for (int i = 0; i < 100 && GetAuthorizer().ok(); ++i) {
    while (upstream_->InFlight() > 0) {
      upstream_->Succeed();
      Pump();
    }
    RunAt(NextWakeup());
  }
  EXPECT_EQ(GetAuthorizer().status().code(),
            absl::StatusCode::kFailedPrecondition)
      << GetAuthorizer().status();
  EXPECT_TRUE(Stored().owner.contains("revoked"));
}

TEST_F(AuthorizerEngineTest, ARefusedRefreshTokenIsRecoveredElseNeedsReauth) {
  ASSERT_NO_FATAL_FAILURE(StartAuthorized());
  (void)GetAuthorizer();
  ASSERT_NO_FATAL_FAILURE(RunUntilAuthorizerSent());
  AnswerWith("refreshtoken@@@2");  // rotated; @@@1 kept
  Pump();
  (void)GetAuthorizer();
  listed_ = {{"wxauthorizer0001", "refreshtoken@@@listed"}};

  // Each authorizer request from here: what it was sent with.
  std::vector<std::string> sent;
  auto next_request = [&]() -> const FetchRequest* {
    for (int i = 0; i < 50; ++i) {
      while (upstream_->InFlight() > 0) {
        const FetchRequest& oldest = Oldest();
        if (oldest.api == FetchApi::kAuthorizerToken ||
            oldest.api == FetchApi::kAuthorizerInfo) {
          return &oldest;
        }
        upstream_->Succeed();
        Pump();
      }
      (void)GetAuthorizer();  // in use
      RunAt(NextWakeup());
    }
    return nullptr;
  };
  // 61023 for @@@2: the one it replaced.
  const FetchRequest* request = next_request();
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->refresh_token, "refreshtoken@@@2");
  upstream_->Fail(FailureClass::kPermanent, 61023);
  Pump();
  request = next_request();
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->api, FetchApi::kAuthorizerToken);
  EXPECT_EQ(request->refresh_token, "refreshtoken@@@1");
  // Refused too: api_get_authorizer_info, which tells a new one.
  upstream_->Fail(FailureClass::kPermanent, 61023);
  Pump();
  request = next_request();
  ASSERT_NE(request, nullptr);
  ASSERT_EQ(request->api, FetchApi::kAuthorizerInfo);
  EXPECT_EQ(request->authorizer_app_id, "wxauthorizer0001");
  FetchResult info;
  info.refresh_token = "refreshtoken@@@info";
  upstream_->Complete(info);
  Pump();
  request = next_request();
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->refresh_token, "refreshtoken@@@info");
  // Refused again: the list pass, whose listed one is tried once.
  upstream_->Fail(FailureClass::kPermanent, 61023);
  Pump();
  request = next_request();
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->refresh_token, "refreshtoken@@@listed");
  upstream_->Fail(FailureClass::kPermanent, 61023);
  Pump();
  // Nothing is left: needs_reauth, and no more requests for it.
  const size_t before = upstream_->started().size();
  for (int i = 0; i < 10; ++i) {
    while (upstream_->InFlight() > 0) {
      upstream_->Succeed();
      Pump();
    }
    (void)GetAuthorizer();
    RunAt(NextWakeup());
  }
  for (size_t i = before; i < upstream_->started().size(); ++i) {
    EXPECT_NE(upstream_->started()[i].api, FetchApi::kAuthorizerToken);
    EXPECT_NE(upstream_->started()[i].api, FetchApi::kAuthorizerInfo);
  }
  EXPECT_EQ(GetAuthorizer().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(GetAuthorizer().status().message(), HasSubstr("needs_reauth"));
  EXPECT_THAT(GetAuthorizer().status().message(), HasSubstr("61023"));
}

// Budgets (DESIGN.md "Third-party platforms"): each authorizer has the
// platform's daily_budget, and platform_daily_budget caps them all
// together, across a restart too (each one's count is durable with its
// intent, so their sum is).
class PlatformBudgetTest : public AuthorizerEngineTest {
 protected:
  // Takes over three listed authorizers (none fetched yet).
  void StartWithThreeListed() {
    for (int i = 0; i < 3; ++i) {
      listed_.push_back({absl::StrCat("wxlisted000", i),
                         absl::StrCat("refreshtoken@@@listed", i)});
    }
    StartAndAnswerTheProbe();
    Push("ticket@@@one", clock_.Now());
    Pump();
    component_ = upstream_->Succeed();
    Pump();
    ASSERT_TRUE(store_.durable.contains(Listed(2)));
  }
  static std::string Listed(int i) {
    return absl::StrCat(kPlatform, "/wxlisted000", i);
  }
  // A ForceRefresh of `app_id` whose value `stale` is bad; its answer.
  absl::StatusOr<ForceRefreshReply> Force(const std::string& app_id,
                                          const std::string& stale = "") {
    ForceRefreshCommand command;
    command.app_id = app_id;
    command.stale_value = stale;
    std::optional<absl::StatusOr<ForceRefreshReply>> reply;
    command.done = [&reply](absl::StatusOr<ForceRefreshReply> r) {
      reply = std::move(r);
    };
    engine_->ForceRefresh(std::move(command));
    Pump();
    if (!reply && upstream_->InFlight() > 0 &&
        Oldest().api == FetchApi::kAuthorizerToken) {
      AnswerWith("");
      Pump();
    }
    if (!reply) return absl::InternalError("not answered");
    return *reply;
  }
  size_t AuthorizerFetches() const {
    size_t sent = 0;
    for (const FetchRequest& request : upstream_->started()) {
      if (request.api == FetchApi::kAuthorizerToken) ++sent;
    }
    return sent;
  }
};

TEST_F(PlatformBudgetTest, PlatformDailyBudgetCapsAllAuthorizersTogether) {
  config_.platforms[0].platform_daily_budget = 2;
  Restart();
  ASSERT_NO_FATAL_FAILURE(StartWithThreeListed());
  EXPECT_TRUE(Force(Listed(0)).ok());
  EXPECT_TRUE(Force(Listed(1)).ok());
  ASSERT_EQ(AuthorizerFetches(), 2u);

  absl::StatusOr<ForceRefreshReply> third = Force(Listed(2));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(),
              HasSubstr("platform_daily_budget of 2"));
  EXPECT_EQ(AuthorizerFetches(), 2u);

  // A crash loop spends nothing more: the sum is rebuilt from the records.
  Restart();
  engine_->Start();
  Pump();
  if (upstream_->InFlight() > 0) upstream_->Succeed();  // the platform's own
  Pump();
  const size_t before = AuthorizerFetches();
  EXPECT_EQ(Force(Listed(2)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(AuthorizerFetches(), before);

  // The next Beijing day starts over.
  // (Long enough for the ticket to expire: a fresh one brings the
  // component token back.)
  RunAt(StartOfNextBeijingDay(clock_.Now()) + absl::Minutes(5));
  Push("ticket@@@two", clock_.Now());
  Pump();
  while (upstream_->InFlight() > 0) {
    if (Oldest().api == FetchApi::kStartPushTicket) {
      upstream_->Complete(FetchResult{});
    } else {
      // (A new fake upstream would number its values from 1 again.)
      upstream_->SucceedWith("component-token-of-the-next-day",
                             absl::Seconds(7200));
    }
    Pump();
  }
  absl::StatusOr<ForceRefreshReply> next_day = Force(Listed(2));
  EXPECT_TRUE(next_day.ok()) << next_day.status();
}

TEST_F(PlatformBudgetTest, EachAuthorizerHasThePlatformsDailyBudget) {
  // The component token's own day spends 2 of it: the probe and a fetch.
  config_.platforms[0].daily_budget = 3;
  Restart();
  ASSERT_NO_FATAL_FAILURE(StartWithThreeListed());
  std::string value;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<ForceRefreshReply> reply = Force(Listed(0), value);
    ASSERT_TRUE(reply.ok()) << reply.status();
    value = reply->token.value;
    clock_.AdvanceTime(absl::Minutes(1));
  }
  absl::StatusOr<ForceRefreshReply> again = Force(Listed(0), value);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(again.status().message(),
              HasSubstr("platforms[0].daily_budget of 3"));
  EXPECT_EQ(AuthorizerFetches(), 3u);
  // Another authorizer's day is its own.
  EXPECT_TRUE(Force(Listed(1)).ok());
}

}  // namespace
}  // namespace wxtoken::server
