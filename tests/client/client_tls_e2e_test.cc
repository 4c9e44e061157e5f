// wxtoken::Client and the wxtoken CLI over TLS and mTLS to the real
// wxtokend (certificates made with openssl at test time), with `callers`
// granting the client's certificate what it uses.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "tests/e2e/test_certs.h"
#include "wxtoken/client.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kApp[] = "wxclient0tls000001";
constexpr char kSecret[] = "client-tls-secret-4f1c";
constexpr char kServerName[] = "wxtokend.test";
constexpr char kService[] = "spiffe://test.local/ns/shop/sa/orders";

class ClientTlsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("client-tls");
    ca_ = std::make_unique<TestCa>(dir_, "ca");
    const CertFiles server =
        ca_->Issue("server", {absl::StrCat("DNS:", kServerName)});
    client_ = ca_->Issue("orders", {absl::StrCat("URI:", kService)});
    ASSERT_FALSE(HasFailure()) << "openssl could not make the certificates";
    Sandbox::Options sandbox;
    sandbox.apps = {{kApp, kSecret}};
    sandbox.lifetime = absl::Seconds(120);
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
    Controller::Options options;
    options.base_url = sandbox_.base_url();
    options.apps = {{kApp, kSecret}};
    options.security_yaml = absl::StrCat(
        "tls:\n  cert_file: \"", server.cert, "\"\n  key_file: \"", server.key,
        "\"\n  client_ca_file: \"", ca_->cert(), "\"\n",
        "callers:\n  - principal: \"", kService, "\"\n", "    apps: [\"", kApp,
        "\"]\n", "    methods: [\"GetToken\", \"ForceRefresh\"]\n");
    options.credentials = nullptr;  // the harness's channel is not used
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options, dir_));
  }
  void TearDown() override {
    EXPECT_THAT(controller_.Logs(), Not(HasSubstr(kSecret)));
    controller_.Stop();
    sandbox_.Stop();
  }

  TlsOptions Mtls() const {
    TlsOptions tls;
    tls.ca_file = ca_->cert();
    tls.cert_file = client_.cert;
    tls.key_file = client_.key;
    tls.server_name = kServerName;
    return tls;
  }

  // The first token through a client made with `tls`.
  absl::StatusOr<Token> FirstToken(const TlsOptions& tls) {
    ClientOptions options;
    options.target = controller_.address();
    options.tls = tls;
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    if (!client.ok()) return client.status();
    absl::StatusOr<Token> token;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    do {
      token = (*client)->GetToken(kApp);
    } while (!token.ok() &&
             token.status().code() == absl::StatusCode::kUnavailable &&
             absl::Now() < deadline);
    return token;
  }

  // Runs the CLI with `args` after the TLS flags; its exit status and
  // stdout.
  std::pair<std::optional<int>, std::string> Cli(
      const std::vector<std::string>& args, const std::string& shell = "") {
    std::vector<std::string> argv = {BinaryPath("WXTOKEN_CLI"),
                                     "--addr",
                                     controller_.address(),
                                     "--tls-ca",
                                     ca_->cert(),
                                     "--tls-cert",
                                     client_.cert,
                                     "--tls-key",
                                     client_.key,
                                     "--tls-server-name",
                                     kServerName};
    argv.insert(argv.end(), args.begin(), args.end());
    if (!shell.empty()) {
      // `shell | wxtoken ...`: a value fed on stdin.
      std::string command = shell + " |";
      for (const std::string& arg : argv)
        absl::StrAppend(&command, " '", arg, "'");
      argv = {"/bin/sh", "-c", command};
    }
    static int runs = 0;
    ChildProcess cli(argv, absl::StrCat(dir_, "/cli.", runs++));
    std::optional<int> status = cli.WaitForExit(absl::Seconds(30));
    return {status, cli.Stdout() + cli.Stderr()};
  }

  std::string dir_;
  std::unique_ptr<TestCa> ca_;
  CertFiles client_;
  Sandbox sandbox_;
  Controller controller_;
};

TEST_F(ClientTlsE2eTest, TheClientLibrarySpeaksMtls) {
  absl::StatusOr<Token> token = FirstToken(Mtls());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_FALSE(token->value.empty());

  // Without its certificate the handshake fails: UNAVAILABLE, no token.
  TlsOptions no_certificate = Mtls();
  no_certificate.cert_file.clear();
  no_certificate.key_file.clear();
  ClientOptions options;
  options.target = controller_.address();
  options.tls = no_certificate;
  options.rpc_timeout = absl::Seconds(3);
  absl::StatusOr<std::unique_ptr<Client>> anonymous = Client::Create(options);
  ASSERT_TRUE(anonymous.ok()) << anonymous.status();
  EXPECT_EQ((*anonymous)->GetToken(kApp).status().code(),
            absl::StatusCode::kUnavailable);
  // A server name its certificate does not carry is refused too.
  TlsOptions wrong_name = Mtls();
  wrong_name.server_name = "someone-else.test";
  options.tls = wrong_name;
  absl::StatusOr<std::unique_ptr<Client>> misled = Client::Create(options);
  ASSERT_TRUE(misled.ok()) << misled.status();
  EXPECT_EQ((*misled)->GetToken(kApp).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(ClientTlsE2eTest, UnreadableTlsFilesAreNamedAtCreate) {
  ClientOptions options;
  options.target = controller_.address();
  TlsOptions tls = Mtls();
  tls.cert_file = dir_ + "/missing.crt";
  options.tls = tls;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(client.status().message(),
              HasSubstr(absl::StrCat("TlsOptions.cert_file: cannot read \"",
                                     dir_, "/missing.crt\"")));
  tls = Mtls();
  tls.key_file = tls.cert_file;  // a certificate where the key should be
  options.tls = tls;
  client = Client::Create(options);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(), HasSubstr("TlsOptions.key_file: "));
  EXPECT_THAT(client.status().message(), HasSubstr("holds no PEM PRIVATE KEY"));
}

TEST_F(ClientTlsE2eTest,
       TheCliSpeaksMtlsAndReadsTheStaleValueFromStdinOrAFile) {
  ASSERT_TRUE(FirstToken(Mtls()).ok());
  auto [status, out] = Cli({"get", kApp});
  ASSERT_EQ(status, 0) << out;
  const std::string first(absl::StripAsciiWhitespace(out));
  ASSERT_FALSE(first.empty());

  // The stale value from a file: it never appears on a command line.
  const std::string stale_file = dir_ + "/stale";
  WriteFile(stale_file, first + "\n");
  std::tie(status, out) = Cli({"refresh", kApp, "--stale", "@" + stale_file});
  ASSERT_EQ(status, 0) << out;
  EXPECT_THAT(out, HasSubstr("refreshed "));
  const std::string second(
      absl::StripAsciiWhitespace(out.substr(out.find(' ') + 1)));
  EXPECT_NE(second, first);

  // And from stdin.
  std::tie(status, out) =
      Cli({"refresh", kApp, "--stale", "-"}, absl::StrCat("echo ", second));
  ASSERT_EQ(status, 0) << out;
  EXPECT_THAT(out, Not(HasSubstr(second)));
  EXPECT_THAT(out, HasSubstr("refreshed "));

  std::tie(status, out) =
      Cli({"refresh", kApp, "--stale", "@" + dir_ + "/no-such-file"});
  EXPECT_EQ(status, 64) << out;
  EXPECT_THAT(out, HasSubstr("--stale: cannot read"));
}

}  // namespace
}  // namespace wxtoken::testing
