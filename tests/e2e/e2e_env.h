#ifndef WXTOKEN_TESTS_E2E_E2E_ENV_H_
#define WXTOKEN_TESTS_E2E_E2E_ENV_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/e2e/child_process.h"
#include "tests/fakes/random_vault_key.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

namespace wxtoken::testing {

// Generous bounds for a loaded 2-core machine: they only cap how long a
// broken run waits, never how fast a good one must be.
inline constexpr absl::Duration kStartTimeout = absl::Seconds(30);

#if defined(__SANITIZE_ADDRESS__)
#define WXTOKEN_E2E_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WXTOKEN_E2E_SANITIZED 1
#endif
#endif

// How much looser this build checks a latency the contract promises (a
// push acted on within 2 s): not at all in the plain build; three times
// under AddressSanitizer (CI's second pass), which runs wxtokend, the
// sandbox and the test several times slower on the same two cores.
#ifdef WXTOKEN_E2E_SANITIZED
inline constexpr int kLatencySlack = 3;
#else
inline constexpr int kLatencySlack = 1;
#endif

struct SandboxApp {
  std::string app_id;
  std::string secret;
};

// A WeCom suite of the sandbox (--wecom_suite): its suite_secret, and the
// Token and EncodingAESKey its events are signed and encrypted with.
struct SandboxSuite {
  std::string suite_id;
  std::string secret;
  std::string server_token;
  std::string encoding_aes_key;
};

// The real wechat-sandbox process on 127.0.0.1, on a port it picks itself.
class Sandbox {
 public:
  struct Options {
    std::vector<SandboxApp> apps;
    absl::Duration lifetime = absl::Seconds(60);
    absl::Duration overlap = absl::Seconds(5);
    absl::Duration ticket_lifetime = absl::Seconds(60);
    int daily_quota = 2000;
    // Third-party platforms (component_appid, component_appsecret).
    std::vector<SandboxApp> platforms = {};
    // api_authorizer_token returns a new refresh token each time.
    bool rotate_refresh_tokens = false;
    // Accounts that authorized each platform before the test (listed, never
    // pushed).
    int platform_authorizers = 0;
    // WeCom apps: app_id is "CORPID/AGENT", secret the app's corpsecret.
    std::vector<SandboxApp> wecom_apps = {};
    // WeCom service providers: app_id is the provider's corpid, secret its
    // provider_secret.
    std::vector<SandboxApp> wecom_providers = {};
    // WeCom suites. Their events go to SetWeComPushBase's URL (or
    // wecom_push_base) + /wecom/suite/<suite_id>.
    std::vector<SandboxSuite> wecom_suites = {};
    // wxtokend's push base when known before the sandbox starts; "" = none
    // until SetWeComPushBase.
    std::string wecom_push_base = "";
    // Each suite with a push target gets a new suite_ticket this often (the
    // first at once); 0 = only PushSuiteTicket.
    absl::Duration suite_ticket_interval = absl::Seconds(600);
    absl::Duration suite_ticket_lifetime = absl::Minutes(30);
    // How long a replaced suite_ticket is still taken; 0 = the newest only.
    absl::Duration suite_ticket_grace = absl::ZeroDuration();
  };

  // Starts the process; ASSERTs (fatal failure) when it does not come up.
  void Start(const Options& options, const std::string& dir);
  void Stop();

  std::string base_url() const;
  int port() const { return port_; }

  // Calls to /cgi-bin/token for `app_id` so far (faulted ones included).
  int TokenCalls(const std::string& app_id);
  // Calls to /cgi-bin/ticket/getticket with a token of `app_id`.
  int TicketCalls(const std::string& app_id);
  // Its /cgi-bin/token calls this Beijing day, as its daily quota counts.
  int QuotaUsedToday(const std::string& app_id);
  // Whether WeChat (the sandbox) accepts `token` right now.
  bool IsValid(const std::string& token);
  // Until when the sandbox accepts `token` by its own record (its expiry,
  // or the end of its overlap once replaced); InfinitePast when unknown.
  absl::Time ValidUntil(const std::string& token);
  // POST /sandbox/fault?kind=...&count=...&<extra>.
  void InjectFault(const std::string& kind, int count,
                   const std::string& extra = "");
  void ClearFaults();
  // The console's "reset AppSecret": the old secret is 40125 from now on.
  void ResetSecret(const std::string& app_id, const std::string& secret);

  // A platform's counter in /sandbox/stats ("component_token_calls",
  // "start_push_calls", "tickets_pushed", ...).
  int PlatformCount(const std::string& component_app_id,
                    const std::string& counter);
  // Where the platform's events are pushed, signed and encrypted so.
  void SetPushTarget(const std::string& component_app_id,
                     const std::string& url, const std::string& server_token,
                     const std::string& encoding_aes_key);
  // What a push to the target brought back.
  struct PushAnswer {
    std::string ticket;  // the ticket pushed
    std::string code;    // the authorization code or auth code pushed
    int status = 0;      // the target's HTTP status; 0: none
    std::string body;
  };
  // WeChat's every-10-minutes push: a new ticket, pushed to the target.
  PushAnswer PushTicket(const std::string& component_app_id);
  // An account authorizes the platform (or changes what it authorized):
  // WeChat pushes `authorized` (`updateauthorized`) with a code.
  PushAnswer Authorize(const std::string& component_app_id,
                       const std::string& authorizer_app_id,
                       bool update = false);
  // It revokes the authorization: WeChat pushes `unauthorized`.
  PushAnswer Unauthorize(const std::string& component_app_id,
                         const std::string& authorizer_app_id);
  // Every refresh token the sandbox issued so far.
  std::vector<std::string> IssuedRefreshTokens();

  // A WeCom counter in /sandbox/stats under `key`: an app "CORPID/AGENT"
  // ("gettoken_calls", "gettoken_failures", "agent_ticket_calls",
  // "ticket_rate_limited", "ticket_calls_last_hour", ...) or a corp
  // "CORPID" ("corp_ticket_calls", "ticket_rate_limited", and
  // "gettoken_calls" with a secret of none of its apps, ...). 0 for a key
  // the sandbox does not know.
  int WeComCount(const std::string& key, const std::string& counter);

  // WeCom service providers and suites (wecom_service_routes.h).
  // A provider's counter ("provider_token_calls", "provider_token_failures",
  // "tokens_issued"); 0 for one the sandbox does not know.
  int WeComProviderCount(const std::string& corp_id,
                         const std::string& counter);
  // A suite's counter: "suite_token_calls", "suite_token_failures",
  // "suite_tokens_issued", "tickets_issued", "ticket_pushes",
  // "ticket_pushes_success", "auth_pushes", "auth_pushes_success",
  // "installs", "uninstalls", "permanent_code_calls",
  // "permanent_codes_issued", "corp_token_calls", "corp_token_failures",
  // "corp_tokens_issued".
  int WeComSuiteCount(const std::string& suite_id, const std::string& counter);
  // A corp's counter under a suite it installed: "installed" (1 or 0),
  // "installs", "uninstalls", "permanent_codes_issued", "corp_token_calls",
  // "corp_token_failures", "corp_tokens_issued"; 0 for a corp that never
  // installed it.
  int WeComSuiteCorpCount(const std::string& suite_id,
                          const std::string& corp_id,
                          const std::string& counter);
  // Where every suite's events go: `base_url` (http://127.0.0.1:PORT, the
  // push_listen) + /wecom/suite/<suite_id>; "" stops pushing.
  void SetWeComPushBase(const std::string& base_url);
  // One suite's own URL instead (an edge, say); "" goes back to the base.
  void SetSuitePushTarget(const std::string& suite_id, const std::string& url);
  // WeCom's every-10-minutes push, now: a new suite_ticket (`ticket`),
  // pushed when the suite has a target.
  PushAnswer PushSuiteTicket(const std::string& suite_id);
  // A corp installs the suite: WeCom pushes create_auth with an auth code
  // (`code`).
  PushAnswer InstallSuite(const std::string& suite_id,
                          const std::string& corp_id);
  // It uninstalls: cancel_auth is pushed, its permanent code and corp
  // tokens end. No push (status 0) when it had not installed.
  PushAnswer UninstallSuite(const std::string& suite_id,
                            const std::string& corp_id);
  // Every permanent code the sandbox issued so far.
  std::vector<std::string> IssuedPermanentCodes();

 private:
  int Count(const std::string& app_id, const std::string& counter);
  // `counter` of `key` in /sandbox/stats' `section`; 0 when key is absent.
  int StatsCount(const std::string& section, const std::string& key,
                 const std::string& counter);
  PushAnswer PostPlatform(const std::string& target);

  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

// The real wxtokend process, configured for a sandbox, listening on a port it
// picks itself ("127.0.0.1:0").
class Controller {
 public:
  struct App {
    App(std::string app_id, std::string secret, std::string api = "classic",
        std::string server_token = "")
        : app_id(std::move(app_id)),
          secret(std::move(secret)),
          api(std::move(api)),
          server_token(std::move(server_token)) {}

    std::string app_id;
    std::string secret;
    std::string api = "classic";
    std::string server_token;  // "" = none configured
    std::vector<std::string> tickets;
    std::string encoding_aes_key;           // "" = none configured
    std::string previous_encoding_aes_key;  // "" = none configured
  };
  // A third-party platform.
  struct Platform {
    std::string component_app_id;
    std::string secret;
    std::string server_token;
    std::string encoding_aes_key;
    // The vault key file's text; "" = one made at Start() (replicas must
    // be given one key, as their pods share one Secret).
    std::string vault_key;
  };
  // A WeCom corp; each agent's app_id is the agent ("1000002"), its owner
  // key "<corp_id>/<agent>". Served from base_url as WeChat's APIs are.
  struct WeComCorp {
    std::string corp_id;
    std::vector<App> agents;
    std::vector<std::string> tickets = {};  // ["jsapi"]: the corp's ticket
  };
  struct Options {
    std::vector<App> apps;
    std::vector<WeComCorp> wecom_corps = {};
    // WeCom providers: app_id is the provider's CorpID, its owner key
    // "<corp_id>/provider".
    std::vector<App> wecom_providers = {};
    int corp_ticket_hourly_budget = 0;  // 0 = the default
    int app_ticket_hourly_budget = 0;   // 0 = the default
    // WeCom suites: component_app_id is the suite_id.
    std::vector<Platform> wecom_suites = {};
    // With platforms or suites, push_listen is a free loopback port
    // (push_port()).
    std::vector<Platform> platforms = {};
    std::string base_url;
    // base_urls lists base_url this many times: failover to the same
    // sandbox, as WeChat's api and api2 reach one service.
    int base_url_copies = 1;
    std::string state_dir;  // "" = memory only
    std::string margin = "2s";
    std::string overlap = "5s";
    std::string client_max_cache = "1s";
    std::string timeout = "1s";
    std::string force_min_interval = "1s";
    std::string retry_initial = "100ms";
    std::string retry_max = "500ms";
    std::string permanent_retry = "1h";
    int daily_budget = 1900;
    int force_budget = 200;
    bool metrics = false;              // serve /metrics on a free loopback port
    std::string watch_max_stream_age;  // "" = the default
    std::string quota_poll_interval;   // "" = the default
    // Where the config is written (through a symlink, if it is one);
    // "" = DIR/wxtokend.yaml.
    std::string config_path;
    std::string max_timestamp_skew = "0s";
    std::string drain_timeout = "2s";
    std::string shutdown_delay = "0s";
    // store.redis (replicas): a Redis server's address, or Sentinels'
    // (comma-separated) with redis_master_name. The replica listens on a
    // port picked free (kept across restarts) and advertises it.
    std::string redis_addresses;
    std::string redis_master_name;
    int redis_wait_replicas = 0;
    std::string lease_ttl = "3s";
    // Listen on one port picked free, kept across restarts (as a
    // Kubernetes Service keeps its address); replicas always do.
    bool keep_port = false;
    // Security (DESIGN.md "Security"): top-level YAML for tls, callers,
    // health_listen and reflection, as it goes into the config; and what
    // the harness's own channel uses (plaintext when null), expecting
    // `tls_server_name` in the server's certificate.
    std::string security_yaml;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    std::string tls_server_name;
  };

  // Writes the config and secret files into `dir` and starts wxtokend;
  // ASSERTs it logs its port. Can be called again after Stop() (restart).
  void Start(const Options& options, const std::string& dir);
  // SIGTERM; returns the exit status.
  int Stop();
  // SIGKILL: a crash, nothing flushed. Returns the exit status (128 + 9).
  int Kill();
  // SIGHUP: read the config again.
  void Reload();
  // The config Start() writes for `options` (its secret files are written
  // into `dir` now), for a test to write where and how it likes.
  std::string ConfigYaml(const Options& options, const std::string& dir) const;
  // The config file wxtokend was started with.
  const std::string& config_path() const { return config_path_; }
  // The path of `app_id`'s secret file.
  static std::string SecretPath(const std::string& dir,
                                const std::string& app_id) {
    return dir + "/" + app_id + ".secret";
  }
  // SIGSTOP / SIGCONT: a process that stops dead (a GC pause, a partition)
  // and wakes again.
  void Pause();
  void Resume();

  wxtoken::v1::TokenController::Stub& stub() { return *stub_; }
  // grpc.health.v1 Check of `service`: "SERVING", "NOT_SERVING", ... or the
  // RPC error.
  std::string Health(const std::string& service);
  // Polls Health(service) until it equals `want` or `timeout` passes.
  bool WaitForHealth(const std::string& service, const std::string& want,
                     absl::Duration timeout);

  grpc::Status GetToken(
      const std::string& app_id, wxtoken::v1::Token* token,
      wxtoken::v1::TokenKind kind = wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN);
  // GetToken until its status code is `want`, for at most `timeout`;
  // returns the last status (and `token` the last answer).
  grpc::Status WaitForCode(const std::string& app_id, grpc::StatusCode want,
                           absl::Duration timeout, wxtoken::v1::Token* token);
  // GetToken until it answers a generation above `after_generation` (the
  // first fetch is asynchronous), for at most 20 s; ADD_FAILUREs then.
  wxtoken::v1::Token WaitForToken(
      const std::string& app_id, uint64_t after_generation = 0,
      wxtoken::v1::TokenKind kind = wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN);
  // ForceRefresh of `stale`, as WeChat's errcode `errcode` reports it, with
  // a 20 s deadline (it may wait out force_min_interval).
  grpc::Status ForceRefresh(
      const std::string& app_id, const std::string& stale,
      wxtoken::v1::ForceRefreshResponse* response,
      wxtoken::v1::TokenKind kind = wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN,
      int errcode = 40001);

  // GET /metrics (Options::metrics must be set).
  std::string ScrapeMetrics();
  // Runs the wxtoken CLI against this wxtokend (--addr given); returns its
  // exit status and stdout.
  std::pair<int, std::string> Cli(const std::vector<std::string>& args);

  // Everything wxtokend wrote to stderr (its log) across every run.
  std::string Logs() const;
  // Polls Logs() until it holds `line` or `timeout` passes.
  bool WaitForLog(const std::string& line, absl::Duration timeout) const;
  std::string address() const { return address_; }
  // health_listen's address ("" when the config has none).
  std::string health_address() const { return health_address_; }
  // push_listen's port (0 when the config has no platforms).
  int push_port() const { return push_port_; }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string logs_of_earlier_runs_;
  std::string address_;
  std::string config_path_;
  std::string health_address_;
  int metrics_port_ = 0;
  int push_port_ = 0;
  int listen_port_ = 0;  // replicas: fixed, so it can be advertised
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<wxtoken::v1::TokenController::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  int runs_ = 0;
};

// Tracks every value handed out with its max_cache and checks at the
// sandbox that each is still accepted while a caller may use it: the
// overlap guarantee, observed from outside. Not thread-safe.
// The health service a replica holding the leader lease serves.
inline constexpr char kLeaderHealth[] = "wxtoken.v1.TokenController/leader";

// The index of the first of `replicas` whose leader health is SERVING,
// skipping `except`; -1 when none is after `timeout`.
int WaitForLeader(Controller* replicas, int count, absl::Duration timeout,
                  int except = -1);

class MaxCacheChecker {
 public:
  // Records an answer received at `received`.
  void Record(const wxtoken::v1::Token& token, absl::Time received);
  // Asks the sandbox about every value still inside its max_cache; a check
  // counts only when the sandbox answered before that deadline. Returns the
  // number of checks that counted; EXPECTs each of them valid.
  int CheckAll(Sandbox& sandbox);
  // Compares every value's usable end with the sandbox's own record of when
  // it stopped (or stops) being accepted, at once, whatever the time: call
  // it once the requests that may revoke a value were processed. Returns
  // the number of values handed out past their end (each also EXPECTed).
  int CheckAgainstRecord(Sandbox& sandbox);
  size_t values() const { return usable_until_.size(); }

 private:
  std::map<std::string, absl::Time> usable_until_;
};

// wxtokend's log contract: every line is one JSON object with time, level
// and msg (EXPECTs each).
void ExpectJsonLogLines(const std::string& logs);

// Path of a binary built next to the tests (env WXTOKEND / WECHAT_SANDBOX /
// WXTOKEN_CLI, set by CTest).
std::string BinaryPath(const char* env_name);

// A deadline for one RPC.
void SetDeadline(grpc::ClientContext& context,
                 absl::Duration timeout = absl::Seconds(10));

}  // namespace wxtoken::testing

#endif  // WXTOKEN_TESTS_E2E_E2E_ENV_H_
