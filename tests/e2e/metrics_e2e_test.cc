// End-to-end: /metrics of the real wxtokend after a known set of calls.
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kApp[] = "wxmetrics000000001";
constexpr char kSecret[] = "metrics-app-secret-9b2e";

// The value of the series printed exactly as `series` (name{labels}), or -1.
double Value(const std::string& metrics, const std::string& series) {
  std::istringstream lines(metrics);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) != 0) continue;
    double value = -1;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
  }
  return -1;
}

std::string Rpc(const std::string& method, const std::string& code) {
  return absl::StrCat("wxtoken_rpc_requests_total{caller=\"any\",code=\"", code,
                      "\",method=\"/wxtoken.v1.TokenController/", method,
                      "\"}");
}

// The wxtoken-error-origin trailer of a finished call, or "" without one.
std::string ErrorOrigin(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto origin = trailers.find("wxtoken-error-origin");
  return origin == trailers.end()
             ? std::string()
             : std::string(origin->second.data(), origin->second.size());
}

// The sandbox_ and a wxtokend serving kApp, with /metrics.
class MetricsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = MakeTempDir("run");
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start({{{kApp, kSecret}}}, dir));
    Controller::Options options;
    options.base_url = sandbox_.base_url();
    options.apps = {{kApp, kSecret, "classic", ""}};
    options.metrics = true;
    // A whitelist error is retried this soon once fixed.
    options.permanent_retry = "2s";
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options, dir));
    ASSERT_TRUE(controller_.WaitForHealth("", "SERVING", absl::Seconds(20)));
  }

  Sandbox sandbox_;
  Controller controller_;
};

TEST_F(MetricsE2eTest, CountersAndGaugesMatchKnownCalls) {
  wxtoken::v1::Token token;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(controller_.GetToken(kApp, &token).ok());
  }
  wxtoken::v1::Token missing;
  EXPECT_EQ(controller_.GetToken("wxnobody", &missing).error_code(),
            grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::ForceRefreshRequest request;
    request.set_app_id(kApp);
    request.set_stale_value("an-older-token");
    wxtoken::v1::ForceRefreshResponse response;
    ASSERT_TRUE(
        controller_.stub().ForceRefresh(&context, request, &response).ok());
  }

  const std::string metrics = controller_.ScrapeMetrics();
  EXPECT_EQ(Value(metrics, Rpc("GetToken", "OK")), 3);
  EXPECT_EQ(Value(metrics, Rpc("GetToken", "NOT_FOUND")), 1);
  EXPECT_EQ(Value(metrics, Rpc("ForceRefresh", "OK")), 1);
  EXPECT_EQ(Value(metrics,
                  "wxtoken_rpc_duration_seconds_count{method=\"/"
                  "wxtoken.v1.TokenController/GetToken\"}"),
            4);
  EXPECT_EQ(
      Value(metrics, absl::StrCat("wxtoken_upstream_requests_total{api="
                                  "\"classic\",app_id=\"",
                                  kApp, "\",errcode=\"0\",result=\"ok\"}")),
      1);
  EXPECT_EQ(Value(metrics, absl::StrCat("wxtoken_force_refresh_total{app_id=\"",
                                        kApp, "\",outcome=\"already_newer\"}")),
            1);
  EXPECT_EQ(Value(metrics, absl::StrCat("wxtoken_upstream_fetches_today{app_id="
                                        "\"",
                                        kApp, "\"}")),
            1);
  EXPECT_EQ(Value(metrics, absl::StrCat("wxtoken_upstream_daily_budget{app_id="
                                        "\"",
                                        kApp, "\"}")),
            1900);
  const double expiry =
      Value(metrics, absl::StrCat("wxtoken_token_expiry_seconds{app_id=\"",
                                  kApp, "\",kind=\"access_token\"}"));
  EXPECT_GT(expiry, 30);  // the sandbox's default lifetime is 60 s
  EXPECT_LE(expiry, 60);
  // Metrics carry no secret and no token value.
  EXPECT_THAT(metrics, Not(HasSubstr(kSecret)));
  ASSERT_FALSE(token.value().empty());
  EXPECT_THAT(metrics, Not(HasSubstr(token.value())));

  EXPECT_EQ(controller_.Stop(), 0);
  sandbox_.Stop();
}

// DESIGN.md "Operations": quota.poll_interval exports WeChat's own count of
// each token endpoint's use, which equals the sandbox's after some fetches.
TEST(QuotaE2eTest, TheGaugesEqualWeChatsOwnCount) {
  const std::string dir = MakeTempDir("quota");
  Sandbox sandbox;
  ASSERT_NO_FATAL_FAILURE(sandbox.Start({{{kApp, kSecret}}}, dir));
  Controller controller;
  Controller::Options options;
  options.base_url = sandbox.base_url();
  options.apps = {{kApp, kSecret, "classic", ""}};
  options.metrics = true;
  options.quota_poll_interval = "1s";
  ASSERT_NO_FATAL_FAILURE(controller.Start(options, dir));
  wxtoken::v1::Token token = controller.WaitForToken(kApp);
  for (int i = 0; i < 3; ++i) {
    wxtoken::v1::ForceRefreshResponse response;
    ASSERT_TRUE(controller.ForceRefresh(kApp, token.value(), &response).ok());
    token = response.token();
  }
  const int used = sandbox.QuotaUsedToday(kApp);
  EXPECT_EQ(used, 4);
  const std::string series =
      absl::StrCat("{app_id=\"", kApp, "\",cgi_path=\"/cgi-bin/token\"}");
  std::string metrics;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    absl::SleepFor(absl::Milliseconds(100));
    metrics = controller.ScrapeMetrics();
  } while (Value(metrics, "wxtoken_wechat_quota_used" + series) != used &&
           absl::Now() < deadline);
  EXPECT_EQ(Value(metrics, "wxtoken_wechat_quota_used" + series), used);
  EXPECT_EQ(Value(metrics, "wxtoken_wechat_quota_daily_limit" + series), 2000);
  EXPECT_EQ(Value(metrics, "wxtoken_wechat_quota_remain" + series),
            2000 - used);
  // Asking spent nothing: WeChat's count and our budget are unchanged.
  EXPECT_EQ(sandbox.QuotaUsedToday(kApp), used);
  EXPECT_EQ(Value(metrics, absl::StrCat("wxtoken_upstream_fetches_today{"
                                        "app_id=\"",
                                        kApp, "\"}")),
            used);
  EXPECT_EQ(controller.Stop(), 0);
  sandbox.Stop();
}

// DESIGN.md "Operations": WeChat refuses the server's IP (40164 naming it):
// the answer and the metric say which IP to whitelist, until it is fixed.
TEST_F(MetricsE2eTest, AWhitelistErrorNamesTheIpUntilFixed) {
  const wxtoken::v1::Token token = controller_.WaitForToken(kApp);
  sandbox_.InjectFault("errcode", 1000, "errcode=40164&endpoint=token");
  wxtoken::v1::ForceRefreshResponse response;
  const grpc::Status refused =
      controller_.ForceRefresh(kApp, token.value(), &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(),
              HasSubstr("WeChat saw this server as 127.0.0.1: add it to the "
                        "IP whitelist (errcode 40164)"));
  const std::string blocked = absl::StrCat(
      "wxtoken_whitelist_blocked{app_id=\"", kApp, "\",ip=\"127.0.0.1\"}");
  EXPECT_EQ(Value(controller_.ScrapeMetrics(), blocked), 1);
  EXPECT_THAT(controller_.Logs(), HasSubstr("\"egress_ip\":\"127.0.0.1\""));
  // `wxtoken status`: the owner is whitelist_blocked, with the IP, WeChat's
  // errcode and its request id; exit status 1 (an owner not serving).
  auto [blocked_exit, table] = controller_.Cli({"status"});
  EXPECT_EQ(blocked_exit, 1) << table;
  EXPECT_THAT(table, HasSubstr(kApp));
  EXPECT_THAT(table, HasSubstr("whitelist_blocked"));
  EXPECT_THAT(table, HasSubstr("WeChat saw this server as 127.0.0.1: add it "
                               "to the IP whitelist; errcode 40164"));
  EXPECT_THAT(table, HasSubstr("rid: sandbox"));
  EXPECT_THAT(table, Not(HasSubstr(token.value())));
  auto [json_exit, json] = controller_.Cli({"--json", "status", kApp});
  EXPECT_EQ(json_exit, 1) << json;
  EXPECT_THAT(json, HasSubstr("\"state\":\"OWNER_STATE_WHITELIST_BLOCKED\""));
  EXPECT_THAT(json, HasSubstr("\"egress_ip\":\"127.0.0.1\""));
  EXPECT_THAT(json, HasSubstr("\"errcode\":40164"));
  // Whitelisted: the retry after permanent_retry succeeds and the series
  // goes.
  sandbox_.ClearFaults();
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (Value(controller_.ScrapeMetrics(), blocked) != -1 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(Value(controller_.ScrapeMetrics(), blocked), -1);
  EXPECT_GT(controller_.WaitForToken(kApp, token.generation()).generation(),
            token.generation());
  // And the state clears.
  auto [cleared_exit, cleared] =
      controller_.Cli({"status", "--state", "serving"});
  EXPECT_EQ(cleared_exit, 0) << cleared;
  EXPECT_THAT(cleared, HasSubstr(kApp));
  EXPECT_THAT(cleared, Not(HasSubstr("whitelist")));
}

// Clients fall back on a cached value only when wxtokend could not be
// reached, so every error wxtokend itself answers is marked, GetToken's
// (which records its own calls, apart from the interceptor) and the others'.
TEST_F(MetricsE2eTest, WxtokendsOwnErrorsAreMarkedAsItsAnswer) {
  // The origin marker of one GetToken of `app_id`, or "" without one.
  auto get_token_origin = [&](const std::string& app_id,
                              grpc::StatusCode want) {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::GetTokenRequest request;
    request.set_app_id(app_id);
    wxtoken::v1::GetTokenResponse response;
    EXPECT_EQ(
        controller_.stub().GetToken(&context, request, &response).error_code(),
        want)
        << app_id;
    return ErrorOrigin(context);
  };
  EXPECT_EQ(get_token_origin(kApp, grpc::StatusCode::OK), "");
  EXPECT_EQ(get_token_origin("wxnobody", grpc::StatusCode::NOT_FOUND),
            "wxtokend");
  EXPECT_EQ(get_token_origin("", grpc::StatusCode::INVALID_ARGUMENT),
            "wxtokend");
  {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::ForceRefreshRequest request;
    request.set_app_id("wxnobody");
    wxtoken::v1::ForceRefreshResponse response;
    EXPECT_EQ(controller_.stub()
                  .ForceRefresh(&context, request, &response)
                  .error_code(),
              grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(ErrorOrigin(context), "wxtokend");
  }
  EXPECT_EQ(controller_.Stop(), 0);
  sandbox_.Stop();
}

}  // namespace
}  // namespace wxtoken::testing
