// WeCom tickets in the refresh engine (DESIGN.md "WeCom"), with a fake
// clock, upstream and store: the corp's one jsapi ticket served under every
// app of the corp, each app's agent_config ticket, and the sliding-hour
// budgets, durable across a restart.
#include <map>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/token/refresh_engine.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"
#include "tests/fakes/fake_upstream.h"

namespace wxtoken::server {
namespace {

using testing::FakeClock;
using testing::FakeStateStore;
using testing::FakeUpstream;
using ::testing::HasSubstr;

constexpr char kCorp[] = "ww0123456789abcdef";
constexpr char kFirst[] = "ww0123456789abcdef/1000002";
constexpr char kSecond[] = "ww0123456789abcdef/1000003";

class NoHealth final : public HealthSink {
 public:
  void SetAppServing(const std::string&, bool) override {}
  void SetAllAppsServing(bool) override {}
  void SetStartupDone() override {}
};

// A corp with tickets: ["jsapi"] and two apps, the first with its
// agent_config ticket, as wecom_config.cc builds them.
Config CorpConfig() {
  Config config;
  AppConfig first;
  first.app_id = kFirst;
  first.api = AppConfig::Api::kWeCom;
  first.secret = "secret-first";
  first.tickets = {TokenKind::kJsapiTicket, TokenKind::kAgentConfigTicket};
  AppConfig second = first;
  second.app_id = kSecond;
  second.secret = "secret-second";
  second.tickets = {};
  second.corp_ticket_from = kFirst;
  config.apps = {first, second};
  config.wecom.corps = {{kCorp, {kFirst, kSecond}, /*jsapi_ticket=*/true}};
  config.quota.poll_interval = absl::ZeroDuration();
  return config;
}

class WeComEngineTest : public ::testing::Test {
 protected:
  void Init(Config config) {
    config_ = std::move(config);
    Restart();
    engine_->Start();
    AnswerAll();
  }
  // A new process over the same durable state, as after kill -9.
  void Restart() {
    engine_.reset();
    store_.CompleteAll(absl::UnavailableError("the process died"));
    upstream_ = std::make_unique<FakeUpstream>(
        1, absl::StrCat("value-", ++processes_, "-"));
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
  // Answers every request, and those they lead to, with fresh values.
  void AnswerAll() {
    Pump();
    for (int i = 0; i < 100 && upstream_->InFlight() > 0; ++i) {
      upstream_->Succeed();
      Pump();
    }
  }
  absl::StatusOr<Token> Get(const char* app_id, TokenKind kind) {
    return table_->Get(app_id, kind, clock_.SteadyNow());
  }
  // A ForceRefresh saying the current value is bad; its answer once the
  // request it caused (if any) is answered.
  absl::StatusOr<ForceRefreshReply> Force(const char* app_id, TokenKind kind) {
    std::optional<absl::StatusOr<ForceRefreshReply>> answer;
    ForceRefreshCommand command;
    command.app_id = app_id;
    command.kind = kind;
    command.done = [&answer](absl::StatusOr<ForceRefreshReply> reply) {
      answer = std::move(reply);
    };
    engine_->ForceRefresh(std::move(command));
    AnswerAll();
    if (!answer) return absl::InternalError("not answered");
    return *std::move(answer);
  }
  // The ticket requests sent so far of `type` ("jsapi", "agent_config").
  std::vector<FetchRequest> TicketsSent(const std::string& type) const {
    std::vector<FetchRequest> sent;
    for (const FetchRequest& request : upstream_->started()) {
      if (request.api == FetchApi::kWeComTicket &&
          request.ticket_type == type) {
        sent.push_back(request);
      }
    }
    return sent;
  }
  // Asks for new `kind` values, force_min_interval apart, until refused
  // (at most `limit` times): how many were fetched, and the refusal.
  int ForceUntilRefused(const char* app_id, TokenKind kind, int limit,
                        absl::Status* refusal) {
    for (int fetched = 0; fetched < limit; ++fetched) {
      clock_.AdvanceTime(config_.refresh.force_min_interval);
      absl::StatusOr<ForceRefreshReply> reply = Force(app_id, kind);
      if (!reply.ok()) {
        *refusal = reply.status();
        return fetched;
      }
    }
    return limit;
  }

  Config config_;
  int processes_ = 0;
  FakeClock clock_;
  FakeStateStore store_;
  NoHealth health_;
  std::unique_ptr<FakeUpstream> upstream_;
  std::unique_ptr<TokenTable> table_;
  std::unique_ptr<RefreshEngine> engine_;
};

// The corp's ticket is fetched once, with the first app's token, and every
// app of the corp serves it; the agent_config ticket is the first app's
// alone, fetched with its own token.
TEST_F(WeComEngineTest, TheCorpTicketIsOneForEveryAppOfTheCorp) {
  Init(CorpConfig());
  const absl::StatusOr<Token> first_token =
      Get(kFirst, TokenKind::kAccessToken);
  const absl::StatusOr<Token> second_token =
      Get(kSecond, TokenKind::kAccessToken);
  ASSERT_TRUE(first_token.ok()) << first_token.status();
  ASSERT_TRUE(second_token.ok()) << second_token.status();
  EXPECT_NE(first_token->value, second_token->value);

  ASSERT_EQ(TicketsSent("jsapi").size(), 1u);
  ASSERT_EQ(TicketsSent("agent_config").size(), 1u);
  EXPECT_EQ(TicketsSent("jsapi")[0].access_token, first_token->value);
  EXPECT_EQ(TicketsSent("agent_config")[0].access_token, first_token->value);

  const absl::StatusOr<Token> corp_ticket =
      Get(kFirst, TokenKind::kJsapiTicket);
  ASSERT_TRUE(corp_ticket.ok()) << corp_ticket.status();
  const absl::StatusOr<Token> also = Get(kSecond, TokenKind::kJsapiTicket);
  ASSERT_TRUE(also.ok()) << also.status();
  EXPECT_EQ(also->value, corp_ticket->value);
  const absl::StatusOr<Token> agent_ticket =
      Get(kFirst, TokenKind::kAgentConfigTicket);
  ASSERT_TRUE(agent_ticket.ok()) << agent_ticket.status();
  EXPECT_NE(agent_ticket->value, corp_ticket->value);
  EXPECT_FALSE(Get(kSecond, TokenKind::kAgentConfigTicket).ok());

  // A caller of the second app reports the corp ticket bad: one request,
  // with the first app's token, and both apps serve its answer.
  clock_.AdvanceTime(config_.refresh.force_min_interval);
  absl::StatusOr<ForceRefreshReply> renewed =
      Force(kSecond, TokenKind::kJsapiTicket);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  ASSERT_EQ(TicketsSent("jsapi").size(), 2u);
  EXPECT_EQ(TicketsSent("jsapi")[1].access_token, first_token->value);
  EXPECT_NE(renewed->token.value, corp_ticket->value);
  EXPECT_EQ(Get(kFirst, TokenKind::kJsapiTicket)->value, renewed->token.value);
  EXPECT_EQ(Get(kSecond, TokenKind::kJsapiTicket)->value, renewed->token.value);
}

// ForceRefresh may spend 90 % of an app's hourly ticket budget; the rest is
// the schedule's. The count is durable: a restart does not reset it.
TEST_F(WeComEngineTest, TheAppTicketBudgetHoldsAcrossARestart) {
  Config config = CorpConfig();
  config.wecom.app_ticket_hourly_budget = 20;  // ForceRefresh: 18
  Init(config);
  ASSERT_EQ(TicketsSent("agent_config").size(), 1u);
  ASSERT_EQ(TicketsSent("jsapi").size(), 1u);  // counts for the app too

  absl::Status refusal;
  EXPECT_EQ(
      ForceUntilRefused(kFirst, TokenKind::kAgentConfigTicket, 50, &refusal),
      16);
  EXPECT_EQ(refusal.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refusal.message(),
              HasSubstr("wecom.app_ticket_hourly_budget of 20"));
  EXPECT_EQ(TicketsSent("agent_config").size(), 17u);
  // What was fetched is still served.
  EXPECT_TRUE(Get(kFirst, TokenKind::kAgentConfigTicket).ok());

  Restart();
  engine_->Start();
  AnswerAll();
  clock_.AdvanceTime(config_.refresh.force_min_interval);
  const size_t before = upstream_->started().size();
  EXPECT_EQ(Force(kFirst, TokenKind::kAgentConfigTicket).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(upstream_->started().size(), before);

  // An hour (and the minute's margin) after the first sends they age out.
  clock_.AdvanceTime(kTicketWindow);
  EXPECT_TRUE(Force(kFirst, TokenKind::kAgentConfigTicket).ok());
}

// The corp's ticket counts against the corp's budget whichever app's caller
// asks for it.
TEST_F(WeComEngineTest, TheCorpTicketBudgetBoundsEveryAppsCallers) {
  Config config = CorpConfig();
  config.wecom.corp_ticket_hourly_budget = 5;  // ForceRefresh: 4
  Init(config);
  absl::Status refusal;
  EXPECT_EQ(ForceUntilRefused(kSecond, TokenKind::kJsapiTicket, 50, &refusal),
            3);
  EXPECT_EQ(TicketsSent("jsapi").size(), 4u);
  EXPECT_THAT(refusal.message(),
              HasSubstr("wecom.corp_ticket_hourly_budget of 5"));
  EXPECT_EQ(Force(kFirst, TokenKind::kJsapiTicket).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(TicketsSent("jsapi").size(), 4u);
  // The agent_config ticket is not the corp's: it still may go.
  clock_.AdvanceTime(config_.refresh.force_min_interval);
  EXPECT_TRUE(Force(kFirst, TokenKind::kAgentConfigTicket).ok());
}

// When the schedule itself finds the budget spent, the ticket waits for
// the window, not a day. A budget of 1 is the schedule's alone.
TEST_F(WeComEngineTest, AScheduledFetchWaitsForTheWindowOnly) {
  Config config = CorpConfig();
  config.wecom.app_ticket_hourly_budget = 1;
  Init(config);
  const absl::Time started = clock_.Now();
  // One of the first app's two tickets went; the other waits.
  ASSERT_EQ(TicketsSent("jsapi").size() + TicketsSent("agent_config").size(),
            1u);
  const bool corp_first = TicketsSent("jsapi").size() == 1;
  const TokenKind waiting =
      corp_first ? TokenKind::kAgentConfigTicket : TokenKind::kJsapiTicket;
  const absl::Status why = Get(kFirst, waiting).status();
  EXPECT_EQ(why.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(why.message(), HasSubstr("wecom.app_ticket_hourly_budget"));
  const absl::Status forced = Force(kFirst, waiting).status();
  EXPECT_EQ(forced.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(forced.message(), HasSubstr("leaves ForceRefresh none"));

  clock_.SetTime(started + kTicketWindow - absl::Seconds(1));
  AnswerAll();
  EXPECT_FALSE(Get(kFirst, waiting).ok());
  clock_.SetTime(started + kTicketWindow);
  AnswerAll();
  EXPECT_EQ(TicketsSent("jsapi").size() + TicketsSent("agent_config").size(),
            2u);
  EXPECT_TRUE(Get(kFirst, waiting).ok()) << Get(kFirst, waiting).status();
}

// A provider's token: get_provider_token with its corp_id and secret, on
// the classic rules; a caller's 40001 is the secret's fault there too.
TEST_F(WeComEngineTest, AProviderTokenIsFetchedWithItsCorpAndSecret) {
  Config config;
  AppConfig provider;
  provider.app_id = "wwprovider0000001/provider";
  provider.api = AppConfig::Api::kWeComProvider;
  provider.secret = "provider-secret";
  config.apps = {provider};
  config.quota.poll_interval = absl::ZeroDuration();
  Init(config);
  ASSERT_EQ(upstream_->started().size(), 1u);
  const FetchRequest& sent = upstream_->started()[0];
  EXPECT_EQ(sent.api, FetchApi::kWeComProviderToken);
  EXPECT_EQ(sent.corp_id, "wwprovider0000001");
  EXPECT_EQ(sent.secret, "provider-secret");
  const absl::StatusOr<Token> token =
      Get("wwprovider0000001/provider", TokenKind::kAccessToken);
  ASSERT_TRUE(token.ok()) << token.status();
  // Renewed margin before it expires, with an intent first.
  clock_.SetTime(token->expires_at - config_.refresh.margin);
  Pump();
  EXPECT_EQ(upstream_->started().size(), 2u);

  ForceRefreshCommand command;
  command.app_id = provider.app_id;
  command.wechat_errcode = 40001;
  std::optional<absl::StatusOr<ForceRefreshReply>> answer;
  command.done = [&answer](absl::StatusOr<ForceRefreshReply> reply) {
    answer = std::move(reply);
  };
  engine_->ForceRefresh(std::move(command));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wxtoken::server
