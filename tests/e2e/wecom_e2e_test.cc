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
#include "tests/e2e/e2e_env.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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
  wxtoken::v1::Token token;
  grpc::Status status = controller_.GetToken(Key(kAgentB), &token);
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

}  // namespace
}  // namespace wxtoken::testing
