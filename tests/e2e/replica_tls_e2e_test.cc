// Replicas under mTLS (DESIGN.md "Replicas", "Security"): a follower
// authorizes a ForceRefresh where it arrives and forwards it to the leader
// with the replicas' shared certificate; the leader trusts that
// certificate's forwarding and nobody else's. Real redis-server, real
// wxtokend replicas, the real sandbox, certificates made with openssl.
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "tests/e2e/redis_process.h"
#include "tests/e2e/test_certs.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kApp[] = "wxreplicatls000001";
constexpr char kSecret[] = "replica-tls-secret-81c0";
constexpr char kServerName[] = "wxtokend.test";
constexpr char kReplica[] = "spiffe://test.local/ns/infra/sa/wxtokend";
constexpr char kOrders[] = "spiffe://test.local/ns/shop/sa/orders";
constexpr char kViewer[] = "spiffe://test.local/ns/shop/sa/viewer";

class ReplicaTlsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("replica-tls");
    ca_ = std::make_unique<TestCa>(dir_, "ca");
    // One certificate for every replica, as one Deployment mounts one
    // Secret.
    replica_ = ca_->Issue("replica", {absl::StrCat("URI:", kReplica),
                                      absl::StrCat("DNS:", kServerName)});
    orders_ = ca_->Issue("orders", {absl::StrCat("URI:", kOrders)});
    viewer_ = ca_->Issue("viewer", {absl::StrCat("URI:", kViewer)});
    ASSERT_FALSE(HasFailure()) << "openssl could not make the certificates";
    ASSERT_NO_FATAL_FAILURE(redis_.StartServer(MakeTempDir("redis")));
    Sandbox::Options sandbox;
    sandbox.apps = {{kApp, kSecret}};
    sandbox.lifetime = absl::Seconds(120);
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
  }
  void TearDown() override {
    for (Controller& replica : replicas_) {
      // (The refused-certificate test starts no replica: no logs.)
      if (!HasFailure() && !replica.Logs().empty()) {
        ExpectJsonLogLines(replica.Logs());
        EXPECT_THAT(replica.Logs(), Not(HasSubstr(kSecret)));
      }
      replica.Stop();
    }
    sandbox_.Stop();
  }

  // Starts replica `i` with `certificate` as its own.
  void StartReplica(int i, const CertFiles& certificate) {
    Controller::Options options;
    options.base_url = sandbox_.base_url();
    options.apps = {{kApp, kSecret}};
    options.redis_addresses = redis_.address();
    options.lease_ttl = "3s";
    options.force_min_interval = "1s";
    options.security_yaml = absl::StrCat(
        "tls:\n  cert_file: \"", certificate.cert, "\"\n  key_file: \"",
        certificate.key, "\"\n  client_ca_file: \"", ca_->cert(), "\"\n",
        "callers:\n", "  - principal: \"", kOrders, "\"\n    apps: [\"*\"]\n",
        "    methods: [\"GetToken\", \"ForceRefresh\"]\n", "  - principal: \"",
        kViewer, "\"\n    apps: [\"*\"]\n", "    methods: [\"GetToken\"]\n");
    // The harness's own calls (health, GetToken) go as `orders`.
    options.credentials = TlsCredentials(ca_->cert(), &orders_);
    options.tls_server_name = kServerName;
    if (dirs_[i].empty()) dirs_[i] = MakeTempDir(absl::StrCat("r", i));
    ASSERT_NO_FATAL_FAILURE(replicas_[i].Start(options, dirs_[i]));
  }

  // The leader's index once one holds the lease and both serve a token.
  int WaitForLeaderAndTokens() {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    const int leader = WaitForLeader(replicas_, 2, absl::Seconds(30));
    for (Controller& replica : replicas_) {
      wxtoken::v1::Token token;
      while (!replica.GetToken(kApp, &token).ok() && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(20));
      }
      first_ = token.value();
    }
    return first_.empty() ? -1 : leader;
  }

  std::unique_ptr<wxtoken::v1::TokenController::Stub> StubAs(
      Controller& replica, const CertFiles& as) {
    grpc::ChannelArguments arguments;
    arguments.SetSslTargetNameOverride(kServerName);
    static int channels = 0;
    arguments.SetInt("wxtoken.test.channel", ++channels);
    return wxtoken::v1::TokenController::NewStub(grpc::CreateCustomChannel(
        replica.address(), TlsCredentials(ca_->cert(), &as), arguments));
  }

  grpc::Status ForceRefresh(Controller& replica, const CertFiles& as,
                            bool claim_forwarded = false) {
    auto stub = StubAs(replica, as);
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(15));
    if (claim_forwarded) context.AddMetadata("wxtoken-forwarded", "1");
    wxtoken::v1::ForceRefreshRequest request;
    request.set_app_id(kApp);
    request.set_stale_value(first_);
    wxtoken::v1::ForceRefreshResponse response;
    return stub->ForceRefresh(&context, request, &response);
  }

  std::string dir_;
  std::unique_ptr<TestCa> ca_;
  CertFiles replica_, orders_, viewer_;
  RedisProcess redis_;
  Sandbox sandbox_;
  Controller replicas_[2];
  std::string dirs_[2];
  std::string first_;
};

TEST_F(ReplicaTlsE2eTest, AFollowerForwardsOnlyWhatTheCallerMayOverMtls) {
  ASSERT_NO_FATAL_FAILURE(StartReplica(0, replica_));
  ASSERT_NO_FATAL_FAILURE(StartReplica(1, replica_));
  const int leader_index = WaitForLeaderAndTokens();
  ASSERT_GE(leader_index, 0);
  Controller& follower = replicas_[1 - leader_index];
  Controller& leader = replicas_[leader_index];
  const int calls = sandbox_.TokenCalls(kApp);
  // Not granted: refused where it arrives, nothing forwarded or fetched.
  grpc::Status denied = ForceRefresh(follower, viewer_);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(),
            absl::StrCat(kViewer, " may not call ForceRefresh on ", kApp));
  // Claiming to be a forwarded call does not help a caller that is no
  // replica.
  denied = ForceRefresh(leader, viewer_, /*claim_forwarded=*/true);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(sandbox_.TokenCalls(kApp), calls);
  // Replicas forward ForceRefresh (and an idle authorizer's GetToken):
  // the replicas' own certificate reads no app's token that way.
  {
    auto stub = StubAs(leader, replica_);
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(10));
    context.AddMetadata("wxtoken-forwarded", "1");
    wxtoken::v1::GetTokenRequest request;
    request.set_app_id(kApp);
    wxtoken::v1::GetTokenResponse response;
    EXPECT_EQ(stub->GetToken(&context, request, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }

  // Granted: the follower forwards it to the leader over mTLS with the
  // replicas' certificate, and the leader fetches once.
  grpc::Status refreshed = ForceRefresh(follower, orders_);
  ASSERT_TRUE(refreshed.ok()) << refreshed.error_message();
  EXPECT_EQ(sandbox_.TokenCalls(kApp), calls + 1);
  // It went through the leader: audited there as the replicas' principal.
  EXPECT_THAT(leader.Logs(),
              HasSubstr(absl::StrCat("\"caller\":\"", kReplica, "\"")));
  EXPECT_THAT(follower.Logs(),
              HasSubstr(absl::StrCat("\"caller\":\"", kOrders, "\"")));
}

// A follower trusts as leader only a peer showing the replicas' own
// principal: a certificate of the same CA for someone else gets nothing.
TEST_F(ReplicaTlsE2eTest, ALeaderOfAnotherPrincipalIsNotTrusted) {
  const CertFiles impostor =
      ca_->Issue("impostor", {"URI:spiffe://test.local/ns/shop/sa/impostor",
                              absl::StrCat("DNS:", kServerName)});
  // The impostor starts first and takes the lease; then the honest one.
  ASSERT_NO_FATAL_FAILURE(StartReplica(1, impostor));
  ASSERT_TRUE(
      replicas_[1].WaitForHealth(kLeaderHealth, "SERVING", absl::Seconds(30)));
  ASSERT_NO_FATAL_FAILURE(StartReplica(0, replica_));
  ASSERT_EQ(WaitForLeaderAndTokens(), 1);
  const int calls = sandbox_.TokenCalls(kApp);
  grpc::Status status = ForceRefresh(replicas_[0], orders_);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_EQ(sandbox_.TokenCalls(kApp), calls);
}

// DNS names are often shared (a Service's, localhost): replicas know each
// other only by a URI SAN, and one without refuses to start.
TEST_F(ReplicaTlsE2eTest, AReplicaCertificateWithoutAUriSanIsRefused) {
  const CertFiles dns_only =
      ca_->Issue("dns-only", {absl::StrCat("DNS:", kServerName)});
  WriteFile(dir_ + "/secret", kSecret);
  const std::string config = dir_ + "/dns-only.yaml";
  WriteFile(
      config,
      absl::StrCat("listen: \"127.0.0.1:0\"\nmetrics_listen: \"\"\n",
                   "store:\n  advertise_address: \"127.0.0.1:1\"\n",
                   "  redis:\n    addresses: [\"", redis_.address(), "\"]\n",
                   "tls:\n  cert_file: \"", dns_only.cert, "\"\n  key_file: \"",
                   dns_only.key, "\"\n  client_ca_file: \"", ca_->cert(),
                   "\"\n", "apps:\n  - app_id: \"", kApp, "\"\n",
                   "    secret_file: \"", dir_, "/secret\"\n"));
  ChildProcess wxtokend({BinaryPath("WXTOKEND"), "--config", config},
                        dir_ + "/dns-only");
  ASSERT_TRUE(wxtokend.started());
  std::optional<int> status = wxtokend.WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << "it must not start";
  EXPECT_EQ(*status, 2);
  EXPECT_THAT(wxtokend.Stderr(),
              HasSubstr("wxtokend: tls.cert_file: replicas know each other by "
                        "their certificate's URI SAN"));
}

}  // namespace
}  // namespace wxtoken::testing
