// End-to-end: a WeCom suite (DESIGN.md "WeCom", Suites) served by the real
// wxtokend from the real wechat-sandbox over real gRPC and HTTP on
// loopback: suite_ticket pushes, create_auth exchanged for a permanent code,
// corp tokens through the suite, cancel_auth, a crash, and WeCom's URL
// check. Every bound leaves slack for a loaded 2-core machine.
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/wechat/message_crypto.h"
#include "server/wechat/signature.h"
#include "tests/e2e/e2e_env.h"
#include "tests/e2e/redis_process.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSuite[] = "wwsuitee2e00000001";
constexpr char kSecret[] = "suite-secret-e2e-5b1c";
constexpr char kServerToken[] = "SuiteServerToken";
// 43 characters: base64 of 32 bytes without its '='.
constexpr char kAesKey[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
constexpr char kCorpA[] = "wwcorpe2e0000000a1";
constexpr char kCorpB[] = "wwcorpe2e0000000b2";

// The create_auth → token and cancel_auth → refusal bound (issue 21), and
// how long a test waits for either before it gives up.
constexpr absl::Duration kWithin = absl::Seconds(2 * kLatencySlack);
constexpr absl::Duration kWait = absl::Seconds(20);

std::string CorpKey(const char* corp) {
  return absl::StrCat(kSuite, "/", corp);
}

class WeComSuiteE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("wecom-suite");
    Sandbox::Options sandbox;
    sandbox.wecom_suites = {{kSuite, kSecret, kServerToken, kAesKey}};
    sandbox.suite_ticket_interval = absl::ZeroDuration();  // pushed by hand
    sandbox.lifetime = absl::Seconds(60);
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
    options_.base_url = sandbox_.base_url();
    options_.wecom_suites = {{kSuite, kSecret, kServerToken, kAesKey, ""}};
    options_.state_dir = dir_ + "/state";
    options_.overlap = "3s";
    options_.margin = "2s";
    options_.metrics = true;
    ASSERT_NO_FATAL_FAILURE(StartController());
  }
  void StartController() {
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options_, dir_));
    sandbox_.SetWeComPushBase(
        absl::StrCat("http://127.0.0.1:", controller_.push_port()));
  }
  void TearDown() override {
    if (!::testing::Test::HasFailure()) {
      const std::string logs = controller_.Logs();
      ExpectJsonLogLines(logs);
      for (const char* secret : {kSecret, kServerToken, kAesKey}) {
        EXPECT_THAT(logs, Not(HasSubstr(secret)));
      }
      for (const std::string& code : sandbox_.IssuedPermanentCodes()) {
        EXPECT_THAT(logs, Not(HasSubstr(code))) << "a permanent code logged";
      }
    }
    controller_.Stop();
    sandbox_.Stop();
  }

  // A suite_ticket pushed and taken, then the suite token fetched with it.
  void StartSuite() {
    const Sandbox::PushAnswer push = sandbox_.PushSuiteTicket(kSuite);
    ASSERT_EQ(push.status, 200) << push.body;
    ASSERT_EQ(push.body, "success");
    EXPECT_FALSE(controller_.WaitForToken(kSuite).value().empty());
  }
  // Every file under the state directory.
  std::string StateFiles() {
    std::string all;
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(options_.state_dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      all += std::string(std::istreambuf_iterator<char>(in), {});
    }
    return all;
  }
  int SuiteCount(const char* counter) {
    return sandbox_.WeComSuiteCount(kSuite, counter);
  }
  int CorpCount(const char* corp, const char* counter) {
    return sandbox_.WeComSuiteCorpCount(kSuite, corp, counter);
  }

  std::string dir_;
  Sandbox sandbox_;
  Controller::Options options_;
  Controller controller_;
};

TEST_F(WeComSuiteE2eTest, ACorpIsServedFromInstallToUninstallAndThroughACrash) {
  ASSERT_NO_FATAL_FAILURE(StartSuite());
  EXPECT_EQ(SuiteCount("ticket_pushes_success"), 1);

  // create_auth: answered once the code is durable, the corp's token
  // within 2 s.
  const absl::Time installed_at = absl::Now();
  const Sandbox::PushAnswer install = sandbox_.InstallSuite(kSuite, kCorpA);
  ASSERT_EQ(install.status, 200) << install.body;
  EXPECT_EQ(install.body, "success");
  wxtoken::v1::Token token;
  const grpc::Status served = controller_.WaitForCode(
      CorpKey(kCorpA), grpc::StatusCode::OK, kWait, &token);
  ASSERT_TRUE(served.ok()) << served.error_message();
  const absl::Duration took = absl::Now() - installed_at;
  EXPECT_LT(took, kWithin);
  EXPECT_FALSE(token.value().empty());
  EXPECT_EQ(SuiteCount("permanent_code_calls"), 1);
  EXPECT_EQ(CorpCount(kCorpA, "corp_token_calls"), 1) << controller_.Logs();
  // One from get_permanent_code (v1), one from get_corp_token.
  EXPECT_EQ(CorpCount(kCorpA, "corp_tokens_issued"), 2);

  // A second corp, and a corp never installed is NOT_FOUND (no list API:
  // nothing to take over).
  ASSERT_EQ(sandbox_.InstallSuite(kSuite, kCorpB).status, 200);
  ASSERT_TRUE(
      controller_
          .WaitForCode(CorpKey(kCorpB), grpc::StatusCode::OK, kWait, &token)
          .ok());
  EXPECT_EQ(controller_.GetToken(absl::StrCat(kSuite, "/wwnobody"), &token)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  // The operations view: the suite's ticket age and its corps by state
  // (never a series per corp).
  const std::string metrics = controller_.ScrapeMetrics();
  EXPECT_THAT(metrics,
              HasSubstr(absl::StrCat("wxtoken_platform_authorizers{app_id=\"",
                                     kSuite, "\",state=\"active\"} 2")));
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat(
                           "wxtoken_platform_ticket_created_timestamp_seconds{"
                           "app_id=\"",
                           kSuite, "\",ticket=\"suite_ticket\"}")));
  EXPECT_THAT(metrics, Not(HasSubstr(kCorpA)));

  // Sealed at rest: no permanent code the sandbox issued is in a file.
  const std::vector<std::string> codes = sandbox_.IssuedPermanentCodes();
  ASSERT_EQ(codes.size(), 2u);
  const std::string state = StateFiles();
  EXPECT_FALSE(state.empty());
  for (const std::string& code : codes) {
    EXPECT_THAT(state, Not(HasSubstr(code))) << "a permanent code in plain";
  }

  // kill -9 and a new process: the corps are still installed, from the
  // sealed permanent codes, without a new auth code. A ForceRefresh proves
  // the permanent code works (the stored token would be served as it is).
  controller_.Kill();
  ASSERT_NO_FATAL_FAILURE(StartController());
  wxtoken::v1::Token before;
  ASSERT_TRUE(controller_
                  .WaitForCode(CorpKey(kCorpA), grpc::StatusCode::OK,
                               absl::Seconds(20), &before)
                  .ok());
  wxtoken::v1::ForceRefreshResponse forced;
  const grpc::Status force =
      controller_.ForceRefresh(CorpKey(kCorpA), before.value(), &forced,
                               wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN, 40014);
  ASSERT_TRUE(force.ok()) << force.error_message();
  EXPECT_NE(forced.token().value(), before.value());
  // A and B only. B's used auth code may be tried once more: kill -9 can
  // land before its removal from the suite's record is stored.
  EXPECT_EQ(SuiteCount("permanent_codes_issued"), 2);
  EXPECT_EQ(SuiteCount("installs"), 2);
  EXPECT_GE(CorpCount(kCorpA, "corp_token_calls"), 2);
  EXPECT_EQ(CorpCount(kCorpA, "corp_token_failures"), 0);

  // cancel_auth: FAILED_PRECONDITION within 2 s, and nothing more is sent.
  const absl::Time uninstalled_at = absl::Now();
  const Sandbox::PushAnswer uninstall = sandbox_.UninstallSuite(kSuite, kCorpA);
  ASSERT_EQ(uninstall.status, 200) << uninstall.body;
  EXPECT_EQ(uninstall.body, "success");
  const grpc::Status refused = controller_.WaitForCode(
      CorpKey(kCorpA), grpc::StatusCode::FAILED_PRECONDITION, kWait, &token);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << refused.error_message();
  EXPECT_LT(absl::Now() - uninstalled_at, kWithin);
  EXPECT_THAT(refused.error_message(), HasSubstr("cancel_auth"));
  const int calls = CorpCount(kCorpA, "corp_token_calls");
  EXPECT_FALSE(controller_
                   .ForceRefresh(CorpKey(kCorpA), "", &forced,
                                 wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN, 40014)
                   .ok());
  EXPECT_EQ(CorpCount(kCorpA, "corp_token_calls"), calls);
  // The other corp is untouched.
  EXPECT_TRUE(controller_.GetToken(CorpKey(kCorpB), &token).ok());
}

TEST_F(WeComSuiteE2eTest, WeComsUrlCheckIsAnsweredWithTheDecryptedEchoStr) {
  absl::StatusOr<server::MessageKey> key =
      server::MessageKey::FromEncodingAesKey(kAesKey);
  ASSERT_TRUE(key.ok());
  const std::string plain = "echo-6215493881542193";
  absl::StatusOr<std::string> echostr =
      server::EncryptMessage(*key, kSuite, plain);
  ASSERT_TRUE(echostr.ok());
  const std::string timestamp = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
  const std::string nonce = "1372623149";
  const std::string signature =
      server::WeChatSignature({kServerToken, timestamp, nonce, *echostr});
  httplib::Client client("127.0.0.1", controller_.push_port());
  client.set_read_timeout(std::chrono::seconds(10));
  httplib::Params params = {{"msg_signature", signature},
                            {"timestamp", timestamp},
                            {"nonce", nonce},
                            {"echostr", *echostr}};
  const std::string path = absl::StrCat("/wecom/suite/", kSuite);
  httplib::Result answer = client.Get(path, params, httplib::Headers{});
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, plain);

  params.erase("msg_signature");
  params.emplace("msg_signature", std::string(40, '0'));
  answer = client.Get(path, params, httplib::Headers{});
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400);
  EXPECT_THAT(answer->body, Not(HasSubstr(plain)));
}

// Replicas on one real redis-server (DESIGN.md "Replicas"): pushes that
// reach a follower are stored by the leader; the corp's permanent code is
// sealed in Redis and outlives the leader's kill -9.
TEST(WeComSuiteReplicaE2eTest,
     ACorpInstalledThroughAFollowerOutlivesTheLeader) {
  const std::string dir = MakeTempDir("suite_replicas");
  RedisProcess redis;
  ASSERT_NO_FATAL_FAILURE(redis.StartServer(MakeTempDir("redis")));
  Sandbox sandbox;
  Sandbox::Options sandbox_options;
  sandbox_options.wecom_suites = {{kSuite, kSecret, kServerToken, kAesKey}};
  sandbox_options.suite_ticket_interval = absl::ZeroDuration();
  sandbox_options.lifetime = absl::Seconds(60);
  ASSERT_NO_FATAL_FAILURE(sandbox.Start(sandbox_options, dir));
  Controller::Options options;
  options.base_url = sandbox.base_url();
  // One vault key for both, as pods share one Secret.
  options.wecom_suites = {
      {kSuite, kSecret, kServerToken, kAesKey, RandomVaultKey()}};
  options.overlap = "3s";
  options.margin = "2s";
  options.timeout = "1s";
  options.redis_addresses = redis.address();
  options.lease_ttl = "3s";
  Controller replicas[2];
  for (int i = 0; i < 2; ++i) {
    ASSERT_NO_FATAL_FAILURE(
        replicas[i].Start(options, MakeTempDir(absl::StrCat("replica", i))));
  }
  const int leader = WaitForLeader(replicas, 2, absl::Seconds(30));
  ASSERT_GE(leader, 0);
  Controller& follower = replicas[1 - leader];
  sandbox.SetWeComPushBase(
      absl::StrCat("http://127.0.0.1:", follower.push_port()));

  const Sandbox::PushAnswer ticket = sandbox.PushSuiteTicket(kSuite);
  ASSERT_EQ(ticket.status, 200) << ticket.body;
  EXPECT_EQ(ticket.body, "success");
  follower.WaitForToken(kSuite);
  const Sandbox::PushAnswer install = sandbox.InstallSuite(kSuite, kCorpA);
  ASSERT_EQ(install.status, 200) << install.body;
  EXPECT_EQ(install.body, "success");
  const wxtoken::v1::Token first = follower.WaitForToken(CorpKey(kCorpA));
  ASSERT_FALSE(first.value().empty());

  // kill -9 the leader: the follower leads, and renews the corp's token
  // with the permanent code the old leader sealed.
  replicas[leader].Kill();
  ASSERT_TRUE(
      follower.WaitForHealth(kLeaderHealth, "SERVING", absl::Seconds(30)));
  wxtoken::v1::ForceRefreshResponse forced;
  const grpc::Status force =
      follower.ForceRefresh(CorpKey(kCorpA), first.value(), &forced,
                            wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN, 40014);
  ASSERT_TRUE(force.ok()) << force.error_message();
  EXPECT_NE(forced.token().value(), first.value());
  // Only one exchange succeeded: the follower may try the auth code once
  // more (the leader can die before the code's removal is stored), and
  // WeCom refuses a used code.
  EXPECT_EQ(sandbox.WeComSuiteCount(kSuite, "permanent_codes_issued"), 1);
  EXPECT_EQ(sandbox.WeComSuiteCorpCount(kSuite, kCorpA, "corp_token_failures"),
            0);

  // Sealed in Redis: neither the permanent code nor the auth code in plain.
  absl::StatusOr<std::string> stored = redis.Dump();
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_THAT(*stored, HasSubstr("owner.refresh_token"));
  const std::vector<std::string> codes = sandbox.IssuedPermanentCodes();
  ASSERT_EQ(codes.size(), 1u);
  EXPECT_THAT(*stored, Not(HasSubstr(codes[0])));
  EXPECT_THAT(*stored, Not(HasSubstr(install.code)));
  const std::string logs = follower.Logs();
  ExpectJsonLogLines(logs);
  EXPECT_THAT(logs, Not(HasSubstr("cannot open a sealed credential")));
  EXPECT_THAT(logs, Not(HasSubstr(codes[0])));
  follower.Stop();
  sandbox.Stop();
}

}  // namespace
}  // namespace wxtoken::testing
