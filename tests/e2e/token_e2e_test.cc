// End-to-end: the real wxtokend against the real wechat-sandbox, over real
// gRPC on loopback. Lifetimes are seconds long so rotations happen in the
// test's time; every bound leaves slack for a loaded 2-core machine.
#include <google/protobuf/util/time_util.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"

namespace wxtoken::testing {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kApp[] = "wxe2e0000000000001";
constexpr char kSecret[] = "e2e-app-secret-4f1c9a";
constexpr char kServerToken[] = "AAAAA";

absl::Duration ToDuration(const google::protobuf::Duration& duration) {
  return absl::Nanoseconds(TimeUtil::DurationToNanoseconds(duration));
}

// Token lifetimes of seconds, so rotations happen within a test: the sandbox
// and wxtokend agree on the overlap, and wxtokend refreshes `margin_s` early.
struct Lifetimes {
  Sandbox::Options sandbox;
  Controller::Options controller;
};
Lifetimes ShortLifetimes(int lifetime_s, int overlap_s, int margin_s) {
  Lifetimes lifetimes;
  lifetimes.sandbox.lifetime = absl::Seconds(lifetime_s);
  lifetimes.sandbox.overlap = absl::Seconds(overlap_s);
  lifetimes.controller.overlap = absl::StrCat(overlap_s, "s");
  lifetimes.controller.margin = absl::StrCat(margin_s, "s");
  return lifetimes;
}

class TokenE2eTest : public ::testing::Test {
 protected:
  void StartBoth(Sandbox::Options sandbox_options,
                 Controller::Options controller_options) {
    dir_ = MakeTempDir("run");
    if (sandbox_options.apps.empty()) {
      sandbox_options.apps = {{kApp, kSecret}};
    }
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox_options, dir_));
    controller_options.base_url = sandbox_.base_url();
    if (controller_options.apps.empty()) {
      controller_options.apps = {{kApp, kSecret, "classic", kServerToken}};
    }
    controller_options_ = controller_options;
    ASSERT_NO_FATAL_FAILURE(controller_.Start(controller_options, dir_));
  }
  void TearDown() override {
    if (!::testing::Test::HasFailure()) {
      // Secrets never reach the log; tokens appear only as fingerprints.
      const std::string logs = controller_.Logs();
      ExpectJsonLogLines(logs);
      EXPECT_THAT(logs, Not(HasSubstr(kSecret)));
      for (const std::string& value : seen_tokens_) {
        EXPECT_THAT(logs, Not(HasSubstr(value))) << "a full token was logged";
      }
    }
    controller_.Stop();
    sandbox_.Stop();
  }
  // GetToken that must succeed within `timeout` (the first fetch is async).
  wxtoken::v1::Token WaitForToken(absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    wxtoken::v1::Token token;
    grpc::Status status;
    while (absl::Now() < deadline) {
      status = controller_.GetToken(kApp, &token);
      if (status.ok()) {
        seen_tokens_.insert(token.value());
        return token;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "no token: " << status.error_message();
    return token;
  }
  grpc::Status ForceRefresh(const std::string& stale,
                            wxtoken::v1::ForceRefreshResponse* response) {
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(20));
    wxtoken::v1::ForceRefreshRequest request;
    request.set_app_id(kApp);
    request.set_stale_value(stale);
    request.set_wechat_errcode(40001);
    grpc::Status status =
        controller_.stub().ForceRefresh(&context, request, response);
    seen_tokens_.insert(response->token().value());
    return status;
  }

  std::string dir_;
  Sandbox sandbox_;
  Controller controller_;
  Controller::Options controller_options_;
  std::set<std::string> seen_tokens_;
};

TEST_F(TokenE2eTest, RotationsKeepEveryAnswerValidForItsMaxCache) {
  Lifetimes lifetimes = ShortLifetimes(4, 3, 2);
  lifetimes.controller.client_max_cache = "1s";
  lifetimes.controller.timeout = "1s";
  ASSERT_NO_FATAL_FAILURE(StartBoth(lifetimes.sandbox, lifetimes.controller));

  MaxCacheChecker checker;
  uint64_t generation = WaitForToken().generation();
  EXPECT_EQ(generation, 1u);
  int answers = 0, checks = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (generation < 4 && absl::Now() < deadline) {
    wxtoken::v1::Token token;
    grpc::Status status = controller_.GetToken(kApp, &token);
    ASSERT_TRUE(status.ok()) << status.error_message();
    checker.Record(token, absl::Now());
    ++answers;
    seen_tokens_.insert(token.value());
    const absl::Duration max_cache = ToDuration(token.max_cache());
    EXPECT_GT(max_cache, absl::ZeroDuration());
    EXPECT_LE(max_cache, absl::Seconds(1));
    if (token.generation() > generation) {
      generation = token.generation();
      // Right after a rotation the next refresh is ~2 s away: the sandbox
      // has seen exactly one fetch per generation.
      EXPECT_EQ(sandbox_.TokenCalls(kApp), static_cast<int>(generation));
    }
    checks += checker.CheckAll(sandbox_);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GE(generation, 4u) << "fewer than three rotations";
  EXPECT_GT(answers, 20);
  EXPECT_GT(checks, 20);
}

TEST_F(TokenE2eTest, ConcurrentForceRefreshesCauseOneFetch) {
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, {}));
  const wxtoken::v1::Token first = WaitForToken();
  ASSERT_EQ(sandbox_.TokenCalls(kApp), 1);

  constexpr int kCallers = 100;
  struct Call {
    grpc::ClientContext context;
    wxtoken::v1::ForceRefreshRequest request;
    wxtoken::v1::ForceRefreshResponse response;
    grpc::Status status;
  };
  std::vector<Call> calls(kCallers);
  absl::BlockingCounter done(kCallers);
  for (Call& call : calls) {
    SetDeadline(call.context, absl::Seconds(30));
    call.request.set_app_id(kApp);
    call.request.set_stale_value(first.value());
    call.request.set_wechat_errcode(40001);
    controller_.stub().async()->ForceRefresh(
        &call.context, &call.request, &call.response,
        [&call, &done](grpc::Status status) {
          call.status = std::move(status);
          done.DecrementCount();
        });
  }
  done.Wait();
  std::set<std::string> values;
  int refreshed = 0;
  for (const Call& call : calls) {
    ASSERT_TRUE(call.status.ok()) << call.status.error_message();
    values.insert(call.response.token().value());
    seen_tokens_.insert(call.response.token().value());
    if (call.response.outcome() == wxtoken::v1::REFRESH_OUTCOME_REFRESHED) {
      ++refreshed;
    }
  }
  EXPECT_EQ(values.size(), 1u) << "everyone gets the one new value";
  EXPECT_NE(*values.begin(), first.value());
  EXPECT_EQ(refreshed, 1);
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 2);
  EXPECT_TRUE(sandbox_.IsValid(*values.begin()));
  // One log line for the fetch, none for the 99 calls that joined it.
  const std::string logs = controller_.Logs();
  size_t requested = 0;
  for (size_t at = logs.find("force refresh requested");
       at != std::string::npos;
       at = logs.find("force refresh requested", at + 1)) {
    ++requested;
  }
  EXPECT_EQ(requested, 1u);

  // Reporting the old value again costs nothing.
  wxtoken::v1::ForceRefreshResponse late;
  ASSERT_TRUE(ForceRefresh(first.value(), &late).ok());
  EXPECT_EQ(late.outcome(), wxtoken::v1::REFRESH_OUTCOME_ALREADY_NEWER);
  EXPECT_EQ(late.token().value(), *values.begin());
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 2);
}

TEST_F(TokenE2eTest, RestartWithStateDirServesTheSameTokenWithoutAFetch) {
  Controller::Options controller;
  controller.state_dir = MakeTempDir("state");
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, controller));
  const wxtoken::v1::Token before = WaitForToken();
  ASSERT_EQ(sandbox_.TokenCalls(kApp), 1);
  EXPECT_EQ(controller_.Stop(), 0) << "SIGTERM exits 0";

  // The state file holds the token, never the secret, readable by us only.
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(controller.state_dir)) {
    ++files;
    struct stat info;
    ASSERT_EQ(stat(entry.path().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u) << entry.path();
    std::ifstream in(entry.path());
    std::string contents((std::istreambuf_iterator<char>(in)), {});
    EXPECT_THAT(contents, Not(HasSubstr(kSecret)));
  }
  EXPECT_EQ(files, 1);

  controller_options_.base_url = sandbox_.base_url();
  ASSERT_NO_FATAL_FAILURE(controller_.Start(controller_options_, dir_));
  EXPECT_TRUE(controller_.WaitForHealth("", "SERVING", absl::Seconds(20)));
  wxtoken::v1::Token after;
  ASSERT_TRUE(controller_.GetToken(kApp, &after).ok());
  EXPECT_EQ(after.value(), before.value());
  EXPECT_EQ(after.generation(), before.generation());
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 1) << "a restart spends no quota";
}

TEST_F(TokenE2eTest, TransientFaultsKeepTheOldTokenUntilTheRotation) {
  // Tokens of 16 s refreshed halfway (the margin is more than half), an
  // overlap of 8 s: the four faults and their backoff (about 2 s) leave the
  // old token 6 s of slack on a loaded machine (with 10 s, 5 s and 4 s, a
  // fresh clone's CI beside other load once ran out of it).
  const Lifetimes lifetimes = ShortLifetimes(16, 8, 10);
  ASSERT_NO_FATAL_FAILURE(StartBoth(lifetimes.sandbox, lifetimes.controller));
  const wxtoken::v1::Token first = WaitForToken();
  // Queued in order for the next fetches: the refresh meets all of them.
  // The slow answer (past the 1 s timeout) comes first: the sandbox issues
  // its token at once, so it is older than the one the later retry gets.
  sandbox_.InjectFault("slow", 1, "delay_ms=1200");
  sandbox_.InjectFault("http500", 1);
  sandbox_.InjectFault("malformed", 1);
  sandbox_.InjectFault("errcode", 1, "errcode=-1");

  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  wxtoken::v1::Token token = first;
  int answers = 0;
  while (token.generation() == first.generation() && absl::Now() < deadline) {
    grpc::Status status = controller_.GetToken(kApp, &token);
    ASSERT_TRUE(status.ok())
        << "GetToken failed during faults: " << status.error_message();
    seen_tokens_.insert(token.value());
    ++answers;
    if (token.generation() == first.generation()) {
      const absl::Time until = absl::Now() + ToDuration(token.max_cache());
      const bool valid = sandbox_.IsValid(token.value());
      if (absl::Now() < until) {
        EXPECT_TRUE(valid);
      }
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(token.generation(), first.generation() + 1);
  EXPECT_TRUE(sandbox_.IsValid(token.value()));
  EXPECT_GE(sandbox_.TokenCalls(kApp), 6) << "1 + 4 faults + 1 success";
  EXPECT_GT(answers, 10);
  EXPECT_THAT(controller_.Logs(), HasSubstr("token fetch failed"));
}

TEST_F(TokenE2eTest, CredentialFaultIsNotHammeredAndNamedOnceExpired) {
  const Lifetimes lifetimes = ShortLifetimes(4, 3, 2);
  ASSERT_NO_FATAL_FAILURE(StartBoth(lifetimes.sandbox, lifetimes.controller));
  const std::string app_service =
      std::string("wxtoken.v1.TokenController/") + kApp;
  WaitForToken();
  EXPECT_TRUE(
      controller_.WaitForHealth(app_service, "SERVING", absl::Seconds(10)));
  sandbox_.InjectFault("errcode", -1, "errcode=40164");

  // The refresh meets 40164: the app turns NOT_SERVING while its token is
  // still valid, and wxtokend waits permanent_retry (1h) before asking again.
  EXPECT_TRUE(
      controller_.WaitForHealth(app_service, "NOT_SERVING", absl::Seconds(20)));
  EXPECT_EQ(controller_.Health(""), "SERVING");
  wxtoken::v1::Token token;
  grpc::Status status;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    status = controller_.GetToken(kApp, &token);
    if (!status.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("40164"));
  absl::SleepFor(absl::Seconds(1));  // room for a retry that must not come
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 2) << "no hammering";
  EXPECT_EQ(controller_.Health("wxtoken.v1.TokenController"), "NOT_SERVING");
  EXPECT_THAT(controller_.Logs(), HasSubstr("40164"));
}

TEST_F(TokenE2eTest, WrongSecretIsFailedPreconditionWith40125) {
  Sandbox::Options sandbox;
  Controller::Options controller;
  controller.apps = {{kApp, "not-the-secret-77", "classic", ""}};
  ASSERT_NO_FATAL_FAILURE(StartBoth(sandbox, controller));
  EXPECT_TRUE(controller_.WaitForHealth("", "SERVING", absl::Seconds(20)))
      << "startup ends with the first attempt, even a failed one";
  wxtoken::v1::Token token;
  grpc::Status status = controller_.GetToken(kApp, &token);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("40125"));
  EXPECT_THAT(status.error_message(), Not(HasSubstr("not-the-secret-77")));
  EXPECT_EQ(
      controller_.Health(std::string("wxtoken.v1.TokenController/") + kApp),
      "NOT_SERVING");
  EXPECT_THAT(controller_.Logs(), Not(HasSubstr("not-the-secret-77")));
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 1);
}

TEST_F(TokenE2eTest, BadRequestsAreRejectedAndLeaveTheStateAlone) {
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, {}));
  const wxtoken::v1::Token before = WaitForToken();
  struct Case {
    std::string app_id;
    grpc::StatusCode code;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"wxunknown", grpc::StatusCode::NOT_FOUND, "app_id"},
      {"", grpc::StatusCode::INVALID_ARGUMENT, "app_id"},
      {std::string(33, 'x'), grpc::StatusCode::INVALID_ARGUMENT, "app_id"},
      {"wx bad/app", grpc::StatusCode::INVALID_ARGUMENT, "app_id"},
  };
  for (const Case& c : cases) {
    wxtoken::v1::Token token;
    grpc::Status status = controller_.GetToken(c.app_id, &token);
    EXPECT_EQ(status.error_code(), c.code) << c.app_id;
    EXPECT_THAT(status.error_message(), HasSubstr(c.field));

    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::ForceRefreshRequest request;
    request.set_app_id(c.app_id);
    wxtoken::v1::ForceRefreshResponse response;
    status = controller_.stub().ForceRefresh(&context, request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.app_id;
    EXPECT_THAT(status.error_message(), HasSubstr(c.field));
  }
  {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::ForceRefreshRequest request;
    request.set_app_id(kApp);
    request.set_stale_value(std::string(5000, 'x'));
    wxtoken::v1::ForceRefreshResponse response;
    grpc::Status status =
        controller_.stub().ForceRefresh(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("stale_value"));
  }
  {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::VerifySignatureRequest request;
    request.set_app_id(kApp);
    request.set_signature("f464b24fc39322e44b38aa78f5edd27bd1441696");
    request.set_timestamp("17140365o4");
    request.set_nonce("1514711492");
    wxtoken::v1::VerifySignatureResponse response;
    grpc::Status status =
        controller_.stub().VerifySignature(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("timestamp"));
  }
  wxtoken::v1::Token after;
  ASSERT_TRUE(controller_.GetToken(kApp, &after).ok());
  EXPECT_EQ(after.value(), before.value());
  EXPECT_EQ(after.generation(), before.generation());
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 1);
}

TEST_F(TokenE2eTest, VerifySignatureMatchesWechatVectors) {
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, {}));
  struct Case {
    std::string signature, timestamp, nonce, encrypt;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"f464b24fc39322e44b38aa78f5edd27bd1441696", "1714036504", "1514711492",
       "", true},
      {"899cf89e464efb63f54ddac96b0a0a235f53aa78", "1714037059", "486452656",
       "", true},
      {"046e02f8204d34f8ba5fa3b1db94908f3df2e9b3", "1714112445", "415670741",
       "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/"
       "Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8"
       "XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+"
       "l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf"
       "8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=",
       true},
      {"f464b24fc39322e44b38aa78f5edd27bd1441697", "1714036504", "1514711492",
       "", false},
      {"f464b24fc39322e44b38aa78f5edd27bd1441696", "1714036505", "1514711492",
       "", false},
  };
  for (const Case& c : cases) {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::VerifySignatureRequest request;
    request.set_app_id(kApp);
    request.set_signature(c.signature);
    request.set_timestamp(c.timestamp);
    request.set_nonce(c.nonce);
    request.set_encrypt(c.encrypt);
    wxtoken::v1::VerifySignatureResponse response;
    grpc::Status status =
        controller_.stub().VerifySignature(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.valid(), c.valid) << c.signature;
    EXPECT_EQ(response.reason().empty(), c.valid);
  }
}

TEST_F(TokenE2eTest, HealthReportsEveryServiceName) {
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, {}));
  EXPECT_TRUE(controller_.WaitForHealth("", "SERVING", absl::Seconds(20)));
  EXPECT_TRUE(controller_.WaitForHealth("wxtoken.v1.TokenController", "SERVING",
                                        absl::Seconds(20)));
  EXPECT_EQ(
      controller_.Health(std::string("wxtoken.v1.TokenController/") + kApp),
      "SERVING");
  EXPECT_EQ(controller_.Health("wxtoken.v1.TokenController/wxnobody"),
            "error 5");  // NOT_FOUND: no such service name
}

// The wxtoken CLI against the real server: what a shell script would see.
class CliE2eTest : public TokenE2eTest {
 protected:
  // Runs the CLI; returns its exit status and stdout.
  std::pair<int, std::string> Cli(const std::vector<std::string>& args) {
    return controller_.Cli(args);
  }
};

TEST_F(CliE2eTest, GetRefreshVerifyAndHealth) {
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, {}));
  const wxtoken::v1::Token token = WaitForToken();

  auto [get_status, get_out] = Cli({"get", kApp});
  EXPECT_EQ(get_status, 0);
  EXPECT_EQ(get_out, token.value() + "\n");

  auto [json_status, json_out] = Cli({"--json", "get", kApp});
  EXPECT_EQ(json_status, 0);
  EXPECT_THAT(json_out, HasSubstr("\"generation\":\"1\""));

  auto [refresh_status, refresh_out] =
      Cli({"refresh", kApp, "--stale", "an-older-token"});
  EXPECT_EQ(refresh_status, 0);
  EXPECT_THAT(refresh_out, HasSubstr("already_newer"));

  auto [valid_status, valid_out] =
      Cli({"verify", kApp, "--signature",
           "f464b24fc39322e44b38aa78f5edd27bd1441696", "--timestamp",
           "1714036504", "--nonce", "1514711492"});
  EXPECT_EQ(valid_status, 0);
  EXPECT_EQ(valid_out, "valid\n");
  auto [invalid_status, invalid_out] =
      Cli({"verify", kApp, "--signature",
           "0464b24fc39322e44b38aa78f5edd27bd1441696", "--timestamp",
           "1714036504", "--nonce", "1514711492"});
  EXPECT_EQ(invalid_status, 1);
  EXPECT_THAT(invalid_out, HasSubstr("invalid"));

  EXPECT_TRUE(controller_.WaitForHealth("", "SERVING", absl::Seconds(20)));
  auto [health_status, health_out] = Cli({"health"});
  EXPECT_EQ(health_status, 0);
  EXPECT_EQ(health_out, "SERVING\n");

  auto [missing_status, missing_out] = Cli({"get", "wxnobody"});
  EXPECT_EQ(missing_status, 2);
  EXPECT_EQ(missing_out, "");
  seen_tokens_.insert(token.value());
}

TEST(WxtokendConfigE2eTest, BadConfigRefusesToStartWithOneLineNamingTheKey) {
  const std::string dir = MakeTempDir("bad-config");
  WriteFile(dir + "/secret", kSecret);
  const std::string config = dir + "/wxtokend.yaml";
  WriteFile(config, absl::StrCat("listen: \"127.0.0.1:0\"\n",
                                 "refresh:\n  overlap: \"ten minutes\"\n",
                                 "apps:\n  - app_id: \"", kApp, "\"\n",
                                 "    secret_file: \"", dir, "/secret\"\n"));
  ChildProcess wxtokend({BinaryPath("WXTOKEND"), "--config", config},
                        dir + "/wxtokend");
  ASSERT_TRUE(wxtokend.started());
  std::optional<int> status = wxtokend.WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << "a bad config must not start a server";
  EXPECT_EQ(*status, 2);
  EXPECT_EQ(wxtokend.Stderr(),
            "wxtokend: refresh.overlap: bad duration \"ten minutes\" (use e.g. "
            "500ms, 30s, 5m)\n");
  EXPECT_THAT(wxtokend.Stderr(), Not(HasSubstr(kSecret)));
}

}  // namespace
}  // namespace wxtoken::testing
