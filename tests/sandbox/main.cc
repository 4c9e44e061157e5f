// wechat-sandbox: a local emulator of WeChat's access-token APIs for the
// end-to-end tests and the demo. Never point production at it.
//
//   wechat-sandbox --listen 127.0.0.1:0 --app APPID:SECRET [--app ...]
//       [--apps_file FILE] [--threads 64]
//       [--lifetime 7200s] [--overlap 300s] [--daily_quota 2000]
//       [--ticket_lifetime 7200s] [--force_daily_limit 20]
//       [--force_min_interval 30s]
//       [--platform COMPONENT_APPID:SECRET ...] [--rotate_refresh_tokens]
//       [--verify_ticket_lifetime 12h]
//       [--wecom_app CORPID/AGENT:SECRET ...]
//       [--wecom_provider CORPID:PROVIDER_SECRET ...]
//       [--wecom_suite SUITE_ID:SECRET:TOKEN:AESKEY ...]
//       [--wecom_push_base http://HOST:PORT]
//       [--wecom_suite_ticket_interval 600s]
//       [--wecom_suite_ticket_lifetime 30m] [--wecom_suite_ticket_grace 0s]
//
// At least one --app, --platform, --wecom_app, --wecom_provider or
// --wecom_suite is needed. WeCom apps share --lifetime, --overlap and
// --ticket_lifetime with WeChat's; provider, suite and corp tokens share
// --lifetime and --overlap.
//
// Once it listens it prints one line, `listening HOST:PORT`, to stdout.
// SIGTERM or SIGINT stop it cleanly.

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "tests/sandbox/command_line.h"
#include "tests/sandbox/fault_queue.h"
#include "tests/sandbox/platform_state.h"
#include "tests/sandbox/sandbox_server.h"
#include "tests/sandbox/sandbox_state.h"
#include "tests/sandbox/wecom_provider_state.h"
#include "tests/sandbox/wecom_state.h"
#include "tests/sandbox/wecom_suite_pusher.h"
#include "tests/sandbox/wecom_suite_state.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "HOST:PORT to serve on; port 0 picks a free one. Loopback by "
          "default: this is a test tool.");
ABSL_FLAG(std::vector<std::string>, app, {},
          "APPID:SECRET of an emulated app; repeat the flag or separate "
          "entries with commas.");
ABSL_FLAG(std::string, apps_file, "",
          "A file of APPID:SECRET lines, for more apps than a command line "
          "holds; adds to --app.");
ABSL_FLAG(std::vector<std::string>, platform, {},
          "COMPONENT_APPID:SECRET of an emulated third-party platform; "
          "repeat the flag or separate entries with commas.");
ABSL_FLAG(std::vector<std::string>, wecom_app, {},
          "CORPID/AGENT:SECRET of an emulated WeCom app (an agent); "
          "repeat the flag or separate entries with commas.");
ABSL_FLAG(std::vector<std::string>, wecom_provider, {},
          "CORPID:PROVIDER_SECRET of an emulated WeCom service provider; "
          "repeat the flag or separate entries with commas.");
ABSL_FLAG(std::vector<std::string>, wecom_suite, {},
          "SUITE_ID:SECRET:TOKEN:AESKEY of an emulated WeCom suite: its "
          "suite_secret, and its callback's Token and EncodingAESKey (43 "
          "characters); repeat the flag or separate entries with commas.");
ABSL_FLAG(std::string, wecom_push_base, "",
          "http://HOST:PORT (wxtokend's push_listen) whose "
          "/wecom/suite/<suite_id> each suite's events are pushed to; "
          "POST /sandbox/wecom/push_base sets it later. Empty: none yet.");
ABSL_FLAG(absl::Duration, wecom_suite_ticket_interval, absl::Seconds(600),
          "How often each suite with a push target is pushed a new "
          "suite_ticket (the first at once); 0 = only on request "
          "(POST /sandbox/wecom/suite_ticket).");
ABSL_FLAG(absl::Duration, wecom_suite_ticket_lifetime, absl::Minutes(30),
          "Lifetime of a pushed suite_ticket.");
ABSL_FLAG(absl::Duration, wecom_suite_ticket_grace, absl::ZeroDuration(),
          "How long a suite_ticket is still taken once a newer one was "
          "pushed; 0 = only the newest, as WeCom asks.");
ABSL_FLAG(bool, rotate_refresh_tokens, false,
          "api_authorizer_token returns a new refresh token each time.");
ABSL_FLAG(absl::Duration, verify_ticket_lifetime, absl::Hours(12),
          "Lifetime of a pushed component_verify_ticket.");
ABSL_FLAG(int, platform_authorizers, 0,
          "Accounts that authorized each platform before the start "
          "(wxbench0000000001 on), as a platform wxtoken takes over has.");
ABSL_FLAG(int, threads, 64,
          "Requests served at once. WeChat serves many clients; every "
          "keep-alive connection holds a thread while it is open.");
ABSL_FLAG(absl::Duration, lifetime, absl::Seconds(7200),
          "Lifetime of an access token (classic, stable and WeCom's).");
ABSL_FLAG(absl::Duration, overlap, absl::Seconds(300),
          "How long a replaced token or ticket keeps working.");
ABSL_FLAG(int, daily_quota, 2000,
          "/cgi-bin/token calls per app and Beijing day before 45009.");
ABSL_FLAG(absl::Duration, ticket_lifetime, absl::Seconds(7200),
          "Lifetime of a jsapi / wx_card ticket, and of WeCom's tickets.");
ABSL_FLAG(int, force_daily_limit, 20,
          "stable_token force_refresh calls per app and Beijing day.");
ABSL_FLAG(absl::Duration, force_min_interval, absl::Seconds(30),
          "Minimum spacing of stable_token force refreshes; a closer one "
          "returns the current token.");

namespace wxtoken::sandbox {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "wechat-sandbox: " << status.message() << std::endl;
  return 2;
}

absl::StatusOr<SandboxOptions> OptionsFromFlags() {
  SandboxOptions options;
  options.lifetime = absl::GetFlag(FLAGS_lifetime);
  options.overlap = absl::GetFlag(FLAGS_overlap);
  options.daily_quota = absl::GetFlag(FLAGS_daily_quota);
  options.ticket_lifetime = absl::GetFlag(FLAGS_ticket_lifetime);
  options.force_daily_limit = absl::GetFlag(FLAGS_force_daily_limit);
  options.force_min_interval = absl::GetFlag(FLAGS_force_min_interval);
  if (options.lifetime < absl::Seconds(1) ||
      options.ticket_lifetime < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        "--lifetime and --ticket_lifetime must be at least 1s");
  }
  // Stable normal mode rotates once `overlap` remains; with no time before
  // that, every call would rotate.
  if (options.overlap < absl::ZeroDuration() ||
      options.overlap >= options.lifetime) {
    return absl::InvalidArgumentError(
        "--overlap must be at least 0 and less than --lifetime");
  }
  if (absl::GetFlag(FLAGS_wecom_suite_ticket_interval) < absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_wecom_suite_ticket_lifetime) < absl::Seconds(1) ||
      absl::GetFlag(FLAGS_wecom_suite_ticket_grace) < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--wecom_suite_ticket_interval and --wecom_suite_ticket_grace must not "
        "be negative, --wecom_suite_ticket_lifetime at least 1s");
  }
  if (options.daily_quota < 0 || options.force_daily_limit < 0 ||
      options.force_min_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--daily_quota, --force_daily_limit and --force_min_interval must "
        "not be negative");
  }
  return options;
}

// Waits for SIGTERM or SIGINT (blocked in every thread by main): true. Or
// for the server to stop on its own: false.
bool WaitForStopSignal(const sigset_t& signals, const SandboxServer& server) {
  const timespec poll = {0, 200 * 1000 * 1000};
  while (server.serving()) {
    if (sigtimedwait(&signals, nullptr, &poll) >= 0) return true;
  }
  return false;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Emulates WeChat's and WeCom's token APIs for tests: --listen "
      "127.0.0.1:0 "
      "--app APPID:SECRET [--app ...] [--wecom_app CORPID/AGENT:SECRET ...] "
      "[--wecom_provider CORPID:SECRET ...] "
      "[--wecom_suite SUITE_ID:SECRET:TOKEN:AESKEY ...]");
  std::vector<std::string> args(argv, argv + argc);
  args = MergeRepeatedFlag(std::move(args), "app");
  args = MergeRepeatedFlag(std::move(args), "platform");
  args = MergeRepeatedFlag(std::move(args), "wecom_app");
  args = MergeRepeatedFlag(std::move(args), "wecom_provider");
  args = MergeRepeatedFlag(std::move(args), "wecom_suite");
  std::vector<char*> merged;
  for (std::string& arg : args) merged.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(merged.size()), merged.data());

  absl::StatusOr<ListenAddress> listen =
      ParseListen(absl::GetFlag(FLAGS_listen));
  if (!listen.ok()) return Fail(listen.status());
  std::vector<std::string> app_entries = absl::GetFlag(FLAGS_app);
  if (const std::string file = absl::GetFlag(FLAGS_apps_file); !file.empty()) {
    absl::StatusOr<std::vector<std::string>> more = ReadAppsFile(file);
    if (!more.ok()) return Fail(more.status());
    app_entries.insert(app_entries.end(), more->begin(), more->end());
  }
  absl::StatusOr<std::map<std::string, std::string>> wecom_apps =
      ParseWeComApps(absl::GetFlag(FLAGS_wecom_app));
  if (!wecom_apps.ok()) return Fail(wecom_apps.status());
  absl::StatusOr<std::map<std::string, std::string>> providers =
      ParseWeComProviders(absl::GetFlag(FLAGS_wecom_provider));
  if (!providers.ok()) return Fail(providers.status());
  absl::StatusOr<std::vector<WeComSuiteFlag>> suite_flags =
      ParseWeComSuites(absl::GetFlag(FLAGS_wecom_suite));
  if (!suite_flags.ok()) return Fail(suite_flags.status());
  // A sandbox of platforms or WeCom owners alone needs no app.
  absl::StatusOr<std::map<std::string, std::string>> apps =
      app_entries.empty() &&
              (!absl::GetFlag(FLAGS_platform).empty() || !wecom_apps->empty() ||
               !providers->empty() || !suite_flags->empty())
          ? ParseIdSecrets(app_entries, "app")
          : ParseApps(app_entries);
  if (!apps.ok()) return Fail(apps.status());
  absl::StatusOr<SandboxOptions> options = OptionsFromFlags();
  if (!options.ok()) return Fail(options.status());
  absl::StatusOr<std::map<std::string, std::string>> platform_secrets =
      ParseIdSecrets(absl::GetFlag(FLAGS_platform), "platform");
  if (!platform_secrets.ok()) return Fail(platform_secrets.status());
  PlatformOptions platform_options;
  platform_options.token_lifetime = options->lifetime;
  platform_options.overlap = options->overlap;
  platform_options.ticket_lifetime =
      absl::GetFlag(FLAGS_verify_ticket_lifetime);
  platform_options.rotate_refresh_tokens =
      absl::GetFlag(FLAGS_rotate_refresh_tokens);

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and only WaitForStopSignal receives them. A client
  // that hangs up (or a dropped connection) must not kill us with SIGPIPE.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  SandboxState state(*options, *std::move(apps));
  WeComOptions wecom_options;
  wecom_options.lifetime = options->lifetime;
  wecom_options.overlap = options->overlap;
  wecom_options.ticket_lifetime = options->ticket_lifetime;
  WeComState wecom(wecom_options, *std::move(wecom_apps));
  WeComProviderOptions provider_options;
  provider_options.lifetime = options->lifetime;
  provider_options.overlap = options->overlap;
  WeComProviderState providers_state(provider_options, *std::move(providers));
  WeComSuiteOptions suite_options;
  suite_options.token_lifetime = options->lifetime;
  suite_options.overlap = options->overlap;
  suite_options.ticket_lifetime =
      absl::GetFlag(FLAGS_wecom_suite_ticket_lifetime);
  suite_options.ticket_grace = absl::GetFlag(FLAGS_wecom_suite_ticket_grace);
  std::map<std::string, std::string> suite_secrets;
  WeComSuitePusher suite_pusher;
  for (const WeComSuiteFlag& suite : *suite_flags) {
    suite_secrets[suite.suite_id] = suite.secret;
    const absl::Status added = suite_pusher.AddSuite(
        suite.suite_id, suite.server_token, suite.encoding_aes_key);
    if (!added.ok()) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--wecom_suite ", suite.suite_id, ": ", added.message())));
    }
  }
  if (const absl::Status based =
          suite_pusher.SetPushBase(absl::GetFlag(FLAGS_wecom_push_base));
      !based.ok()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--wecom_push_base: ", based.message())));
  }
  WeComSuiteState suites(suite_options, std::move(suite_secrets));
  FaultQueue faults;
  const int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 1)
    return Fail(absl::InvalidArgumentError("--threads: at least 1"));
  std::vector<std::string> platform_ids;
  for (const auto& [id, secret] : *platform_secrets) platform_ids.push_back(id);
  PlatformState platforms(platform_options, *std::move(platform_secrets));
  const int authorizers = absl::GetFlag(FLAGS_platform_authorizers);
  for (const std::string& id : platform_ids) {
    for (int i = 1; i <= authorizers; ++i) {
      platforms.Authorize(id, absl::StrFormat("wxbench%010d", i), absl::Now());
    }
  }
  SandboxServer server(
      &state, &faults, [] { return absl::Now(); }, threads);
  server.ServePlatforms(&platforms);
  server.ServeWeCom(&wecom);
  server.ServeWeComService(&providers_state, &suites, &suite_pusher,
                           absl::GetFlag(FLAGS_wecom_suite_ticket_interval));
  absl::StatusOr<int> port = server.Start(listen->host, listen->port);
  if (!port.ok()) return Fail(port.status());
  std::cout << "listening " << listen->host << ":" << *port << std::endl;

  const bool signalled = WaitForStopSignal(signals, server);
  server.Stop();
  if (!signalled) {
    return Fail(absl::InternalError("the HTTP server stopped unexpectedly"));
  }
  return 0;
}

}  // namespace
}  // namespace wxtoken::sandbox

int main(int argc, char** argv) { return wxtoken::sandbox::Main(argc, argv); }
