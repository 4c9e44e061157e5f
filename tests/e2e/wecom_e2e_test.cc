// End-to-end: WeCom (企业微信) apps served by the real wxtokend from the real
// wechat-sandbox's WeCom side, over real gRPC on loopback (DESIGN.md
// "WeCom"). Lifetimes are seconds long so rotations happen in the test's
// time; every bound leaves slack for a loaded 2-core machine.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/wechat/signature.h"
#include "tests/e2e/e2e_env.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::wxtoken::server::Sha1Hex;

constexpr char kCorp[] = "wwe2e0000000000001";
constexpr char kAgentA[] = "1000002";
constexpr char kAgentB[] = "contacts";
constexpr char kSecretA[] = "wecom-agent-secret-a-7d2e";
constexpr char kSecretB[] = "wecom-contacts-secret-b-91f0";

std::string Key(const char* agent) { return absl::StrCat(kCorp, "/", agent); }

class WeComE2eTest : public ::testing::Test {
 protected:
  // The sandbox knows both apps; wxtokend is given `agents`.
  void StartBoth(std::vector<Controller::App> agents,
                 Controller::Options options = {}) {
    dir_ = MakeTempDir("wecom");
    Sandbox::Options sandbox;
    sandbox.wecom_apps = {{Key(kAgentA), kSecretA}, {Key(kAgentB), kSecretB}};
    sandbox.lifetime = absl::Seconds(6);
    sandbox.overlap = absl::Seconds(3);
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
    options.base_url = sandbox_.base_url();
    options.overlap = "3s";
    options.margin = "2s";
    options.wecom_corps = {{kCorp, std::move(agents)}};
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options, dir_));
  }
  void TearDown() override {
    if (!::testing::Test::HasFailure()) {
      const std::string logs = controller_.Logs();
      ExpectJsonLogLines(logs);
      for (const char* secret : {kSecretA, kSecretB}) {
        EXPECT_THAT(logs, Not(HasSubstr(secret)));
      }
    }
    controller_.Stop();
    sandbox_.Stop();
  }

  // ForceRefresh of `kind`, the current value reported bad.
  grpc::Status Force(const std::string& key, wxtoken::v1::TokenKind kind) {
    wxtoken::v1::Token current;
    controller_.GetToken(key, &current, kind);
    wxtoken::v1::ForceRefreshResponse response;
    return controller_.ForceRefresh(key, current.value(), &response, kind,
                                    /*errcode=*/0);
  }
  grpc::Status Sign(const std::string& key, bool agent_config,
                    wxtoken::v1::SignJsapiResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    wxtoken::v1::SignJsapiRequest request;
    request.set_app_id(key);
    request.set_url("https://work.example.com/page?x=1#frag");
    request.set_noncestr("Wm3WZYTPz0wzccnW");
    request.set_timestamp(1414587457);
    request.set_agent_config(agent_config);
    return controller_.stub().SignJsapi(&context, request, response);
  }

  std::string dir_;
  Sandbox sandbox_;
  Controller controller_;
};

// Two apps of one corp: each is served its own app's token over several
// rotations (a shared cache entry, the popular SDKs' bug, would hand one
// app the other's), every answer accepted by WeCom throughout its
// max_cache, and one gettoken per rotation of each.
TEST_F(WeComE2eTest, TwoAppsOfOneCorpNeverShareATokenOverRotations) {
  ASSERT_NO_FATAL_FAILURE(
      StartBoth({{kAgentA, kSecretA}, {kAgentB, kSecretB}}));
  MaxCacheChecker checker;
  std::set<std::string> seen[2];
  uint64_t generation[2] = {0, 0};
  const std::string keys[2] = {Key(kAgentA), Key(kAgentB)};
  for (int i = 0; i < 2; ++i) {
    generation[i] = controller_.WaitForToken(keys[i]).generation();
    EXPECT_TRUE(controller_.WaitForHealth(
        absl::StrCat("wxtoken.v1.TokenController/", keys[i]), "SERVING",
        absl::Seconds(10)));
  }
  int checks = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while ((generation[0] < 4 || generation[1] < 4) && absl::Now() < deadline) {
    for (int i = 0; i < 2; ++i) {
      wxtoken::v1::Token token;
      grpc::Status status = controller_.GetToken(keys[i], &token);
      ASSERT_TRUE(status.ok()) << keys[i] << ": " << status.error_message();
      checker.Record(token, absl::Now());
      seen[i].insert(token.value());
      EXPECT_FALSE(seen[1 - i].contains(token.value()))
          << keys[i] << " was served the other app's token";
      if (token.generation() > generation[i]) {
        generation[i] = token.generation();
        EXPECT_EQ(sandbox_.WeComCount(keys[i], "gettoken_calls"),
                  static_cast<int>(generation[i]))
            << keys[i];
      }
    }
    checks += checker.CheckAll(sandbox_);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GE(generation[0], 4u) << "fewer than three rotations";
  EXPECT_GE(generation[1], 4u) << "fewer than three rotations";
  EXPECT_GT(checks, 20);
  EXPECT_EQ(checker.CheckAgainstRecord(sandbox_), 0);
  // Nothing asked WeCom with a wrong secret or for an unknown corp.
  EXPECT_EQ(sandbox_.WeComCount(kCorp, "gettoken_calls"), 0);
}

// WeCom blocks an IP for an hour after 2,000 failed gettoken calls: a wrong
// secret is asked about once per permanent_retry, never in a loop; its
// health name says NOT_SERVING and GetToken names the errcode, while the
// corp's other app is served. A caller's 40001 is the secret's fault there.
TEST_F(WeComE2eTest, ABadSecretIsAskedAboutRarelyAndReported) {
  ASSERT_NO_FATAL_FAILURE(
      StartBoth({{kAgentA, kSecretA}, {kAgentB, "not-the-contacts-secret"}}));
  const wxtoken::v1::Token good = controller_.WaitForToken(Key(kAgentA));
  EXPECT_TRUE(controller_.WaitForHealth(
      absl::StrCat("wxtoken.v1.TokenController/", Key(kAgentB)), "NOT_SERVING",
      absl::Seconds(10)));
  // B's first fetch may still be on its way when A's is served.
  wxtoken::v1::Token token;
  grpc::Status status = controller_.WaitForCode(
      Key(kAgentB), grpc::StatusCode::FAILED_PRECONDITION, absl::Seconds(10),
      &token);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("40001"));

  // A ForceRefresh cannot make it ask again either.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  wxtoken::v1::ForceRefreshRequest request;
  request.set_app_id(Key(kAgentB));
  request.set_wechat_errcode(42001);
  wxtoken::v1::ForceRefreshResponse response;
  status = controller_.stub().ForceRefresh(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // The good app's caller reporting 40001 is told it is the secret's fault.
  grpc::ClientContext context2;
  request.set_app_id(Key(kAgentA));
  request.set_stale_value(good.value());
  request.set_wechat_errcode(40001);
  status = controller_.stub().ForceRefresh(&context2, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("secret"));

  absl::SleepFor(absl::Seconds(3));
  // One failed call, under the corp (WeCom cannot tell which app it was
  // meant for); permanent_retry (1h here) holds the next.
  EXPECT_EQ(sandbox_.WeComCount(kCorp, "gettoken_calls"), 1);
  EXPECT_EQ(sandbox_.WeComCount(kCorp, "gettoken_failures"), 1);
  EXPECT_TRUE(controller_.GetToken(Key(kAgentA), &token).ok());
}

// The corp's jsapi ticket (one for the corp, served under each app) and an
// app's agent_config ticket; pages signed with each. A ForceRefresh flood
// never takes WeCom past the hourly budgets, by WeCom's (the sandbox's)
// own count, and a crash does not reset what was spent.
TEST_F(WeComE2eTest, TicketsStayWithinTheHourlyBudgetsThroughAFloodAndACrash) {
  Controller::App with_ticket(kAgentB, kSecretB);
  with_ticket.tickets = {"agent_config"};
  Controller::Options options;
  options.state_dir = MakeTempDir("wecom-state");
  options.corp_ticket_hourly_budget = 3;
  options.app_ticket_hourly_budget = 4;
  // Tickets last a minute: no scheduled renewal within the test.
  dir_ = MakeTempDir("wecom");
  Sandbox::Options sandbox;
  sandbox.wecom_apps = {{Key(kAgentA), kSecretA}, {Key(kAgentB), kSecretB}};
  ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
  options.base_url = sandbox_.base_url();
  options.wecom_corps = {
      {kCorp, {{kAgentA, kSecretA}, with_ticket}, {"jsapi"}}};
  ASSERT_NO_FATAL_FAILURE(controller_.Start(options, dir_));

  const auto kJsapi = wxtoken::v1::TOKEN_KIND_JSAPI_TICKET;
  const auto kAgentConfig = wxtoken::v1::TOKEN_KIND_AGENT_CONFIG_TICKET;
  const wxtoken::v1::Token corp_ticket =
      controller_.WaitForToken(Key(kAgentA), 0, kJsapi);
  EXPECT_EQ(controller_.WaitForToken(Key(kAgentB), 0, kJsapi).value(),
            corp_ticket.value());
  const wxtoken::v1::Token agent_ticket =
      controller_.WaitForToken(Key(kAgentB), 0, kAgentConfig);
  EXPECT_NE(agent_ticket.value(), corp_ticket.value());
  wxtoken::v1::Token none;
  EXPECT_EQ(
      controller_.GetToken(Key(kAgentA), &none, kAgentConfig).error_code(),
      grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(sandbox_.WeComCount(kCorp, "corp_ticket_calls"), 1);
  EXPECT_EQ(sandbox_.WeComCount(Key(kAgentB), "agent_ticket_calls"), 1);

  // wx.config: signed with the corp's ticket, appId the corp; and
  // wx.agentConfig with the app's own.
  const std::string signed_text =
      "&noncestr=Wm3WZYTPz0wzccnW&timestamp=1414587457"
      "&url=https://work.example.com/page?x=1";
  wxtoken::v1::SignJsapiResponse page;
  ASSERT_TRUE(Sign(Key(kAgentB), false, &page).ok());
  EXPECT_EQ(page.app_id(), kCorp);
  EXPECT_EQ(
      page.signature(),
      Sha1Hex(absl::StrCat("jsapi_ticket=", corp_ticket.value(), signed_text)));
  ASSERT_TRUE(Sign(Key(kAgentB), true, &page).ok());
  EXPECT_EQ(page.app_id(), kCorp);
  EXPECT_EQ(page.agent_id(), kAgentB);
  EXPECT_EQ(page.signature(),
            Sha1Hex(absl::StrCat("jsapi_ticket=", agent_ticket.value(),
                                 signed_text)));
  EXPECT_EQ(Sign(Key(kAgentA), true, &page).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // The flood: each call reports the current value bad.
  auto flood = [&](const std::string& key, wxtoken::v1::TokenKind kind,
                   const char* budget_key) {
    int refused = 0;
    for (int i = 0; i < 8; ++i) {
      grpc::Status status = Force(key, kind);
      if (status.ok()) continue;
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      EXPECT_THAT(status.error_message(), HasSubstr(budget_key));
      ++refused;
    }
    return refused;
  };
  // ForceRefresh may spend all but one of each: 2 and 3.
  EXPECT_EQ(flood(Key(kAgentB), kJsapi, "wecom.corp_ticket_hourly_budget"), 7);
  EXPECT_EQ(flood(Key(kAgentB), kAgentConfig, "wecom.app_ticket_hourly_budget"),
            6);
  EXPECT_EQ(sandbox_.WeComCount(kCorp, "corp_ticket_calls"), 2);
  EXPECT_EQ(sandbox_.WeComCount(kCorp, "ticket_calls_peak_hour"), 2);
  EXPECT_EQ(sandbox_.WeComCount(Key(kAgentB), "agent_ticket_calls"), 3);
  EXPECT_EQ(sandbox_.WeComCount(Key(kAgentB), "ticket_calls_peak_hour"), 3);
  for (const std::string& key : {std::string(kCorp), Key(kAgentB)}) {
    EXPECT_EQ(sandbox_.WeComCount(key, "ticket_rate_limited"), 0) << key;
  }

  // kill -9 and a new process: the hour's spend is in the state directory.
  controller_.Kill();
  ASSERT_NO_FATAL_FAILURE(controller_.Start(options, dir_));
  controller_.WaitForToken(Key(kAgentB), 0, kAgentConfig);
  EXPECT_EQ(flood(Key(kAgentB), kAgentConfig, "wecom.app_ticket_hourly_budget"),
            8);
  EXPECT_EQ(flood(Key(kAgentA), kJsapi, "wecom.corp_ticket_hourly_budget"), 8);
  EXPECT_EQ(sandbox_.WeComCount(kCorp, "corp_ticket_calls"), 2);
  EXPECT_EQ(sandbox_.WeComCount(Key(kAgentB), "agent_ticket_calls"), 3);
}

// A provider's token: served over rotations, each answer accepted by WeCom
// throughout its max_cache, one get_provider_token per rotation; a wrong
// provider_secret is asked about once and reported.
TEST_F(WeComE2eTest, AProviderTokenIsServedOverRotations) {
  constexpr char kProvider[] = "wwprovider0000001";
  constexpr char kWrong[] = "wwprovider0000002";
  const std::string key = absl::StrCat(kProvider, "/provider");
  const std::string wrong_key = absl::StrCat(kWrong, "/provider");
  dir_ = MakeTempDir("wecom-provider");
  Sandbox::Options sandbox;
  sandbox.wecom_providers = {{kProvider, "provider-secret-5e1a"},
                             {kWrong, "provider-secret-77c0"}};
  sandbox.lifetime = absl::Seconds(6);
  sandbox.overlap = absl::Seconds(3);
  ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
  Controller::Options options;
  options.base_url = sandbox_.base_url();
  options.overlap = "3s";
  options.margin = "2s";
  options.wecom_providers = {{kProvider, "provider-secret-5e1a"},
                             {kWrong, "not-the-provider-secret"}};
  ASSERT_NO_FATAL_FAILURE(controller_.Start(options, dir_));

  MaxCacheChecker checker;
  uint64_t generation = controller_.WaitForToken(key).generation();
  int checks = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (generation < 3 && absl::Now() < deadline) {
    wxtoken::v1::Token token;
    grpc::Status status = controller_.GetToken(key, &token);
    ASSERT_TRUE(status.ok()) << status.error_message();
    checker.Record(token, absl::Now());
    if (token.generation() > generation) {
      generation = token.generation();
      EXPECT_EQ(sandbox_.WeComProviderCount(kProvider, "provider_token_calls"),
                static_cast<int>(generation));
    }
    checks += checker.CheckAll(sandbox_);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GE(generation, 3u) << "fewer than two rotations";
  EXPECT_GT(checks, 10);
  EXPECT_EQ(checker.CheckAgainstRecord(sandbox_), 0);

  EXPECT_TRUE(controller_.WaitForHealth(
      absl::StrCat("wxtoken.v1.TokenController/", wrong_key), "NOT_SERVING",
      absl::Seconds(10)));
  wxtoken::v1::Token token;
  grpc::Status status = controller_.GetToken(wrong_key, &token);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("40001"));
  EXPECT_EQ(sandbox_.WeComProviderCount(kWrong, "provider_token_calls"), 1);
  EXPECT_THAT(controller_.Logs(), Not(HasSubstr("provider-secret-5e1a")));
}

}  // namespace
}  // namespace wxtoken::testing
