// wxtokend behind TLS and mTLS (DESIGN.md "Security"): certificates made
// with openssl at test time, the real wxtokend and sandbox, real gRPC.
// Who may call what (callers), the audit trail, certificates replaced
// while running, the plaintext health listener and config errors.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "tests/e2e/test_certs.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAppA[] = "wx0000000000000a01";
constexpr char kAppB[] = "wx0000000000000b02";
constexpr char kSecretA[] = "secret-of-app-a-0123456789abcdef";
constexpr char kSecretB[] = "secret-of-app-b-0123456789abcdef";
// The name the server certificate carries; clients connect to 127.0.0.1.
constexpr char kServerName[] = "wxtokend.test";
constexpr char kOrders[] = "spiffe://test.local/ns/shop/sa/orders";
constexpr char kAdmin[] = "spiffe://test.local/ns/ops/sa/admin";

// A channel of its own connection: gRPC shares connections between
// channels of equal arguments, and a test of handshakes needs new ones.
std::shared_ptr<grpc::Channel> NewChannel(
    const std::string& address,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  static int channels = 0;
  grpc::ChannelArguments arguments;
  arguments.SetSslTargetNameOverride(kServerName);
  arguments.SetInt("wxtoken.test.channel", ++channels);
  return grpc::CreateCustomChannel(address, credentials, arguments);
}

grpc::Status CallGetToken(const std::shared_ptr<grpc::Channel>& channel,
                          const std::string& app_id,
                          wxtoken::v1::Token* token = nullptr,
                          std::string* server_certificate = nullptr) {
  auto stub = wxtoken::v1::TokenController::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(5));
  wxtoken::v1::GetTokenRequest request;
  request.set_app_id(app_id);
  wxtoken::v1::GetTokenResponse response;
  grpc::Status status = stub->GetToken(&context, request, &response);
  if (token != nullptr) *token = response.token();
  if (server_certificate != nullptr && context.auth_context() != nullptr) {
    for (const auto& pem :
         context.auth_context()->FindPropertyValues("x509_pem_cert")) {
      *server_certificate = std::string(pem.data(), pem.size());
    }
  }
  return status;
}

grpc::Status CallForceRefresh(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& app_id,
                              const std::string& stale) {
  auto stub = wxtoken::v1::TokenController::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(10));
  wxtoken::v1::ForceRefreshRequest request;
  request.set_app_id(app_id);
  request.set_stale_value(stale);
  wxtoken::v1::ForceRefreshResponse response;
  return stub->ForceRefresh(&context, request, &response);
}

// Whether `channel` reaches server reflection: an empty request sent as one
// message, the stream closed; a server without reflection says
// UNIMPLEMENTED.
grpc::StatusCode ReflectionAnswer(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(5));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context,
                 "/grpc.reflection.v1alpha.ServerReflection/"
                 "ServerReflectionInfo",
                 grpc::StubOptions(), &request, &response,
                 [&](grpc::Status answer) {
                   status = std::move(answer);
                   done.Notify();
                 });
  done.WaitForNotification();
  return status.error_code();
}

class SecurityE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("security");
    ca_ = std::make_unique<TestCa>(dir_, "ca");
    other_ca_ = std::make_unique<TestCa>(dir_, "other-ca");
    server_ = ca_->Issue("server", {absl::StrCat("DNS:", kServerName)});
    admin_ = ca_->Issue("admin", {absl::StrCat("URI:", kAdmin)});
    orders_ = ca_->Issue(
        "orders", {absl::StrCat("URI:", kOrders), "DNS:orders.shop.svc"});
    billing_ = ca_->Issue("billing", {"DNS:billing.internal"});
    stranger_ = other_ca_->Issue("stranger", {absl::StrCat("URI:", kAdmin)});
    ASSERT_FALSE(HasFailure()) << "openssl could not make the certificates";
    Sandbox::Options sandbox;
    sandbox.apps = {{kAppA, kSecretA}, {kAppB, kSecretB}};
    sandbox.lifetime = absl::Seconds(120);
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
  }
  void TearDown() override {
    // (The config-error test starts no controller: no logs.)
    if (!HasFailure() && !controller_.Logs().empty()) {
      ExpectJsonLogLines(controller_.Logs());
      EXPECT_THAT(controller_.Logs(), Not(HasSubstr(kSecretA)));
      EXPECT_THAT(controller_.Logs(), Not(HasSubstr(kSecretB)));
    }
    controller_.Stop();
    sandbox_.Stop();
  }

  std::string TlsYaml(bool mtls) const {
    return absl::StrCat(
        "tls:\n  cert_file: \"", server_.cert, "\"\n", "  key_file: \"",
        server_.key, "\"\n",
        mtls ? absl::StrCat("  client_ca_file: \"", ca_->cert(), "\"\n") : "");
  }

  // Starts wxtokend with `security_yaml`; the harness talks to it as
  // `harness_client` (null: TLS without a client certificate).
  void StartController(const std::string& security_yaml,
                       const CertFiles* harness_client, bool metrics = false) {
    Controller::Options options;
    options.base_url = sandbox_.base_url();
    options.apps = {{kAppA, kSecretA}, {kAppB, kSecretB}};
    options.security_yaml = security_yaml;
    options.credentials = TlsCredentials(ca_->cert(), harness_client);
    options.tls_server_name = kServerName;
    options.metrics = metrics;
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options, dir_));
  }

  // Replaces `from` by `to` in the running config, as Kubernetes swaps a
  // ConfigMap (a rename), and asks for a reload (SIGHUP).
  void ReplaceInConfig(const std::string& from, const std::string& to) {
    std::ifstream in(controller_.config_path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string replaced = absl::StrReplaceAll(text.str(), {{from, to}});
    ASSERT_NE(replaced, text.str());
    const std::string staged = controller_.config_path() + ".staged";
    WriteFile(staged, replaced);
    ASSERT_EQ(rename(staged.c_str(), controller_.config_path().c_str()), 0);
    controller_.Reload();
  }

  // The first token of `app_id`, through the harness's channel.
  wxtoken::v1::Token WaitForToken(const std::string& app_id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    wxtoken::v1::Token token;
    while (absl::Now() < deadline) {
      grpc::ClientContext context;
      SetDeadline(context, absl::Seconds(2));
      wxtoken::v1::GetTokenRequest request;
      request.set_app_id(app_id);
      wxtoken::v1::GetTokenResponse response;
      if (controller_.stub().GetToken(&context, request, &response).ok()) {
        return response.token();
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "no token for " << app_id;
    return token;
  }

  std::string dir_;
  std::unique_ptr<TestCa> ca_;
  std::unique_ptr<TestCa> other_ca_;
  CertFiles server_, admin_, orders_, billing_, stranger_;
  Sandbox sandbox_;
  Controller controller_;
};

TEST_F(SecurityE2eTest, TlsRefusesPlaintextAndMtlsRefusesForeignCertificates) {
  ASSERT_NO_FATAL_FAILURE(StartController(TlsYaml(/*mtls=*/false), nullptr));
  WaitForToken(kAppA);
  const std::string address = controller_.address();
  EXPECT_TRUE(
      CallGetToken(NewChannel(address, TlsCredentials(ca_->cert())), kAppA)
          .ok());
  EXPECT_EQ(CallGetToken(grpc::CreateChannel(
                             address, grpc::InsecureChannelCredentials()),
                         kAppA)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "plaintext reaches a TLS listener";
  // A client that does not trust the server's CA refuses it.
  EXPECT_EQ(CallGetToken(NewChannel(address, TlsCredentials(other_ca_->cert())),
                         kAppA)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  controller_.Stop();

  ASSERT_NO_FATAL_FAILURE(StartController(TlsYaml(/*mtls=*/true), &admin_));
  WaitForToken(kAppA);
  const std::string mtls_address = controller_.address();
  EXPECT_TRUE(CallGetToken(NewChannel(mtls_address,
                                      TlsCredentials(ca_->cert(), &orders_)),
                           kAppA)
                  .ok());
  EXPECT_EQ(
      CallGetToken(NewChannel(mtls_address, TlsCredentials(ca_->cert())), kAppA)
          .error_code(),
      grpc::StatusCode::UNAVAILABLE)
      << "no client certificate passes the handshake";
  EXPECT_EQ(CallGetToken(NewChannel(mtls_address,
                                    TlsCredentials(ca_->cert(), &stranger_)),
                         kAppA)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "a certificate of another CA passes the handshake";
}

TEST_F(SecurityE2eTest, CallersAreGrantedMethodsOnAppsAndNothingElse) {
  const std::string callers = absl::StrCat(
      "callers:\n", "  - principal: \"", kAdmin, "\"\n", "    apps: [\"*\"]\n",
      "    methods: [\"*\"]\n", "  - principal: \"", kOrders, "\"\n",
      "    apps: [\"", kAppA, "\"]\n", "    methods: [\"GetToken\"]\n",
      "  - principal: \"dns:billing.internal\"\n", "    apps: [\"", kAppB,
      "\"]\n", "    methods: [\"GetToken\", \"ForceRefresh\"]\n",
      // Neither a DNS SAN of a certificate that has a URI SAN, nor a
      // subject CN, is ever a principal.
      "  - principal: \"dns:orders.shop.svc\"\n", "    apps: [\"*\"]\n",
      "    methods: [\"*\"]\n", "  - principal: \"dns:cn-only-cn\"\n",
      "    apps: [\"*\"]\n", "    methods: [\"*\"]\n");
  const CertFiles cn_only = ca_->Issue("cn-only", {});
  ASSERT_NO_FATAL_FAILURE(
      StartController(TlsYaml(true) + callers, &admin_, /*metrics=*/true));
  const wxtoken::v1::Token a = WaitForToken(kAppA);
  const wxtoken::v1::Token b = WaitForToken(kAppB);
  const int calls_a = sandbox_.TokenCalls(kAppA);
  const int calls_b = sandbox_.TokenCalls(kAppB);
  auto orders =
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &orders_));

  wxtoken::v1::Token token;
  ASSERT_TRUE(CallGetToken(orders, kAppA, &token).ok());
  EXPECT_EQ(token.value(), a.value());
  grpc::Status denied = CallGetToken(orders, kAppB);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(),
            absl::StrCat(kOrders, " may not call GetToken on ", kAppB));
  denied = CallForceRefresh(orders, kAppA, a.value());
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(),
            absl::StrCat(kOrders, " may not call ForceRefresh on ", kAppA));
  // A certificate without a URI SAN is known by its DNS SANs.
  auto billing =
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &billing_));
  EXPECT_TRUE(CallGetToken(billing, kAppB).ok());
  denied = CallGetToken(billing, kAppA);
  EXPECT_EQ(
      denied.error_message(),
      absl::StrCat("dns:billing.internal may not call GetToken on ", kAppA));

  auto cn =
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &cn_only));
  denied = CallGetToken(cn, kAppA);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(),
            absl::StrCat("(a certificate without URI or DNS SAN) may not call "
                         "GetToken on ",
                         kAppA));

  // Nothing was fetched and nothing changed.
  EXPECT_EQ(sandbox_.TokenCalls(kAppA), calls_a);
  EXPECT_EQ(sandbox_.TokenCalls(kAppB), calls_b);
  EXPECT_EQ(WaitForToken(kAppA).value(), a.value());
  EXPECT_EQ(WaitForToken(kAppA).generation(), a.generation());
  EXPECT_EQ(WaitForToken(kAppB).value(), b.value());
  // Denied calls are logged and counted, by caller.
  EXPECT_THAT(controller_.Logs(), HasSubstr("permission denied"));
  const std::string metrics = controller_.ScrapeMetrics();
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat(
                           "wxtoken_rpc_requests_total{caller=\"", kOrders,
                           "\",code=\"PERMISSION_DENIED\",method=\"/"
                           "wxtoken.v1.TokenController/ForceRefresh\"} 1")));
  // GetToken records its own calls, with the same labels.
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat(
                           "wxtoken_rpc_requests_total{caller=\"", kOrders,
                           "\",code=\"OK\",method=\"/"
                           "wxtoken.v1.TokenController/GetToken\"} 1")));
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat(
                           "wxtoken_rpc_requests_total{caller=\"", kOrders,
                           "\",code=\"PERMISSION_DENIED\",method=\"/"
                           "wxtoken.v1.TokenController/GetToken\"} 1")));
}

// DESIGN.md "Operations": ListOwners and DescribeOwner are granted like
// the other methods; a caller sees only the owners its grants name.
TEST_F(SecurityE2eTest, OwnersAreListedOnlyAsGranted) {
  const std::string callers = absl::StrCat(
      "callers:\n", "  - principal: \"", kAdmin, "\"\n", "    apps: [\"*\"]\n",
      "    methods: [\"*\"]\n", "  - principal: \"", kOrders, "\"\n",
      "    apps: [\"", kAppA, "\"]\n",
      "    methods: [\"ListOwners\", \"DescribeOwner\"]\n",
      "  - principal: \"dns:billing.internal\"\n", "    apps: [\"*\"]\n",
      "    methods: [\"GetToken\"]\n");
  ASSERT_NO_FATAL_FAILURE(StartController(TlsYaml(true) + callers, &admin_));
  WaitForToken(kAppA);
  WaitForToken(kAppB);
  auto list = [&](const std::shared_ptr<grpc::Channel>& channel,
                  std::vector<std::string>* owners) {
    auto stub = wxtoken::v1::TokenController::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(5));
    wxtoken::v1::ListOwnersResponse response;
    const grpc::Status status =
        stub->ListOwners(&context, wxtoken::v1::ListOwnersRequest(), &response);
    for (const wxtoken::v1::OwnerStatus& owner : response.owners()) {
      owners->push_back(owner.app_id());
    }
    return status;
  };
  auto describe = [&](const std::shared_ptr<grpc::Channel>& channel,
                      const std::string& app_id) {
    auto stub = wxtoken::v1::TokenController::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(5));
    wxtoken::v1::DescribeOwnerRequest request;
    request.set_app_id(app_id);
    wxtoken::v1::DescribeOwnerResponse response;
    return stub->DescribeOwner(&context, request, &response);
  };
  auto admin =
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &admin_));
  auto orders =
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &orders_));
  auto billing =
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &billing_));

  std::vector<std::string> owners;
  ASSERT_TRUE(list(admin, &owners).ok());
  EXPECT_THAT(owners, ::testing::ElementsAre(kAppA, kAppB));
  owners.clear();
  ASSERT_TRUE(list(orders, &owners).ok());
  EXPECT_THAT(owners, ::testing::ElementsAre(kAppA));
  EXPECT_TRUE(describe(orders, kAppA).ok());
  grpc::Status denied = describe(orders, kAppB);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(),
            absl::StrCat(kOrders, " may not call DescribeOwner on ", kAppB));
  // Granted GetToken on every app, but not ListOwners.
  owners.clear();
  denied = list(billing, &owners);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(),
            "dns:billing.internal may not call ListOwners on *");
  EXPECT_TRUE(owners.empty());
}

TEST_F(SecurityE2eTest, EmptyCallersDenyEveryTokenControllerCall) {
  ASSERT_NO_FATAL_FAILURE(
      StartController(TlsYaml(true) + "callers: []\n", &admin_));
  grpc::Status denied = CallGetToken(
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &admin_)),
      kAppA);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(),
            absl::StrCat(kAdmin, " may not call GetToken on ", kAppA));
  // Health stays open to any caller that passed mTLS.
  EXPECT_TRUE(controller_.WaitForHealth("", "SERVING", absl::Seconds(20)));
}

// Live configuration: grants replaced under a running wxtokend.
TEST_F(SecurityE2eTest, CallersAreReplacedByAReloadWithoutARestart) {
  ASSERT_NO_FATAL_FAILURE(
      StartController(TlsYaml(true) + "callers: []\n", &admin_));
  auto admin =
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &admin_));
  ASSERT_EQ(CallGetToken(admin, kAppA).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_NO_FATAL_FAILURE(ReplaceInConfig(
      "callers: []\n",
      absl::StrCat("callers:\n  - principal: \"", kAdmin,
                   "\"\n    apps: [\"*\"]\n    methods: [\"GetToken\"]\n")));
  grpc::Status status;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    absl::SleepFor(absl::Milliseconds(50));
    status = CallGetToken(admin, kAppA);
  } while (status.error_code() == grpc::StatusCode::PERMISSION_DENIED &&
           absl::Now() < deadline);
  EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "the new grant was not applied";
  // Only what was granted: ForceRefresh stays denied.
  EXPECT_EQ(CallForceRefresh(admin, kAppA, "stale").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// Issue 22, item 5: a reload that takes a grant away ends the streams it
// allowed, instead of letting them deliver every new value until
// watch.max_stream_age.
TEST_F(SecurityE2eTest, AStreamEndsWhenAReloadTakesItsGrantAway) {
  const std::string granted =
      absl::StrCat("callers:\n  - principal: \"", kAdmin,
                   "\"\n    apps: [\"*\"]\n    methods: [\"WatchToken\"]\n");
  ASSERT_NO_FATAL_FAILURE(StartController(TlsYaml(true) + granted, &admin_));
  auto stub = wxtoken::v1::TokenController::NewStub(
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &admin_)));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  wxtoken::v1::WatchTokenRequest request;
  request.set_app_id(kAppA);
  auto reader = stub->WatchToken(&context, request);
  wxtoken::v1::WatchTokenResponse response;
  ASSERT_TRUE(reader->Read(&response)) << "the first message";
  EXPECT_FALSE(response.token().value().empty());
  ASSERT_NO_FATAL_FAILURE(ReplaceInConfig(granted, "callers: []\n"));
  const absl::Time reloaded = absl::Now();
  while (reader->Read(&response)) {
  }
  const grpc::Status ended = reader->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << ended.error_message();
  EXPECT_EQ(ended.error_message(),
            absl::StrCat(kAdmin, " may not call WatchToken on ", kAppA));
  EXPECT_LT(absl::Now() - reloaded, absl::Seconds(30))
      << "ended by the reload, not by the deadline";
}

TEST_F(SecurityE2eTest, AForceRefreshIsAuditedWithItsCallersPrincipal) {
  const std::string callers =
      absl::StrCat("callers:\n", "  - principal: \"", kAdmin, "\"\n",
                   "    apps: [\"*\"]\n", "    methods: [\"*\"]\n",
                   "  - principal: \"", kOrders, "\"\n", "    apps: [\"", kAppA,
                   "\"]\n", "    methods: [\"GetToken\", \"ForceRefresh\"]\n");
  ASSERT_NO_FATAL_FAILURE(
      StartController(TlsYaml(true) + callers, &admin_, /*metrics=*/true));
  const wxtoken::v1::Token a = WaitForToken(kAppA);
  auto orders =
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &orders_));
  ASSERT_TRUE(CallForceRefresh(orders, kAppA, a.value()).ok());
  const wxtoken::v1::Token fresh = WaitForToken(kAppA);
  ASSERT_NE(fresh.value(), a.value());

  const std::string logs = controller_.Logs();
  std::string audit;
  for (absl::string_view line : absl::StrSplit(logs, '\n')) {
    if (absl::StrContains(line, "\"msg\":\"audit\"")) audit = std::string(line);
  }
  EXPECT_THAT(audit, HasSubstr(absl::StrCat("\"caller\":\"", kOrders, "\"")));
  EXPECT_THAT(audit, HasSubstr("\"method\":\"ForceRefresh\""));
  EXPECT_THAT(audit, HasSubstr(absl::StrCat("\"app_id\":\"", kAppA, "\"")));
  const std::string metrics = controller_.ScrapeMetrics();
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat(
                           "wxtoken_rpc_requests_total{caller=\"", kOrders,
                           "\",code=\"OK\",method=\"/"
                           "wxtoken.v1.TokenController/ForceRefresh\"} 1")));
  for (const std::string& text : {controller_.Logs(), metrics}) {
    EXPECT_THAT(text, Not(HasSubstr(a.value())));
    EXPECT_THAT(text, Not(HasSubstr(fresh.value())));
    EXPECT_THAT(text, Not(HasSubstr(kSecretA)));
  }
}

TEST_F(SecurityE2eTest,
       ReplacedCertificatesServeNewConnectionsWithoutARestart) {
  // The server's files, replaced later the way the kubelet swaps a Secret:
  // both files in a new directory, a symlink to it renamed into place, so
  // the watcher never sees a key of one pair with the other's certificate.
  auto pair_directory = [&](const std::string& name, const CertFiles& from) {
    const std::string directory = dir_ + "/" + name;
    ::mkdir(directory.c_str(), 0700);
    WriteFile(directory + "/tls.crt", ReadFileText(from.cert));
    WriteFile(directory + "/tls.key", ReadFileText(from.key));
    return directory;
  };
  const std::string live_dir = dir_ + "/live";
  ASSERT_EQ(
      ::symlink(pair_directory("pair1", server_).c_str(), live_dir.c_str()), 0);
  const CertFiles live = {live_dir + "/tls.crt", live_dir + "/tls.key"};
  ASSERT_NO_FATAL_FAILURE(StartController(
      absl::StrCat("tls:\n  cert_file: \"", live.cert, "\"\n  key_file: \"",
                   live.key, "\"\n  client_ca_file: \"", ca_->cert(), "\"\n"),
      &admin_));
  WaitForToken(kAppA);
  auto existing =
      NewChannel(controller_.address(), TlsCredentials(ca_->cert(), &orders_));
  std::string presented;
  ASSERT_TRUE(CallGetToken(existing, kAppA, nullptr, &presented).ok());
  EXPECT_EQ(presented, ReadFileText(server_.cert));

  const CertFiles renewed =
      ca_->Issue("renewed", {absl::StrCat("DNS:", kServerName)});
  const std::string next_link = dir_ + "/live.next";
  ASSERT_EQ(
      ::symlink(pair_directory("pair2", renewed).c_str(), next_link.c_str()),
      0);
  ASSERT_EQ(std::rename(next_link.c_str(), live_dir.c_str()), 0);

  // New connections get the renewed certificate within the watcher's
  // interval (with slack); the existing channel never fails meanwhile.
  int existing_calls = 0;
  bool renewed_seen = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!renewed_seen && absl::Now() < deadline) {
    EXPECT_TRUE(CallGetToken(existing, kAppA).ok());
    ++existing_calls;
    std::string now_presented;
    grpc::Status status =
        CallGetToken(NewChannel(controller_.address(),
                                TlsCredentials(ca_->cert(), &orders_)),
                     kAppA, nullptr, &now_presented);
    EXPECT_TRUE(status.ok()) << status.error_message();
    renewed_seen = now_presented == ReadFileText(renewed.cert);
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(renewed_seen) << "new connections still get the old certificate";
  EXPECT_GT(existing_calls, 0);
  EXPECT_TRUE(CallGetToken(existing, kAppA).ok());
}

TEST_F(SecurityE2eTest, TheHealthListenerIsPlaintextAndServesHealthOnly) {
  ASSERT_NO_FATAL_FAILURE(StartController(
      TlsYaml(true) + "health_listen: \"127.0.0.1:0\"\n", &admin_));
  WaitForToken(kAppA);
  auto plaintext = grpc::CreateChannel(controller_.health_address(),
                                       grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(plaintext);
  {
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(5));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
  }
  {
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(5));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(absl::StrCat("wxtoken.v1.TokenController/", kAppA));
    auto watch = health->Watch(&context, request);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(watch->Read(&response));
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
    context.TryCancel();
  }
  EXPECT_EQ(CallGetToken(plaintext, kAppA).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(CallForceRefresh(plaintext, kAppA, "").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(ReflectionAnswer(plaintext), grpc::StatusCode::UNIMPLEMENTED);
  // Reflection stays on the main listener (reflection: true by default),
  // open to any caller that passed mTLS.
  EXPECT_EQ(ReflectionAnswer(NewChannel(controller_.address(),
                                        TlsCredentials(ca_->cert(), &orders_))),
            grpc::StatusCode::OK);
  // The main listener stays TLS-only.
  EXPECT_EQ(
      CallGetToken(grpc::CreateChannel(controller_.address(),
                                       grpc::InsecureChannelCredentials()),
                   kAppA)
          .error_code(),
      grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityE2eTest, ReflectionFalseTurnsReflectionOff) {
  ASSERT_NO_FATAL_FAILURE(
      StartController(TlsYaml(false) + "reflection: false\n", nullptr));
  WaitForToken(kAppA);
  EXPECT_EQ(ReflectionAnswer(
                NewChannel(controller_.address(), TlsCredentials(ca_->cert()))),
            grpc::StatusCode::UNIMPLEMENTED);
}

// A bad security config never starts a server: one line naming the key.
TEST_F(SecurityE2eTest, BadSecurityConfigRefusesToStartNamingTheKey) {
  ::mkdir((dir_ + "/a-directory").c_str(), 0700);
  WriteFile(dir_ + "/secret", kSecretA);
  const std::string tls_without_ca = TlsYaml(false);
  // Each error's line, whole or (for one that quotes a long path, cut
  // short) its start and end.
  const struct {
    std::string yaml;
    std::string line;
    std::string end = "";
  } cases[] = {
      {tls_without_ca + "callers: []\n",
       "wxtokend: callers: needs tls.client_ca_file: a caller is known only "
       "by its client certificate\n"},
      {absl::StrCat("tls:\n  cert_file: \"", server_.cert, "\"\n  key_file: \"",
                    dir_, "/a-directory\"\n"),
       "wxtokend: tls.key_file: cannot read \"/tmp/", "\": Is a directory\n"},
      {absl::StrCat(TlsYaml(true), "callers:\n  - principal: \"orders\"\n",
                    "    apps: [\"*\"]\n    methods: [\"GetToken\"]\n"),
       "wxtokend: callers[0].principal: expected a URI SAN (spiffe://...), "
       "\"dns:NAME\" or \"*\", got \"orders\"\n"},
      {absl::StrCat(TlsYaml(true), "callers:\n  - principal: \"*\"\n",
                    "    apps: [\"*\"]\n    methods: [\"getToken\"]\n"),
       "wxtokend: callers[0].methods[0]: unknown method \"getToken\" "
       "(TokenController has GetToken ForceRefresh VerifySignature SignJsapi "
       "SignCard DecryptMessage EncryptReply WatchToken SubmitPlatformPush "
       "ListOwners DescribeOwner, or "
       "\"*\")\n"},
  };
  for (const auto& [yaml, line, end] : cases) {
    const std::string config = dir_ + "/bad.yaml";
    WriteFile(config, absl::StrCat("listen: \"127.0.0.1:0\"\n", yaml,
                                   "apps:\n  - app_id: \"", kAppA, "\"\n",
                                   "    secret_file: \"", dir_, "/secret\"\n"));
    ChildProcess wxtokend({BinaryPath("WXTOKEND"), "--config", config},
                          dir_ + "/bad-wxtokend");
    ASSERT_TRUE(wxtokend.started());
    std::optional<int> status = wxtokend.WaitForExit(absl::Seconds(30));
    ASSERT_TRUE(status.has_value()) << "a bad config must not start a server";
    EXPECT_EQ(*status, 2);
    const std::string error = wxtokend.Stderr();
    if (end.empty()) {
      EXPECT_EQ(error, line);
    } else {
      EXPECT_THAT(error, ::testing::StartsWith(line));
      EXPECT_THAT(error, ::testing::EndsWith(end));
      EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1);
    }
  }
}

}  // namespace
}  // namespace wxtoken::testing
