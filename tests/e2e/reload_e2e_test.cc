// Live configuration end to end (DESIGN.md "Configuration", Live changes):
// files edited under a running wxtokend, with SIGHUP and without, and
// swapped the way Kubernetes swaps a ConfigMap or Secret mount. Files are
// replaced atomically (rename), as Kubernetes and careful tools do.
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kApp[] = "wxe2ereload0000001";
constexpr char kService[] = "wxtoken.v1.TokenController";
constexpr char kOldSecret[] = "reload-old-secret-1a";
constexpr char kNewSecret[] = "reload-new-secret-2b";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int Count(const std::string& text, const std::string& what) {
  int count = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

// Replaces `path` in one step: a reader sees the old file or the new one.
void WriteAtomically(const std::string& path, const std::string& contents) {
  const std::string staged = path + ".staged";
  WriteFile(staged, contents);
  ASSERT_EQ(rename(staged.c_str(), path.c_str()), 0) << path;
}

// GetToken calls on their own thread for as long as it lives: a reload must
// not fail one.
class GetTokenLoop {
 public:
  explicit GetTokenLoop(Controller& controller)
      : thread_([this, &controller] {
          while (!stop_) {
            wxtoken::v1::Token token;
            grpc::Status status = controller.GetToken(kApp, &token);
            (status.ok() ? ok_ : failed_)++;
            absl::SleepFor(absl::Milliseconds(10));
          }
        }) {}
  ~GetTokenLoop() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  std::thread thread_;
};

class ReloadE2eTest : public ::testing::Test {
 protected:
  void StartBoth(Controller::Options options = {}) {
    if (dir_.empty()) dir_ = MakeTempDir("reload");
    Sandbox::Options sandbox;
    sandbox.apps = {{kApp, kOldSecret}};
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
    options.base_url = sandbox_.base_url();
    options.apps = {{kApp, kOldSecret}};
    options.metrics = true;
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options, dir_));
  }
  void TearDown() override {
    const std::string logs = controller_.Logs();
    EXPECT_THAT(logs, Not(HasSubstr(kOldSecret)));
    EXPECT_THAT(logs, Not(HasSubstr(kNewSecret)));
    ExpectJsonLogLines(logs);
    controller_.Stop();
    sandbox_.Stop();
  }
  wxtoken::v1::Token WaitForToken(uint64_t after_generation = 0) {
    return controller_.WaitForToken(kApp, after_generation);
  }
  // The value of an unlabelled counter or gauge on /metrics.
  int Metric(const std::string& name) {
    const std::string text = controller_.ScrapeMetrics();
    const std::string line = "\n" + name + " ";
    const size_t at = text.find(line);
    if (at == std::string::npos) return -1;
    return std::stoi(text.substr(at + line.size()));
  }
  bool WaitForMetric(const std::string& name, int want,
                     absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (Metric(name) != want && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    return Metric(name) == want;
  }
  // Someone resets the AppSecret in WeChat's console; the next fetch with
  // the old one is refused (40125).
  void ResetSecretAtWeChat(const wxtoken::v1::Token& current) {
    sandbox_.ResetSecret(kApp, kNewSecret);
    wxtoken::v1::ForceRefreshResponse response;
    absl::SleepFor(absl::Milliseconds(1100));  // force_min_interval: 1s
    grpc::Status status =
        controller_.ForceRefresh(kApp, current.value(), &response);
    ASSERT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << status.error_message();
    ASSERT_THAT(status.error_message(), HasSubstr("40125"));
  }

  // Rotates the secret file and waits for the retry's new token.
  void RotateAndExpectTheNewSecretUsed(bool sighup) {
    ASSERT_NO_FATAL_FAILURE(StartBoth());
    const wxtoken::v1::Token current = WaitForToken();
    ASSERT_NO_FATAL_FAILURE(ResetSecretAtWeChat(current));
    GetTokenLoop callers(controller_);
    const absl::Time rotated = absl::Now();
    WriteAtomically(Controller::SecretPath(dir_, kApp),
                    absl::StrCat(kNewSecret, "\n"));
    if (sighup) controller_.Reload();
    // Retried at once, not after permanent_retry (1h here).
    const wxtoken::v1::Token fresh = WaitForToken(current.generation());
    EXPECT_GT(fresh.generation(), current.generation());
    EXPECT_TRUE(sandbox_.IsValid(fresh.value()));
    EXPECT_LT(absl::Now() - rotated, absl::Seconds(sighup ? 3 : 8))
        << (sighup ? "SIGHUP applies at once" : "a file change within 5 s");
    callers.Stop();
    EXPECT_EQ(callers.failed(), 0) << "a GetToken failed during the reload";
    EXPECT_GT(callers.ok(), 0);
    EXPECT_EQ(Metric("wxtoken_config_reloads_total"), 1);
    EXPECT_EQ(Metric("wxtoken_config_reload_failures_total"), 0);
    EXPECT_THAT(controller_.Logs(), HasSubstr("the AppSecret was rotated"));
  }

  std::string dir_;
  Sandbox sandbox_;
  Controller controller_;
};

TEST_F(ReloadE2eTest, ARotatedSecretIsUsedAtOnceOnSighup) {
  RotateAndExpectTheNewSecretUsed(/*sighup=*/true);
}

TEST_F(ReloadE2eTest, ARotatedSecretFileIsPickedUpWithoutASignal) {
  RotateAndExpectTheNewSecretUsed(/*sighup=*/false);
}

TEST_F(ReloadE2eTest, RestartOnlyKeysAreLoggedAndWaitForARestart) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  WaitForToken();
  std::string yaml = ReadAll(controller_.config_path());
  ASSERT_THAT(yaml, HasSubstr("listen: \"127.0.0.1:0\""));
  ASSERT_THAT(yaml, HasSubstr("api: \"classic\""));
  yaml = absl::StrReplaceAll(
      yaml, {{"listen: \"127.0.0.1:0\"", "listen: \"127.0.0.1:1\""},
             {"api: \"classic\"", "api: \"stable\""}});
  WriteAtomically(controller_.config_path(), yaml);
  controller_.Reload();
  ASSERT_TRUE(
      WaitForMetric("wxtoken_config_reloads_total", 1, absl::Seconds(10)));
  const std::string logs = controller_.Logs();
  EXPECT_THAT(logs, HasSubstr("\"key\":\"listen\""));
  EXPECT_THAT(logs,
              HasSubstr(absl::StrCat("\"key\":\"apps: ", kApp, " api\"")));
  EXPECT_THAT(logs, HasSubstr("config change needs a restart"));
  // Still on its old address, still serving the app as before.
  wxtoken::v1::Token token;
  EXPECT_TRUE(controller_.GetToken(kApp, &token).ok());
}

// Apps added and removed under a running wxtokend (must-show 4 and 5 of
// issue 11): by SIGHUP, by a file change alone, and by a Kubernetes-style
// `..data` swap.
enum class Trigger { kSighup, kFileChange, kSymlinkSwap };

class AppSetReloadE2eTest : public ReloadE2eTest,
                            public ::testing::WithParamInterface<Trigger> {
 protected:
  static constexpr char kGone[] = "wxe2ereloadgone001";
  static constexpr char kAdded[] = "wxe2ereloadnew0001";

  void SetUp() override {
    dir_ = MakeTempDir("reload-apps");
    if (GetParam() == Trigger::kSymlinkSwap) {
      namespace fs = std::filesystem;
      mount_ = dir_ + "/mount";
      fs::create_directories(mount_ + "/..v1");
      fs::create_directory_symlink("..v1", mount_ + "/..data");
      fs::create_symlink("..data/wxtokend.yaml", mount_ + "/wxtokend.yaml");
      options_.config_path = mount_ + "/wxtokend.yaml";
    }
    Sandbox::Options sandbox;
    sandbox.apps = {{kApp, kOldSecret},
                    {kGone, "gone-secret-3c"},
                    {kAdded, "new-secret-4d"}};
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
    options_.base_url = sandbox_.base_url();
    options_.metrics = true;
    options_.apps = {{kApp, kOldSecret}, {kGone, "gone-secret-3c"}};
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options_, dir_));
  }

  // Writes the config for `options_` the way the parameter says.
  void Apply() { Apply(controller_.ConfigYaml(options_, dir_)); }
  void Apply(const std::string& yaml) {
    switch (GetParam()) {
      case Trigger::kSighup:
        WriteAtomically(controller_.config_path(), yaml);
        controller_.Reload();
        return;
      case Trigger::kFileChange:
        WriteAtomically(controller_.config_path(), yaml);
        return;
      case Trigger::kSymlinkSwap: {
        // The kubelet's update: a new directory, then ..data swapped to it
        // in one rename.
        namespace fs = std::filesystem;
        const std::string version = absl::StrCat("..v", ++version_);
        fs::create_directories(mount_ + "/" + version);
        WriteFile(mount_ + "/" + version + "/wxtokend.yaml", yaml);
        fs::create_directory_symlink(version, mount_ + "/..data_tmp");
        fs::rename(mount_ + "/..data_tmp", mount_ + "/..data");
        return;
      }
    }
  }

  Controller::Options options_;
  std::string mount_;
  int version_ = 1;
};

TEST_P(AppSetReloadE2eTest, AnAddedAppIsServedAndARemovedOneIsNotFound) {
  const std::string gone_health = absl::StrCat(kService, "/", kGone);
  const std::string added_health = absl::StrCat(kService, "/", kAdded);
  WaitForToken();
  controller_.WaitForToken(kGone);
  ASSERT_TRUE(
      controller_.WaitForHealth(gone_health, "SERVING", absl::Seconds(10)));
  // A watcher of the app about to go.
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(30));
  wxtoken::v1::WatchTokenRequest watch_request;
  watch_request.set_app_id(kGone);
  auto watch = controller_.stub().WatchToken(&watch_context, watch_request);
  wxtoken::v1::WatchTokenResponse message;
  ASSERT_TRUE(watch->Read(&message));
  GetTokenLoop callers(controller_);

  options_.apps = {{kApp, kOldSecret}, {kAdded, "new-secret-4d"}};
  const absl::Time applied = absl::Now();
  Apply();
  const wxtoken::v1::Token added = controller_.WaitForToken(kAdded);
  EXPECT_LT(absl::Now() - applied,
            absl::Seconds(GetParam() == Trigger::kSighup ? 3 : 8))
      << "SIGHUP applies at once; a file change within 5 s";
  EXPECT_TRUE(sandbox_.IsValid(added.value()));
  // Removed in the same reload, before the new app was added.
  wxtoken::v1::Token token;
  const grpc::Status gone = controller_.GetToken(kGone, &token);
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(gone.error_message(), HasSubstr(kGone));
  while (watch->Read(&message)) {
  }
  const grpc::Status ended = watch->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::NOT_FOUND)
      << ended.error_message();
  EXPECT_TRUE(
      controller_.WaitForHealth(added_health, "SERVING", absl::Seconds(10)));
  EXPECT_EQ(controller_.Health(gone_health), "NOT_SERVING");
  EXPECT_TRUE(
      controller_.WaitForHealth(kService, "SERVING", absl::Seconds(10)));

  callers.Stop();
  EXPECT_EQ(callers.failed(), 0) << "a GetToken failed during the reload";
  EXPECT_GT(callers.ok(), 0);
  EXPECT_EQ(Metric("wxtoken_config_reloads_total"), 1);
  EXPECT_EQ(Metric("wxtoken_config_reload_failures_total"), 0);
  const std::string metrics = controller_.ScrapeMetrics();
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat(
                           "wxtoken_upstream_daily_budget{app_id=\"", kAdded)));
  EXPECT_THAT(metrics, Not(HasSubstr(absl::StrCat(
                           "wxtoken_upstream_daily_budget{app_id=\"", kGone))));
  const std::string logs = controller_.Logs();
  EXPECT_THAT(logs, Not(HasSubstr("gone-secret-3c")));
  EXPECT_THAT(logs, Not(HasSubstr("new-secret-4d")));
  EXPECT_EQ(Count(logs, "\"listening\""), 1) << "wxtokend restarted";
}

TEST_P(AppSetReloadE2eTest, AnAppRemovedAndAddedAgainKeepsItsToken) {
  const wxtoken::v1::Token before = controller_.WaitForToken(kGone);
  const int fetched = sandbox_.TokenCalls(kGone);
  options_.apps = {{kApp, kOldSecret}};
  Apply();
  ASSERT_TRUE(
      WaitForMetric("wxtoken_config_reloads_total", 1, absl::Seconds(10)));
  wxtoken::v1::Token token;
  EXPECT_EQ(controller_.GetToken(kGone, &token).error_code(),
            grpc::StatusCode::NOT_FOUND);
  options_.apps = {{kApp, kOldSecret}, {kGone, "gone-secret-3c"}};
  Apply();
  const wxtoken::v1::Token again = controller_.WaitForToken(kGone);
  // The same value, not a new fetch that would revoke the old one.
  EXPECT_EQ(again.value(), before.value());
  EXPECT_EQ(again.generation(), before.generation());
  EXPECT_EQ(sandbox_.TokenCalls(kGone), fetched);
}

TEST_P(AppSetReloadE2eTest, ABrokenConfigChangesNothingAndIsCountedOnce) {
  const wxtoken::v1::Token current = WaitForToken();
  controller_.WaitForToken(kGone);
  const Controller::Options good = options_;
  GetTokenLoop callers(controller_);
  // An unknown key beside an app set change that must not happen.
  options_.apps = {{kApp, kOldSecret}, {kAdded, "new-secret-4d"}};
  Apply(controller_.ConfigYaml(options_, dir_) + "bogus_key: 1\n");
  ASSERT_TRUE(WaitForMetric("wxtoken_config_reload_failures_total", 1,
                            absl::Seconds(10)));
  EXPECT_THAT(controller_.Logs(), HasSubstr("config reload refused"));
  EXPECT_THAT(controller_.Logs(), HasSubstr("unknown key \\\"bogus_key\\\""));
  // Everything as it was: the same token, both old apps, no new one.
  wxtoken::v1::Token token;
  ASSERT_TRUE(controller_.GetToken(kApp, &token).ok());
  EXPECT_EQ(token.value(), current.value());
  EXPECT_EQ(token.generation(), current.generation());
  EXPECT_TRUE(controller_.GetToken(kGone, &token).ok());
  EXPECT_EQ(controller_.GetToken(kAdded, &token).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // The 2 s re-read finds the same broken file: reported once, not per read.
  absl::SleepFor(absl::Seconds(5));
  EXPECT_EQ(Metric("wxtoken_config_reload_failures_total"), 1);
  // Fixed again (the config it runs): applied, nothing changed.
  options_ = good;
  Apply();
  EXPECT_TRUE(
      WaitForMetric("wxtoken_config_reloads_total", 1, absl::Seconds(10)));
  callers.Stop();
  EXPECT_EQ(callers.failed(), 0);
  EXPECT_GT(callers.ok(), 0);
  EXPECT_EQ(Count(controller_.Logs(), "\"listening\""), 1)
      << "wxtokend restarted";
}

INSTANTIATE_TEST_SUITE_P(Triggers, AppSetReloadE2eTest,
                         ::testing::Values(Trigger::kSighup,
                                           Trigger::kFileChange,
                                           Trigger::kSymlinkSwap),
                         [](const auto& info) {
                           switch (info.param) {
                             case Trigger::kSighup:
                               return "Sighup";
                             case Trigger::kFileChange:
                               return "FileChange";
                             case Trigger::kSymlinkSwap:
                               return "SymlinkSwap";
                           }
                           return "";
                         });

// A Kubernetes mount: the file is a symlink through `..data`, which the
// kubelet points at a new directory in one rename.
TEST_F(ReloadE2eTest, AKubernetesStyleSymlinkSwapIsPickedUp) {
  namespace fs = std::filesystem;
  dir_ = MakeTempDir("reload-k8s");
  const std::string mount = dir_ + "/mount";
  fs::create_directories(mount + "/..v1");
  fs::create_directory_symlink("..v1", mount + "/..data");
  fs::create_symlink("..data/wxtokend.yaml", mount + "/wxtokend.yaml");
  fs::create_symlink("..data/app.secret", mount + "/app.secret");
  WriteFile(mount + "/..v1/app.secret", absl::StrCat(kOldSecret, "\n"));
  Controller::Options options;
  options.config_path = mount + "/wxtokend.yaml";
  ASSERT_NO_FATAL_FAILURE(StartBoth(options));
  // The harness wrote the config through the symlink; point its secret at
  // the mount too.
  std::string yaml = ReadAll(options.config_path);
  yaml = absl::StrReplaceAll(
      yaml, {{Controller::SecretPath(dir_, kApp), mount + "/app.secret"}});
  WriteAtomically(mount + "/..v1/wxtokend.yaml", yaml);
  controller_.Reload();
  ASSERT_TRUE(
      WaitForMetric("wxtoken_config_reloads_total", 1, absl::Seconds(10)));
  const wxtoken::v1::Token current = WaitForToken();
  ASSERT_NO_FATAL_FAILURE(ResetSecretAtWeChat(current));

  // The kubelet's update: a new directory, then ..data swapped in one step.
  fs::create_directories(mount + "/..v2");
  WriteFile(mount + "/..v2/app.secret", absl::StrCat(kNewSecret, "\n"));
  WriteFile(mount + "/..v2/wxtokend.yaml", yaml);
  fs::create_directory_symlink("..v2", mount + "/..data_tmp");
  fs::rename(mount + "/..data_tmp", mount + "/..data");
  const absl::Time swapped = absl::Now();
  const wxtoken::v1::Token fresh = WaitForToken(current.generation());
  EXPECT_GT(fresh.generation(), current.generation());
  EXPECT_LT(absl::Now() - swapped, absl::Seconds(8)) << "within 5 s";
  EXPECT_TRUE(sandbox_.IsValid(fresh.value()));
  EXPECT_EQ(Metric("wxtoken_config_reloads_total"), 2);
}

}  // namespace
}  // namespace wxtoken::testing
