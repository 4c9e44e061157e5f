// End-to-end: the guarantee across restarts and crashes. The real wxtokend
// is stopped with real signals (SIGTERM, kill -9) while a request to the
// real sandbox is in flight or unanswered, and started again on the same
// state_dir; every value any run hands out must be valid at the sandbox for
// its whole max_cache, and a restart must cost at most one fetch.
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/state_file.h"
#include "tests/e2e/e2e_env.h"
#include "tests/e2e/token_load.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kApp[] = "wxrestart000000001";
constexpr char kSecret[] = "restart-app-secret-93d1";

class RestartE2eTest : public ::testing::Test {
 protected:
  // Long lifetimes, so only our own requests rotate the token; a 5 s
  // overlap, so revocations happen within the test.
  // `faults` runs between the two starts, so wxtokend's first request
  // meets them.
  void StartBoth(Controller::Options options = {},
                 const std::function<void()>& faults = {}) {
    dir_ = MakeTempDir("restart");
    Sandbox::Options sandbox;
    sandbox.apps = {{kApp, kSecret}};
    sandbox.lifetime = absl::Seconds(120);
    sandbox.overlap = absl::Seconds(5);
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
    if (faults) faults();
    options.base_url = sandbox_.base_url();
    options.apps = {{kApp, kSecret}};
    options.state_dir = dir_ + "/state";
    options.overlap = "5s";
    options.margin = "2s";
    options.client_max_cache = "1s";
    options.force_min_interval = "1s";
    options_ = options;
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options_, dir_));
  }
  void Restart() { ASSERT_NO_FATAL_FAILURE(controller_.Start(options_, dir_)); }
  void TearDown() override {
    if (!HasFailure()) {
      ExpectJsonLogLines(controller_.Logs());
      EXPECT_THAT(controller_.Logs(), ::testing::Not(HasSubstr(kSecret)));
    }
    controller_.Stop();
    sandbox_.Stop();
  }

  wxtoken::v1::Token WaitForToken() {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    wxtoken::v1::Token token;
    while (absl::Now() < deadline) {
      if (controller_.GetToken(kApp, &token).ok()) return token;
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "no token";
    return token;
  }

  // Waits until the state file holds `value` with its request answered: a
  // token is served as soon as it is fetched, and stored a moment later. A
  // crash in between rightly costs a fetch (the restart knows only the
  // intent), which is not what a test of restarts on a stored token is about.
  void WaitForStoredToken(const std::string& value) {
    const std::string path = dir_ + "/state/" + kApp + ".json";
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      if (absl::StrContains(text.str(), value) &&
          !absl::StrContains(text.str(), "\"intent\"")) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    ADD_FAILURE() << "the token never reached " << path;
  }

  // Waits until the sandbox has seen `calls` token requests: the ForceRefresh
  // is on its way to WeChat.
  void WaitForTokenCalls(int calls) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (sandbox_.TokenCalls(kApp) < calls && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_EQ(sandbox_.TokenCalls(kApp), calls);
  }

  // Sends a ForceRefresh and does not wait for its answer.
  void ForceRefreshInBackground(const std::string& stale) {
    background_ = std::thread([this, stale] {
      grpc::ClientContext context;
      SetDeadline(context, absl::Seconds(10));
      wxtoken::v1::ForceRefreshRequest request;
      request.set_app_id(kApp);
      request.set_stale_value(stale);
      request.set_wechat_errcode(40001);
      wxtoken::v1::ForceRefreshResponse response;
      background_status_ =
          controller_.stub().ForceRefresh(&context, request, &response);
    });
  }
  void JoinBackground() {
    if (background_.joinable()) background_.join();
  }

  // Asks for the token every 50 ms for `duration` and checks each answer
  // at the sandbox while its max_cache lasts. Returns the answers.
  int Observe(absl::Duration duration) {
    const absl::Time deadline = absl::Now() + duration;
    int answers = 0;
    while (absl::Now() < deadline) {
      wxtoken::v1::Token token;
      if (controller_.GetToken(kApp, &token).ok()) {
        checker_.Record(token, absl::Now());
        ++answers;
      }
      checks_ += checker_.CheckAll(sandbox_);
      absl::SleepFor(absl::Milliseconds(50));
    }
    return answers;
  }

  // Asks for the token every 50 ms for `duration`, each answer usable from
  // when its request was sent; then compares every value with the
  // sandbox's own record of when it was revoked. Returns the answers.
  int ObserveThenCheckRecord(absl::Duration duration) {
    const absl::Time deadline = absl::Now() + duration;
    int answers = 0;
    while (absl::Now() < deadline) {
      const absl::Time sent = absl::Now();
      wxtoken::v1::Token token;
      if (controller_.GetToken(kApp, &token).ok()) {
        checker_.Record(token, sent);
        ++answers;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    EXPECT_EQ(checker_.CheckAgainstRecord(sandbox_), 0)
        << "answers revoked inside their max_cache";
    return answers;
  }

  // Issue 22, item 1, from an unanswered R1 on: R2 goes out (`send_r2`),
  // WeChat processes it 2 s late, after wxtokend's 1 s timeout; a caller
  // waits, so R2's failover goes out and is answered (V3) before WeChat
  // processes R2, which revokes V3 five seconds later. No answer may be
  // usable past that.
  void SecondLateRequest(const std::function<wxtoken::v1::Token()>& send_r2) {
    const wxtoken::v1::Token v3 = send_r2();
    ASSERT_FALSE(v3.value().empty());
    // Past R2's processing and V3's revocation, with slack.
    EXPECT_GT(ObserveThenCheckRecord(absl::Seconds(10)), 50);
    EXPECT_LT(sandbox_.ValidUntil(v3.value()), absl::Now())
        << "WeChat processed R2 after V3 was issued, and revoked V3";
    wxtoken::v1::Token last;
    ASSERT_TRUE(controller_.GetToken(kApp, &last).ok());
    EXPECT_TRUE(sandbox_.IsValid(last.value()));
  }

  std::string dir_;
  Sandbox sandbox_;
  Controller controller_;
  Controller::Options options_;
  MaxCacheChecker checker_;
  int checks_ = 0;
  std::thread background_;
  grpc::Status background_status_;
};

TEST_F(RestartE2eTest, TimedOutForceRefreshThenRestart) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  const wxtoken::v1::Token first = WaitForToken();
  // WeChat processes the request at once but answers after wxtokend's 1 s
  // timeout: it issued a new token, and revokes `first` 5 s later. Retries
  // before the restart meet "system busy".
  sandbox_.InjectFault("slow", 1, "delay_ms=2000");
  sandbox_.InjectFault("errcode", 100, "errcode=-1");
  ForceRefreshInBackground(first.value());
  JoinBackground();
  EXPECT_EQ(background_status_.error_code(), grpc::StatusCode::UNAVAILABLE);

  ASSERT_EQ(controller_.Stop(), 0);
  sandbox_.ClearFaults();
  const int calls_before = sandbox_.TokenCalls(kApp);
  ASSERT_NO_FATAL_FAILURE(Restart());
  const int answers = Observe(absl::Seconds(10));
  EXPECT_GT(answers, 50);
  EXPECT_GT(checks_, 20);
  // The old token was revoked during the test, and the restarted server
  // moved on to a new one instead of serving it for its whole lifetime.
  EXPECT_FALSE(sandbox_.IsValid(first.value()));
  wxtoken::v1::Token last;
  ASSERT_TRUE(controller_.GetToken(kApp, &last).ok());
  EXPECT_NE(last.value(), first.value());
  EXPECT_TRUE(sandbox_.IsValid(last.value()));
  EXPECT_LE(sandbox_.TokenCalls(kApp) - calls_before, 1);
}

TEST_F(RestartE2eTest, ASecondLateRequestBoundsItsFailoversValue) {
  Controller::Options options;
  options.base_url_copies = 2;  // failover
  ASSERT_NO_FATAL_FAILURE(StartBoth(options));
  const wxtoken::v1::Token first = WaitForToken();
  // R1: processed 2 s late (inside the 2.5 s horizon); the caller's wait
  // sends its failover at once, whose value R1 may revoke.
  sandbox_.InjectFault("late", 1, "delay_ms=2000");
  wxtoken::v1::ForceRefreshResponse r1;
  ASSERT_TRUE(controller_.ForceRefresh(kApp, first.value(), &r1).ok());
  ASSERT_EQ(sandbox_.TokenCalls(kApp), 3) << "R1 and its failover";
  SecondLateRequest([&] {
    sandbox_.InjectFault("late", 1, "delay_ms=2000");
    wxtoken::v1::ForceRefreshResponse r2;
    EXPECT_TRUE(controller_.ForceRefresh(kApp, r1.token().value(), &r2).ok());
    EXPECT_EQ(sandbox_.TokenCalls(kApp), 5) << "R2 and its failover";
    return r2.token();
  });
}

TEST_F(RestartE2eTest, ASecondLateRequestAfterAKillBoundsItsFailoversValue) {
  Controller::Options options;
  options.base_url_copies = 2;
  ASSERT_NO_FATAL_FAILURE(StartBoth(options));
  const wxtoken::v1::Token first = WaitForToken();
  sandbox_.InjectFault("late", 1, "delay_ms=2000");
  ForceRefreshInBackground(first.value());
  ASSERT_NO_FATAL_FAILURE(WaitForTokenCalls(2));
  EXPECT_EQ(controller_.Kill(), 128 + SIGKILL);  // during R1
  JoinBackground();
  SecondLateRequest([&] {
    // R2 is the restarted server's first request.
    sandbox_.InjectFault("late", 1, "delay_ms=2000");
    Restart();
    WaitForTokenCalls(3);
    wxtoken::v1::ForceRefreshResponse r2;
    EXPECT_TRUE(controller_.ForceRefresh(kApp, first.value(), &r2).ok());
    EXPECT_EQ(sandbox_.TokenCalls(kApp), 4) << "R2 and its failover";
    return r2.token();
  });
}

// An upgrade from the state format that kept only the earliest unanswered
// send (wxtoken-state-v2). That version sent a request without recording
// it when an intent was already in force: here the earliest is 3 s old (a
// request WeChat never processed), and the test plays the unrecorded one
// itself, straight to the sandbox, processed 2 s late, just before the
// upgraded server starts. The upgraded server cannot know when such a
// request went out, so it takes its own start as the latest send: its first
// request waits for the horizon from then, and the unrecorded request,
// processed meanwhile, revokes nothing it hands out. (Taking the earliest
// as the latest would fetch at once and serve, with its whole validity, the
// value that request revokes.)
TEST_F(RestartE2eTest, AnUpgradedVersion2StateFileBoundsWhatItCannotSee) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  const wxtoken::v1::Token first = WaitForToken();
  WaitForStoredToken(first.value());
  ASSERT_EQ(controller_.Stop(), 0);
  const std::string path = dir_ + "/state/" + kApp + ".json";
  std::stringstream stored;
  stored << std::ifstream(path).rdbuf();
  absl::StatusOr<server::AppRecord> record =
      server::DecodeAppRecord(stored.str());
  ASSERT_TRUE(record.ok()) << record.status();
  for (server::TokenRecord& token : record->tokens) {
    token.intent = absl::Now() - absl::Seconds(3);
    token.latest_intent.reset();
  }
  std::ofstream(path, std::ios::trunc)
      << absl::StrReplaceAll(server::EncodeAppRecord(*record),
                             {{"wxtoken-state-v3", "wxtoken-state-v2"}});
  sandbox_.InjectFault("late", 1, "delay_ms=2000");
  httplib::Client wechat("127.0.0.1", sandbox_.port());
  wechat.set_read_timeout(std::chrono::milliseconds(200));
  (void)wechat.Get(absl::StrCat("/cgi-bin/token?grant_type=client_credential",
                                "&appid=", kApp, "&secret=", kSecret));
  ASSERT_NO_FATAL_FAILURE(Restart());
  // Past the late request's processing and any value's revocation.
  EXPECT_GT(ObserveThenCheckRecord(absl::Seconds(10)), 50);
  wxtoken::v1::Token last;
  ASSERT_TRUE(controller_.GetToken(kApp, &last).ok());
  EXPECT_TRUE(sandbox_.IsValid(last.value()));
}

TEST_F(RestartE2eTest, SigtermDuringAFetchWaitsForItAndStoresTheAnswer) {
  Controller::Options options;
  options.timeout = "4s";  // the slow answer below arrives in time
  ASSERT_NO_FATAL_FAILURE(StartBoth(options));
  const wxtoken::v1::Token first = WaitForToken();
  // Slower than the RPC drain (2 s and a second): only the drain of
  // upstream requests (up to upstream.timeout) waits for it.
  sandbox_.InjectFault("slow", 1, "delay_ms=3500");
  ForceRefreshInBackground(first.value());
  // Once the request is in flight, SIGTERM.
  ASSERT_NO_FATAL_FAILURE(WaitForTokenCalls(2));
  EXPECT_EQ(controller_.Stop(), 0);
  JoinBackground();

  ASSERT_NO_FATAL_FAILURE(Restart());
  const wxtoken::v1::Token after = WaitForToken();
  EXPECT_NE(after.value(), first.value()) << "the drained answer was stored";
  EXPECT_EQ(after.generation(), first.generation() + 1);
  Observe(absl::Seconds(6));
  EXPECT_GT(checks_, 20);
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 2) << "the restart fetched nothing";
}

TEST_F(RestartE2eTest, KillDuringAFetchThenRestart) {
  Controller::Options options;
  options.timeout = "4s";
  ASSERT_NO_FATAL_FAILURE(StartBoth(options));
  const wxtoken::v1::Token first = WaitForToken();
  sandbox_.InjectFault("slow", 1, "delay_ms=3000");
  ForceRefreshInBackground(first.value());
  ASSERT_NO_FATAL_FAILURE(WaitForTokenCalls(2));
  EXPECT_EQ(controller_.Kill(), 128 + SIGKILL);
  JoinBackground();

  ASSERT_NO_FATAL_FAILURE(Restart());
  Observe(absl::Seconds(10));
  EXPECT_GT(checks_, 20);
  EXPECT_FALSE(sandbox_.IsValid(first.value()));
  wxtoken::v1::Token last;
  ASSERT_TRUE(controller_.GetToken(kApp, &last).ok());
  EXPECT_NE(last.value(), first.value());
  EXPECT_LE(sandbox_.TokenCalls(kApp), 3) << "one fetch after the restart";
}

TEST_F(RestartE2eTest, FailedStateWriteThenCrashThenRestart) {
  Controller::Options options;
  options.timeout = "3s";
  ASSERT_NO_FATAL_FAILURE(StartBoth(options));
  const wxtoken::v1::Token first = WaitForToken();
  sandbox_.InjectFault("slow", 1, "delay_ms=1500");
  ForceRefreshInBackground(first.value());
  ASSERT_NO_FATAL_FAILURE(WaitForTokenCalls(2));
  // The request is on its way with its intent stored; now the disk fails:
  // a directory where the state file's temporary copy goes.
  const std::string blocker = options_.state_dir + "/" + kApp + ".json.tmp";
  ASSERT_EQ(mkdir(blocker.c_str(), 0700), 0);
  JoinBackground();
  ASSERT_TRUE(background_status_.ok()) << background_status_.error_message();
  // Until wxtokend says the new token could not be stored.
  auto write_failed = [this] {
    const std::string logs = controller_.Logs();
    return logs.find("cannot write the state") != std::string::npos ||
           logs.find("cannot store") != std::string::npos;
  };
  const absl::Time wait_log = absl::Now() + absl::Seconds(10);
  while (!write_failed() && absl::Now() < wait_log) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(write_failed()) << controller_.Logs();
  EXPECT_EQ(controller_.Kill(), 128 + SIGKILL);
  ASSERT_EQ(rmdir(blocker.c_str()), 0);

  ASSERT_NO_FATAL_FAILURE(Restart());
  Observe(absl::Seconds(10));
  EXPECT_GT(checks_, 20);
  EXPECT_LE(sandbox_.TokenCalls(kApp), 3) << "one fetch after the restart";
}

TEST_F(RestartE2eTest, CrashLoopWithADeadUpstreamSpendsOnlyTheBudget) {
  Controller::Options options;
  options.daily_budget = 10;
  options.force_budget = 5;
  // WeChat answers every request with "system busy".
  ASSERT_NO_FATAL_FAILURE(StartBoth(
      options, [this] { sandbox_.InjectFault("errcode", -1, "errcode=-1"); }));
  for (int crash = 0; crash < 50; ++crash) {
    absl::SleepFor(absl::Milliseconds(300));
    EXPECT_EQ(controller_.Kill(), 128 + SIGKILL);
    ASSERT_NO_FATAL_FAILURE(Restart());
  }
  absl::SleepFor(absl::Seconds(1));
  // At most the budget. A spend is stored before its request goes out, so
  // a kill -9 between the two spends one that WeChat never sees.
  EXPECT_LE(sandbox_.TokenCalls(kApp), 10);
  EXPECT_GE(sandbox_.TokenCalls(kApp), 5);
  EXPECT_THAT(controller_.Logs(), HasSubstr("daily_budget"));
}

TEST_F(RestartE2eTest, CrashLoopWithAStoredTokenSpendsNothing) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  const wxtoken::v1::Token first = WaitForToken();
  ASSERT_NO_FATAL_FAILURE(WaitForStoredToken(first.value()));
  for (int crash = 0; crash < 50; ++crash) {
    EXPECT_EQ(controller_.Kill(), 128 + SIGKILL);
    ASSERT_NO_FATAL_FAILURE(Restart());
    wxtoken::v1::Token token = WaitForToken();
    EXPECT_EQ(token.value(), first.value());
  }
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 1);
}

// SIGTERM under GetToken load, four times, at a client that watches
// health (gRPC client-side health checking; a Kubernetes Service does the
// same with endpoints): shutdown_delay turns it away before the listener
// closes, and the drain finishes every call accepted. A call that finds
// wxtokend down fails UNAVAILABLE, which a client retries; none ends
// CANCELLED, which it does not. (A client that ignores health can still see
// CANCELLED for a call racing Server::Shutdown: grpc/grpc#41785.)
TEST_F(RestartE2eTest, SigtermUnderLoadCancelsNoCall) {
  Controller::Options options;
  options.keep_port = true;
  options.shutdown_delay = "1s";
  ASSERT_NO_FATAL_FAILURE(StartBoth(options));
  WaitForToken();
  TokenLoad load(TokenLoad::BalancedChannel({controller_.address()}), kApp, {});
  for (int restart = 0; restart < 4; ++restart) {
    absl::SleepFor(absl::Milliseconds(500));
    EXPECT_EQ(controller_.Stop(), 0);
    ASSERT_NO_FATAL_FAILURE(Restart());
    WaitForToken();
  }
  absl::SleepFor(absl::Milliseconds(500));
  std::map<std::string, int> codes = load.Stop();
  EXPECT_GT(codes["OK"], 100);
  for (const auto& [code, count] : codes) {
    EXPECT_THAT(code, ::testing::AnyOf("OK", "UNAVAILABLE"))
        << count << " calls ended " << code << ", the first with \""
        << load.FirstMessage(code) << "\"";
  }
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 1);
}

}  // namespace
}  // namespace wxtoken::testing
