#include "server/config/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "server/config/platform_config.h"
#include "server/config/secret_fields.h"
#include "server/config/security_config.h"
#include "server/config/wecom_config.h"
#include "server/config/yaml_fields.h"
#include "server/wechat/limits.h"
#include "yaml-cpp/yaml.h"

namespace wxtoken::server {
namespace {

using config_yaml::CheckEncodingAesKey;
using config_yaml::CheckHostPort;
using config_yaml::Describe;
using config_yaml::Entries;
using config_yaml::Find;
using config_yaml::GetString;
using config_yaml::IndexPath;
using config_yaml::JoinPath;
using config_yaml::KeyError;
using config_yaml::Quote;
using config_yaml::ReadBaseUrls;
using config_yaml::ReadDuration;
using config_yaml::ReadInt;
using config_yaml::ReadMap;
using config_yaml::ReadSecret;
using config_yaml::ReadSmallFile;
using config_yaml::ReadString;
using config_yaml::ReadTicketKinds;
using config_yaml::RefuseLiteralSecrets;
using config_yaml::Secret;
using config_yaml::Zero;

absl::Status ParseUpstream(const YAML::Node& node, UpstreamConfig* upstream) {
  const std::string path = "upstream";
  absl::StatusOr<Entries> entries =
      ReadMap(node, path, {"base_urls", "timeout", "max_concurrency"});
  if (!entries.ok()) return entries.status();
  absl::Status status =
      ReadBaseUrls(*entries, path, "base_urls", &upstream->base_urls);
  if (!status.ok()) return status;
  status = ReadDuration(*entries, path, "timeout", Zero::kRefused,
                        &upstream->timeout);
  if (!status.ok()) return status;
  return ReadInt(*entries, path, "max_concurrency", 1,
                 &upstream->max_concurrency);
}

absl::Status ParseRefresh(const YAML::Node& node, RefreshConfig* refresh) {
  const std::string path = "refresh";
  absl::StatusOr<Entries> entries =
      ReadMap(node, path,
              {"margin", "overlap", "client_max_cache", "force_min_interval",
               "daily_budget", "force_budget", "retry_initial", "retry_max",
               "permanent_retry"});
  if (!entries.ok()) return entries.status();
  const std::pair<absl::string_view, absl::Duration*> positive[] = {
      {"overlap", &refresh->overlap},
      {"client_max_cache", &refresh->client_max_cache},
      {"force_min_interval", &refresh->force_min_interval},
      {"retry_initial", &refresh->retry_initial},
      {"retry_max", &refresh->retry_max},
      {"permanent_retry", &refresh->permanent_retry},
  };
  // A zero margin is legal: refresh only when the token expires (stable API
  // users may want that). Every other span of zero would spin the worker.
  absl::Status status =
      ReadDuration(*entries, path, "margin", Zero::kAllowed, &refresh->margin);
  if (!status.ok()) return status;
  for (const auto& [key, out] : positive) {
    status = ReadDuration(*entries, path, key, Zero::kRefused, out);
    if (!status.ok()) return status;
  }
  status = ReadInt(*entries, path, "daily_budget", 1, &refresh->daily_budget);
  if (!status.ok()) return status;
  return ReadInt(*entries, path, "force_budget", 0, &refresh->force_budget);
}

absl::Status ParseRedis(const YAML::Node& node, RedisConfig* redis) {
  const std::string path = "store.redis";
  if (node.IsMap()) {
    for (const auto& entry : node) {
      if (entry.first.IsScalar() && entry.first.Scalar() == "password") {
        return KeyError(JoinPath(path, "password"),
                        "literal secrets are not allowed; use password_file "
                        "or password_env");
      }
    }
  }
  absl::StatusOr<Entries> entries =
      ReadMap(node, path,
              {"addresses", "master_name", "password_file", "password_env",
               "key_prefix", "lease_ttl", "wait_replicas"});
  if (!entries.ok()) return entries.status();
  const std::string addresses_path = JoinPath(path, "addresses");
  const std::optional<YAML::Node> addresses = Find(*entries, "addresses");
  if (!addresses || !addresses->IsSequence() || addresses->size() == 0) {
    return KeyError(addresses_path,
                    "required: a list of host:port (one Redis server, or "
                    "the Sentinels)");
  }
  for (size_t i = 0; i < addresses->size(); ++i) {
    const std::string address_path = IndexPath(addresses_path, i);
    absl::StatusOr<std::string> address =
        GetString((*addresses)[i], address_path);
    if (!address.ok()) return address.status();
    if (absl::Status s = CheckHostPort(address_path, *address); !s.ok()) {
      return s;
    }
    redis->addresses.push_back(*std::move(address));
  }
  absl::Status status =
      ReadString(*entries, path, "master_name", &redis->master_name);
  if (!status.ok()) return status;
  status = ReadString(*entries, path, "key_prefix", &redis->key_prefix);
  if (!status.ok()) return status;
  if (redis->key_prefix.empty()) {
    return KeyError(JoinPath(path, "key_prefix"), "must not be empty");
  }
  status = ReadDuration(*entries, path, "lease_ttl", Zero::kRefused,
                        &redis->lease_ttl);
  if (!status.ok()) return status;
  status = ReadInt(*entries, path, "wait_replicas", 0, &redis->wait_replicas);
  if (!status.ok()) return status;
  if (!redis->master_name.empty() && redis->wait_replicas < 1) {
    return KeyError(JoinPath(path, "wait_replicas"),
                    "must be at least 1 with master_name (Sentinel): an "
                    "intent lost in a failover would let a replica serve a "
                    "revoked token");
  }
  absl::StatusOr<Secret> password =
      ReadSecret(*entries, path, "password", /*required=*/false);
  if (!password.ok()) return password.status();
  redis->password = std::move(password->value);
  return absl::OkStatus();
}

absl::Status ParseStore(const YAML::Node& node, StoreConfig* store) {
  const std::string path = "store";
  absl::StatusOr<Entries> entries = ReadMap(
      node, path, {"redis", "advertise_address", "advertise_address_env"});
  if (!entries.ok()) return entries.status();
  absl::Status status = ReadString(*entries, path, "advertise_address",
                                   &store->advertise_address);
  if (!status.ok()) return status;
  std::string key = "advertise_address";
  // Kubernetes gives the pod's IP through the environment (the downward
  // API: "$(POD_IP):50051").
  std::string variable;
  status = ReadString(*entries, path, "advertise_address_env", &variable);
  if (!status.ok()) return status;
  if (!variable.empty()) {
    key = "advertise_address_env";
    if (!store->advertise_address.empty()) {
      return KeyError(JoinPath(path, key),
                      "set only one of advertise_address or "
                      "advertise_address_env");
    }
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr || *value == '\0') {
      return KeyError(JoinPath(path, key),
                      absl::StrCat("the environment variable ", Quote(variable),
                                   " is not set"));
    }
    store->advertise_address = value;
  }
  if (!store->advertise_address.empty()) {
    status = CheckHostPort(JoinPath(path, key), store->advertise_address);
    if (!status.ok()) return status;
  }
  const std::optional<YAML::Node> redis = Find(*entries, "redis");
  if (!redis) return KeyError(JoinPath(path, "redis"), "required");
  store->redis.emplace();
  return ParseRedis(*redis, &*store->redis);
}

absl::StatusOr<AppConfig> ParseApp(const YAML::Node& node,
                                   const std::string& path) {
  if (absl::Status literal = RefuseLiteralSecrets(node, path); !literal.ok()) {
    return literal;
  }
  absl::StatusOr<Entries> entries =
      ReadMap(node, path,
              {"app_id", "api", "tickets", "secret_file", "secret_env",
               "server_token_file", "server_token_env", "encoding_aes_key_file",
               "encoding_aes_key_env", "previous_encoding_aes_key_file",
               "previous_encoding_aes_key_env"});
  if (!entries.ok()) return entries.status();
  AppConfig app;

  const std::string app_id_path = JoinPath(path, "app_id");
  std::optional<YAML::Node> app_id = Find(*entries, "app_id");
  if (!app_id) return KeyError(app_id_path, "required");
  absl::StatusOr<std::string> id = GetString(*app_id, app_id_path);
  if (!id.ok()) return id.status();
  // The same shape rule as requests, so every configured app is reachable.
  if (!IsWellFormedAppId(*id)) {
    return KeyError(app_id_path,
                    absl::StrCat("not a WeChat AppID (1 to 32 of A-Z a-z 0-9 _ "
                                 "-): ",
                                 Quote(*id)));
  }
  // Health names an app wxtoken.v1.TokenController/<app_id>; this one
  // names the leader.
  if (*id == "leader") {
    return KeyError(app_id_path,
                    "\"leader\" is reserved (the health service "
                    "wxtoken.v1.TokenController/leader)");
  }
  app.app_id = *std::move(id);

  std::string api = "classic";
  absl::Status status = ReadString(*entries, path, "api", &api);
  if (!status.ok()) return status;
  if (api == "classic") {
    app.api = AppConfig::Api::kClassic;
  } else if (api == "stable") {
    app.api = AppConfig::Api::kStable;
  } else {
    return KeyError(
        JoinPath(path, "api"),
        absl::StrCat("expected \"classic\" or \"stable\", got ", Quote(api)));
  }

  status = ReadTicketKinds(*entries, path, "tickets", &app.tickets);
  if (!status.ok()) return status;

  absl::StatusOr<Secret> secret = ReadSecret(*entries, path, "secret", true);
  if (!secret.ok()) return secret.status();
  app.secret = std::move(secret->value);

  if (status = config_yaml::ReadCallbackSecrets(*entries, path, &app);
      !status.ok()) {
    return status;
  }
  return app;
}

absl::Status ParseApps(const YAML::Node& node, std::vector<AppConfig>* apps) {
  const std::string path = "apps";
  if (!node.IsSequence()) {
    return KeyError(
        path, absl::StrCat("expected a list of apps, got ", Describe(node)));
  }
  if (node.size() == 0) return KeyError(path, "needs at least one app");
  // Each app_id's index: a config of 10,000 apps is read every time it
  // changes, and comparing each app with all before it took most of that.
  absl::flat_hash_map<std::string, size_t> seen;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string app_path = IndexPath(path, i);
    absl::StatusOr<AppConfig> app = ParseApp(node[i], app_path);
    if (!app.ok()) return app.status();
    if (auto [it, added] = seen.emplace(app->app_id, i); !added) {
      return KeyError(
          JoinPath(app_path, "app_id"),
          absl::StrCat("duplicate app_id ", Quote(app->app_id), " (also ",
                       IndexPath(path, it->second), ")"));
    }
    apps->push_back(*std::move(app));
  }
  return absl::OkStatus();
}

// Checks between keys, once each key is valid on its own.
absl::Status CheckConsistency(const Config& config) {
  const RefreshConfig& refresh = config.refresh;
  if (refresh.client_max_cache >= refresh.overlap) {
    return KeyError(
        "refresh.client_max_cache",
        absl::StrCat("must be less than refresh.overlap (",
                     absl::FormatDuration(refresh.client_max_cache),
                     " >= ", absl::FormatDuration(refresh.overlap), ")"));
  }
  // A caller may get a value just before a refresh whose request takes up
  // to the upstream timeout; the old value dies `overlap` after that request
  // was sent, so the caller's cache must end before then.
  if (refresh.client_max_cache + config.upstream.timeout > refresh.overlap) {
    return KeyError("refresh.client_max_cache",
                    absl::StrCat("refresh.client_max_cache (",
                                 absl::FormatDuration(refresh.client_max_cache),
                                 ") + upstream.timeout (",
                                 absl::FormatDuration(config.upstream.timeout),
                                 ") exceeds refresh.overlap (",
                                 absl::FormatDuration(refresh.overlap),
                                 "): a caller could hold a revoked token"));
  }
  if (refresh.margin >= absl::Hours(24)) {
    return KeyError("refresh.margin",
                    absl::StrCat("must be less than 24h, got ",
                                 absl::FormatDuration(refresh.margin)));
  }
  if (refresh.force_budget > refresh.daily_budget) {
    return KeyError(
        "refresh.force_budget",
        absl::StrCat("must not exceed refresh.daily_budget (",
                     refresh.force_budget, " > ", refresh.daily_budget, ")"));
  }
  if (config.store.redis &&
      config.store.redis->lease_ttl < 2 * config.upstream.timeout) {
    return KeyError(
        "store.redis.lease_ttl",
        absl::StrCat("must be at least twice upstream.timeout (",
                     absl::FormatDuration(config.store.redis->lease_ttl),
                     " < 2 x ", absl::FormatDuration(config.upstream.timeout),
                     "): a leader must finish a request inside its lease"));
  }
  if (refresh.retry_initial > refresh.retry_max) {
    return KeyError(
        "refresh.retry_initial",
        absl::StrCat("must not exceed refresh.retry_max (",
                     absl::FormatDuration(refresh.retry_initial), " > ",
                     absl::FormatDuration(refresh.retry_max), ")"));
  }
  return absl::OkStatus();
}

// A platform as the owner of its component token, a suite of its suite
// token.
AppConfig PlatformOwner(const PlatformConfig& platform) {
  AppConfig owner;
  owner.app_id = platform.component_app_id;
  owner.api = platform.wecom_suite ? AppConfig::Api::kWeComSuite
                                   : AppConfig::Api::kComponent;
  owner.secret = platform.secret;
  // VerifySignature and DecryptMessage for its pushes: the receive id is
  // the component_app_id (the suite_id), as for an app's.
  owner.server_token = platform.server_token;
  owner.encoding_aes_key = platform.encoding_aes_key;
  return owner;
}

absl::StatusOr<Config> ParseConfigNode(const YAML::Node& root) {
  absl::StatusOr<Entries> entries =
      ReadMap(root, "",
              {"listen", "health_listen", "metrics_listen", "reflection", "tls",
               "callers", "state_dir", "drain_timeout", "shutdown_delay",
               "max_timestamp_skew", "store", "upstream", "refresh", "watch",
               "quota", "apps", "push_listen", "platforms", "wecom"});
  if (!entries.ok()) return entries.status();
  Config config;
  absl::Status status = ReadString(*entries, "", "listen", &config.listen);
  if (!status.ok()) return status;
  status = CheckHostPort("listen", config.listen);
  if (!status.ok()) return status;
  status = ReadString(*entries, "", "health_listen", &config.health_listen);
  if (!status.ok()) return status;
  if (!config.health_listen.empty()) {
    status = CheckHostPort("health_listen", config.health_listen);
    if (!status.ok()) return status;
  }
  if (std::optional<YAML::Node> reflection = Find(*entries, "reflection")) {
    bool value = false;
    if (!reflection->IsScalar() ||
        !YAML::convert<bool>::decode(*reflection, value)) {
      return KeyError(
          "reflection",
          absl::StrCat("expected true or false, got ",
                       reflection->IsScalar() ? Quote(reflection->Scalar())
                                              : Describe(*reflection)));
    }
    config.reflection = value;
  }
  if (std::optional<YAML::Node> tls = Find(*entries, "tls")) {
    status = ParseTls(*tls, &config.tls.emplace());
    if (!status.ok()) return status;
  }
  if (std::optional<YAML::Node> callers = Find(*entries, "callers")) {
    status = ParseCallers(*callers, config.tls, &config.callers.emplace());
    if (!status.ok()) return status;
  }
  status = ReadString(*entries, "", "metrics_listen", &config.metrics_listen);
  if (!status.ok()) return status;
  if (!config.metrics_listen.empty()) {
    status = CheckHostPort("metrics_listen", config.metrics_listen);
    if (!status.ok()) return status;
  }
  status = ReadString(*entries, "", "push_listen", &config.push_listen);
  if (!status.ok()) return status;
  if (!config.push_listen.empty()) {
    status = CheckHostPort("push_listen", config.push_listen);
    if (!status.ok()) return status;
  }
  status = ReadString(*entries, "", "state_dir", &config.state_dir);
  if (!status.ok()) return status;
  status = ReadDuration(*entries, "", "drain_timeout", Zero::kRefused,
                        &config.drain_timeout);
  if (!status.ok()) return status;
  status = ReadDuration(*entries, "", "shutdown_delay", Zero::kAllowed,
                        &config.shutdown_delay);
  if (!status.ok()) return status;
  status = ReadDuration(*entries, "", "max_timestamp_skew", Zero::kAllowed,
                        &config.max_timestamp_skew);
  if (!status.ok()) return status;
  if (std::optional<YAML::Node> upstream = Find(*entries, "upstream")) {
    status = ParseUpstream(*upstream, &config.upstream);
    if (!status.ok()) return status;
  }
  if (std::optional<YAML::Node> refresh = Find(*entries, "refresh")) {
    status = ParseRefresh(*refresh, &config.refresh);
    if (!status.ok()) return status;
  }
  if (std::optional<YAML::Node> watch = Find(*entries, "watch")) {
    absl::StatusOr<Entries> watch_entries =
        ReadMap(*watch, "watch", {"max_stream_age"});
    if (!watch_entries.ok()) return watch_entries.status();
    status = ReadDuration(*watch_entries, "watch", "max_stream_age",
                          Zero::kRefused, &config.watch.max_stream_age);
    if (!status.ok()) return status;
  }
  if (std::optional<YAML::Node> quota = Find(*entries, "quota")) {
    absl::StatusOr<Entries> quota_entries =
        ReadMap(*quota, "quota", {"poll_interval"});
    if (!quota_entries.ok()) return quota_entries.status();
    status = ReadDuration(*quota_entries, "quota", "poll_interval",
                          Zero::kAllowed, &config.quota.poll_interval);
    if (!status.ok()) return status;
  }
  if (std::optional<YAML::Node> store = Find(*entries, "store")) {
    // An empty state_dir means "none", as everywhere else: no conflict.
    if (!config.state_dir.empty() && Find(*entries, "state_dir")) {
      return KeyError("state_dir",
                      "not used with store (replicas keep their state in "
                      "Redis); remove one of them");
    }
    config.state_dir.clear();
    status = ParseStore(*store, &config.store);
    if (!status.ok()) return status;
    if (config.tls && config.tls->client_ca_file.empty()) {
      // Followers forward ForceRefresh to the leader with their own
      // certificate, verified against it.
      return KeyError("tls.client_ca_file",
                      "required with store.redis: replicas verify each "
                      "other's certificates against it");
    }
  }
  status = CheckConsistency(config);
  if (!status.ok()) return status;
  // Last, so that a config whose other keys are wrong is reported without
  // touching any secret.
  std::optional<YAML::Node> apps = Find(*entries, "apps");
  std::optional<YAML::Node> platforms = Find(*entries, "platforms");
  std::optional<YAML::Node> wecom = Find(*entries, "wecom");
  if (!apps && !platforms && !wecom) {
    return KeyError("apps",
                    "required: a list of at least one app (or "
                    "platforms, or wecom)");
  }
  if (apps) {
    status = ParseApps(*apps, &config.apps);
    if (!status.ok()) return status;
  }
  if (platforms) {
    status =
        config_yaml::ParsePlatforms(*platforms, config.apps, &config.platforms);
    if (!status.ok()) return status;
    if (config.platforms.empty()) {
      return KeyError("platforms",
                      "needs at least one platform (or leave "
                      "it out)");
    }
    for (const PlatformConfig& platform : config.platforms) {
      config.apps.push_back(PlatformOwner(platform));
    }
  }
  if (wecom) {
    const size_t platforms_before = config.platforms.size();
    status = config_yaml::ParseWeCom(*wecom, &config.wecom, &config.apps,
                                     &config.platforms);
    if (!status.ok()) return status;
    for (size_t i = platforms_before; i < config.platforms.size(); ++i) {
      config.apps.push_back(PlatformOwner(config.platforms[i]));
    }
  }
  if (!config.platforms.empty() && config.push_listen.empty()) {
    return KeyError("push_listen",
                    "required with platforms and wecom.suites: WeChat and "
                    "WeCom push their tickets there (or SubmitPlatformPush; "
                    "set it anyway)");
  }
  if (config.apps.empty()) {
    return KeyError("apps",
                    "needs at least one owner (an app, a platform or "
                    "a WeCom app)");
  }
  status = CheckCallers(config);
  if (!status.ok()) return status;
  return config;
}

// The contract is one line per error; yaml-cpp's own texts are not ours to
// trust on that.
absl::Status OneLine(const absl::Status& status) {
  if (status.ok()) return status;
  std::string message(status.message());
  if (message.find_first_of("\r\n") == std::string::npos) return status;
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::replace(message.begin(), message.end(), '\r', ' ');
  return absl::Status(status.code(), message);
}

}  // namespace

absl::StatusOr<absl::Duration> ParseConfigDuration(const std::string& text) {
  const absl::Status bad = absl::InvalidArgumentError(
      absl::StrCat("bad duration ", Quote(text), " (use e.g. 500ms, 30s, 5m)"));
  // Our grammar, ([0-9]+(\.[0-9]+)?(ms|s|m|h))+, is a strict subset of
  // absl::ParseDuration's, which then does the exact arithmetic. Checking it
  // first refuses signs, bare numbers, "inf" and units like "ns" that make no
  // sense in this file.
  if (text.empty()) return bad;
  size_t i = 0;
  while (i < text.size()) {
    size_t digits = i;
    while (i < text.size() && absl::ascii_isdigit(text[i])) ++i;
    if (i == digits) return bad;
    if (i < text.size() && text[i] == '.') {
      size_t fraction = ++i;
      while (i < text.size() && absl::ascii_isdigit(text[i])) ++i;
      if (i == fraction) return bad;
    }
    if (text.compare(i, 2, "ms") == 0) {
      i += 2;
    } else if (i < text.size() &&
               (text[i] == 's' || text[i] == 'm' || text[i] == 'h')) {
      ++i;
    } else {
      return bad;
    }
  }
  absl::Duration value;
  if (!absl::ParseDuration(text, &value) || value == absl::InfiniteDuration()) {
    return bad;
  }
  return value;
}

absl::StatusOr<Config> ParseConfig(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return OneLine(absl::InvalidArgumentError(
          absl::StrCat("config: YAML error: ", e.msg)));
    }
    return OneLine(absl::InvalidArgumentError(absl::StrCat(
        "config: YAML error at line ", e.mark.line + 1, ": ", e.msg)));
  }
  // Reading nodes should not throw once the text parsed, but yaml-cpp's
  // exceptions must not cross our interface whatever happens.
  try {
    absl::StatusOr<Config> config = ParseConfigNode(root);
    if (!config.ok()) return OneLine(config.status());
    return config;
  } catch (const YAML::Exception& e) {
    return OneLine(absl::InvalidArgumentError(
        absl::StrCat("config: YAML error: ", e.msg)));
  }
}

absl::StatusOr<Config> LoadConfig(const std::string& path,
                                  std::vector<std::string>* files_read) {
  config_yaml::FilesReadLog log;
  absl::StatusOr<Config> config = [&]() -> absl::StatusOr<Config> {
    absl::StatusOr<std::string> text = ReadSmallFile(path);
    if (!text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: cannot read ", Quote(path), ": ", text.status().message()));
    }
    return ParseConfig(*text);
  }();
  if (files_read != nullptr) *files_read = log.files();
  return config;
}

}  // namespace wxtoken::server
