#ifndef WXTOKEN_SERVER_CONFIG_CONFIG_H_
#define WXTOKEN_SERVER_CONFIG_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/token/token.h"

namespace wxtoken::server {

// The wxtokend configuration (DESIGN.md "Configuration"). Defaults are given
// here and repeated in README.md's config reference. Secrets are read from
// their files or environment variables at load time and live only here.
struct AppConfig {
  // kComponent: a third-party platform's component token, fetched with the
  // verify ticket WeChat pushes (one AppConfig per `platforms` entry).
  // kAuthorizer: a platform's authorizer, discovered rather than configured
  // (never in a config file).
  // kWeCom: a WeCom app, "<corp_id>/<agent>" (`wecom.corps[].agents[]`):
  // gettoken with its corp_id and the app's secret, on the classic rules.
  // kWeComProvider: a WeCom service provider's token, "<corp_id>/provider"
  // (`wecom.providers[]`): get_provider_token with its provider_secret.
  // kWeComSuite: a WeCom suite's token, "<suite_id>" (`wecom.suites[]`):
  // get_suite_token with the suite_ticket WeCom pushes.
  // kSuiteCorp: a corp that installed a suite, "<suite_id>/<corp_id>",
  // discovered as authorizers are: get_corp_token with its permanent code.
  enum class Api {
    kClassic,
    kStable,
    kComponent,
    kAuthorizer,
    kWeCom,
    kWeComProvider,
    kWeComSuite,
    kSuiteCorp
  };

  std::string app_id;
  Api api = Api::kClassic;                // "classic" or "stable"
  std::string secret;                     // from secret_file / secret_env
  std::string server_token;               // from server_token_file / _env
                                          // ("" = VerifySignature refused)
  std::vector<TokenKind> tickets;         // "jsapi", "wx_card" in the file
  std::string encoding_aes_key;           // from encoding_aes_key_file / _env
  std::string previous_encoding_aes_key;  // optional
  // A WeCom app whose corp lists its jsapi ticket, other than the corp's
  // first app: the first app's key, whose kJsapiTicket (the corp's one
  // ticket, fetched with the first app's token) this app serves too.
  std::string corp_ticket_from;

  friend bool operator==(const AppConfig&, const AppConfig&) = default;
};

// A third-party platform (DESIGN.md "Third-party platforms"): its owner key
// is component_app_id; its authorizers are discovered, never configured.
// A WeCom suite (`wecom.suites[]`, DESIGN.md "WeCom") is one too, on the
// same machinery: its suite_id is the key, its suite_ticket the pushed
// credential, the corps that installed it its authorizers (their permanent
// codes sealed as refresh tokens are). It has no list API (no reconcile
// pass) and no api_start_push_ticket.
struct PlatformConfig {
  bool wecom_suite = false;
  std::string component_app_id;  // a suite's suite_id
  std::string secret;            // component_appsecret, from secret_file/_env
  std::string server_token;      // checks the pushes' msg_signature
  std::string encoding_aes_key;  // pushes are always encrypted
  // The vault key file's text (base/vault.h): seals refresh tokens at rest.
  std::string vault_keys;
  std::vector<TokenKind> authorizer_tickets;  // for every authorizer
  // An authorizer's token is refreshed ahead only while used this recently.
  absl::Duration idle_after = absl::Hours(24);
  absl::Duration reconcile_interval = absl::Hours(24);  // authorizer list
  int daily_budget = 1900;        // per owner: the component token, each
                                  // authorizer
  int platform_daily_budget = 0;  // authorizer fetches together; 0 = no cap

  friend bool operator==(const PlatformConfig&,
                         const PlatformConfig&) = default;
};

// A WeCom owner: an app of a corp, or a provider. Its errcodes are WeCom's.
inline bool IsWeComOwner(const AppConfig& app) {
  return app.api == AppConfig::Api::kWeCom ||
         app.api == AppConfig::Api::kWeComProvider ||
         app.api == AppConfig::Api::kWeComSuite ||
         app.api == AppConfig::Api::kSuiteCorp;
}

// wecom (DESIGN.md "WeCom"): each corp's apps are owners in Config::apps
// (AppConfig::Api::kWeCom); here what they share.
struct WeComCorpConfig {
  std::string corp_id;
  std::vector<std::string> agents;  // their owner keys, in config order
  // tickets: ["jsapi"]: the corp's ticket, a kJsapiTicket of agents[0]
  // that every agent serves (AppConfig::corp_ticket_from).
  bool jsapi_ticket = false;

  friend bool operator==(const WeComCorpConfig&,
                         const WeComCorpConfig&) = default;
};

struct WeComConfig {
  // qyapi's hosts, failed over in order as upstream.base_urls are.
  std::vector<std::string> base_urls = {"https://qyapi.weixin.qq.com"};
  std::vector<WeComCorpConfig> corps;
  // Ticket requests over any sliding hour, enforced here below WeCom's own
  // limits (400 per corp for its jsapi ticket, 100 per app for all of its
  // ticket requests).
  int corp_ticket_hourly_budget = 380;
  int app_ticket_hourly_budget = 95;

  friend bool operator==(const WeComConfig&, const WeComConfig&) = default;
};

struct UpstreamConfig {
  std::vector<std::string> base_urls = {"https://api.weixin.qq.com",
                                        "https://api2.weixin.qq.com"};
  absl::Duration timeout = absl::Seconds(5);
  // Upstream requests in flight at once, all apps together.
  int max_concurrency = 8;

  friend bool operator==(const UpstreamConfig&,
                         const UpstreamConfig&) = default;
};

struct RefreshConfig {
  absl::Duration margin = absl::Minutes(10);
  absl::Duration overlap = absl::Minutes(5);
  absl::Duration client_max_cache = absl::Minutes(4);
  absl::Duration force_min_interval = absl::Seconds(30);
  // Upstream token and ticket requests per app and Beijing day, every
  // attempt counted; of which ForceRefresh may spend at most force_budget.
  int daily_budget = 1900;
  int force_budget = 200;
  // Backoff after a transient failure: doubles from retry_initial up to
  // retry_max, with jitter.
  absl::Duration retry_initial = absl::Seconds(1);
  absl::Duration retry_max = absl::Seconds(60);
  // Wait after a credential/whitelist error before trying again.
  absl::Duration permanent_retry = absl::Minutes(10);

  friend bool operator==(const RefreshConfig&, const RefreshConfig&) = default;
};

// quota: WeChat's own count of each token endpoint's daily use
// (openapi/quota/get), exported as gauges (DESIGN.md "Operations").
struct QuotaConfig {
  absl::Duration poll_interval = absl::Hours(1);  // zero = off

  friend bool operator==(const QuotaConfig&, const QuotaConfig&) = default;
};

struct WatchConfig {
  // WatchToken streams end after this (±10 % jitter), so callers spread
  // over the replicas again.
  absl::Duration max_stream_age = absl::Minutes(30);

  friend bool operator==(const WatchConfig&, const WatchConfig&) = default;
};

// store.redis: replicas share their state and a leader lease through Redis
// (DESIGN.md "Replicas").
struct RedisConfig {
  // One server, or Sentinels when master_name is set; host:port each.
  std::vector<std::string> addresses;
  std::string master_name;  // "" = addresses[0] is the server
  std::string password;     // from password_file / password_env; "" = none
  std::string key_prefix = "wxtoken:";
  // The leader lease; renewed every lease_ttl / 3. At least twice
  // upstream.timeout, so a leader can finish a request inside it.
  absl::Duration lease_ttl = absl::Seconds(10);
  // Redis replicas that must have an intent (WAIT) before the request that
  // it records is sent. At least 1 with Sentinel: an intent lost in a
  // failover would let a replica serve a revoked value.
  int wait_replicas = 0;

  friend bool operator==(const RedisConfig&, const RedisConfig&) = default;
};

struct StoreConfig {
  std::optional<RedisConfig> redis;  // nullopt: the file store (state_dir)
  // host:port the other replicas forward ForceRefresh to (the pod's IP):
  // advertise_address, or the variable advertise_address_env names.
  std::string advertise_address;

  friend bool operator==(const StoreConfig&, const StoreConfig&) = default;
};

// tls: the gRPC listener's certificate, reloaded when its files change.
struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // set: client certificates required (mTLS)

  friend bool operator==(const TlsConfig&, const TlsConfig&) = default;
};

// One entry of `callers` (DESIGN.md "Security"): what a principal may call.
struct CallerGrant {
  // A certificate's URI SAN ("spiffe://..."), "dns:" + a DNS SAN, or "*"
  // (any caller that passed mTLS).
  std::string principal;
  std::vector<std::string> apps;     // app_ids, or "*"
  std::vector<std::string> methods;  // TokenController method names, or "*"

  friend bool operator==(const CallerGrant&, const CallerGrant&) = default;
};

// The TokenController methods a grant may name: the proto's names.
inline constexpr const char* kTokenControllerMethods[] = {
    "GetToken",           "ForceRefresh",   "VerifySignature", "SignJsapi",
    "SignCard",           "DecryptMessage", "EncryptReply",    "WatchToken",
    "SubmitPlatformPush", "ListOwners",     "DescribeOwner"};

struct Config {
  std::string listen = "0.0.0.0:50051";
  // A plaintext listener serving grpc.health.v1 only (the kubelet's probes
  // speak no TLS); "" = none.
  std::string health_listen;
  bool reflection = true;        // gRPC server reflection on `listen`
  std::optional<TlsConfig> tls;  // nullopt: `listen` is plaintext
  // nullopt: no authorization (whoever reaches the listener may call
  // anything). Present, even empty: anyone not granted is denied.
  std::optional<std::vector<CallerGrant>> callers;
  std::string metrics_listen = "0.0.0.0:9464";      // "" disables
  std::string state_dir = "/var/lib/wxtoken";       // "" = memory only
  absl::Duration drain_timeout = absl::Seconds(5);  // SIGTERM: in-flight RPCs
  // SIGTERM: keep serving, NOT_SERVING, this long before the drain, so that
  // load balancers stop sending calls first.
  absl::Duration shutdown_delay = absl::ZeroDuration();
  StoreConfig store;
  // VerifySignature / DecryptMessage refuse a push whose timestamp is further
  // than this from our clock. Zero turns the check off (WeChat documents no
  // window, and retries a push with its original timestamp).
  absl::Duration max_timestamp_skew = absl::ZeroDuration();
  UpstreamConfig upstream;
  RefreshConfig refresh;
  WatchConfig watch;
  QuotaConfig quota;
  // Every configured owner the refresh worker keeps tokens for: `apps`, then
  // one per platform (its component token, Api::kComponent), then WeCom's
  // providers (Api::kWeComProvider), each corp's apps (Api::kWeCom) and
  // one per suite (Api::kWeComSuite), so that serving, grants, health and
  // reloads treat each alike.
  std::vector<AppConfig> apps;
  // HTTP listener for WeChat's pushes (/wechat/platform/<id>) and WeCom's
  // (/wecom/suite/<suite_id>); "" = none.
  std::string push_listen;
  // `platforms`, then `wecom.suites` (PlatformConfig::wecom_suite).
  std::vector<PlatformConfig> platforms;
  WeComConfig wecom;

  friend bool operator==(const Config&, const Config&) = default;
};

// Parses "500ms", "30s", "5m", "1h", "1m30s". Rejects negatives and bare
// numbers.
absl::StatusOr<absl::Duration> ParseConfigDuration(const std::string& text);

// Parses and validates YAML text. Errors are one line naming the key
// ("refresh.margin: bad duration \"ten\""), never containing a secret.
absl::StatusOr<Config> ParseConfig(const std::string& yaml_text);

// Reads `path` and calls ParseConfig. `files_read`, when given, gets `path`
// and every file the config names that was read (or tried), valid config
// or not: what this result depends on.
absl::StatusOr<Config> LoadConfig(
    const std::string& path, std::vector<std::string>* files_read = nullptr);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_CONFIG_CONFIG_H_
