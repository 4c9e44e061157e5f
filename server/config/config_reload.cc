#include "server/config/config_reload.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace wxtoken::server {
namespace {

// Keeps `running`'s value of a key that needs a restart, noting a change.
template <class T>
void KeepForRestart(const char* key, const T& running, const T& next,
                    std::vector<std::string>& restart_keys) {
  if (!(running == next)) restart_keys.push_back(key);
}

// A platform's or a suite's own token: follows `platforms` (wecom.suites).
bool IsPlatform(const AppConfig& owner) {
  return owner.api == AppConfig::Api::kComponent ||
         owner.api == AppConfig::Api::kWeComSuite;
}

// Owners a reload never adds or removes: they follow `platforms` and
// `wecom`, which need a restart.
bool IsRestartOnlyOwner(const AppConfig& owner) {
  return IsPlatform(owner) || IsWeComOwner(owner);
}

// Which apps exist, and their secrets, tokens and keys, are live; a kept
// app's api and tickets are not. A WeCom app's secrets are live too.
void PlanApps(const Config& next, ReloadPlan& plan) {
  std::map<std::string, const AppConfig*> wanted;
  for (const AppConfig& app : next.apps) {
    if (!IsPlatform(app)) wanted[app.app_id] = &app;
  }
  std::erase_if(plan.config.apps, [&](const AppConfig& app) {
    if (IsRestartOnlyOwner(app) || wanted.contains(app.app_id)) return false;
    plan.removed_apps.push_back(app.app_id);
    return true;
  });
  for (AppConfig& app : plan.config.apps) {
    if (IsPlatform(app)) continue;
    auto it = wanted.find(app.app_id);
    if (it == wanted.end()) continue;  // a WeCom app gone: `wecom` says so
    const AppConfig& want = *it->second;
    wanted.erase(it);
    if (app.api != want.api) {
      plan.restart_keys.push_back(absl::StrCat("apps: ", app.app_id, " api"));
    }
    if (app.tickets != want.tickets) {
      plan.restart_keys.push_back(
          absl::StrCat("apps: ", app.app_id, " tickets"));
    }
    if (app.secret != want.secret) {
      plan.rotated_secrets.push_back(app.app_id);
      app.secret = want.secret;
    }
    if (app.server_token != want.server_token ||
        app.encoding_aes_key != want.encoding_aes_key ||
        app.previous_encoding_aes_key != want.previous_encoding_aes_key) {
      plan.messages_changed = true;
      app.server_token = want.server_token;
      app.encoding_aes_key = want.encoding_aes_key;
      app.previous_encoding_aes_key = want.previous_encoding_aes_key;
    }
  }
  // In the new config's order.
  for (const AppConfig& app : next.apps) {
    if (IsRestartOnlyOwner(app) || !wanted.contains(app.app_id)) continue;
    plan.added_apps.push_back(app);
    plan.config.apps.push_back(app);
  }
  if (!plan.added_apps.empty() || !plan.removed_apps.empty()) {
    plan.messages_changed = true;
  }
}

}  // namespace

ReloadPlan PlanReload(const Config& running, const Config& next) {
  ReloadPlan plan;
  plan.config = running;
  plan.unchanged = running == next;
  if (plan.unchanged) return plan;
  std::vector<std::string>& restart = plan.restart_keys;
  KeepForRestart("listen", running.listen, next.listen, restart);
  KeepForRestart("health_listen", running.health_listen, next.health_listen,
                 restart);
  KeepForRestart("metrics_listen", running.metrics_listen, next.metrics_listen,
                 restart);
  KeepForRestart("reflection", running.reflection, next.reflection, restart);
  KeepForRestart("tls", running.tls, next.tls, restart);
  KeepForRestart("state_dir", running.state_dir, next.state_dir, restart);
  KeepForRestart("store", running.store, next.store, restart);
  KeepForRestart("upstream", running.upstream, next.upstream, restart);
  KeepForRestart("refresh", running.refresh, next.refresh, restart);
  KeepForRestart("watch", running.watch, next.watch, restart);
  KeepForRestart("quota", running.quota, next.quota, restart);
  KeepForRestart("push_listen", running.push_listen, next.push_listen, restart);
  KeepForRestart("platforms", running.platforms, next.platforms, restart);
  KeepForRestart("wecom", running.wecom, next.wecom, restart);

  if (running.callers != next.callers) {
    // Callers are known by their client certificates: without the running
    // listener asking for them (a restart-only key) the new grants would
    // deny everyone.
    if (next.callers && (!running.tls || running.tls->client_ca_file.empty())) {
      restart.push_back(
          "callers (they need tls.client_ca_file, which needs "
          "a restart)");
    } else {
      plan.callers_changed = true;
      plan.config.callers = next.callers;
    }
  }
  if (running.max_timestamp_skew != next.max_timestamp_skew) {
    plan.messages_changed = true;
    plan.config.max_timestamp_skew = next.max_timestamp_skew;
  }
  plan.config.drain_timeout = next.drain_timeout;
  plan.config.shutdown_delay = next.shutdown_delay;
  PlanApps(next, plan);
  return plan;
}

}  // namespace wxtoken::server
