#ifndef WXTOKEN_SERVER_CONFIG_CONFIG_RELOAD_H_
#define WXTOKEN_SERVER_CONFIG_CONFIG_RELOAD_H_

#include <string>
#include <vector>

#include "server/config/config.h"

namespace wxtoken::server {

// What a reload of a valid config changes in a running wxtokend (DESIGN.md
// "Configuration", Live changes): the config to run from now on, which is
// the running one with every key that can change live taken from the new
// one, and what the rest of the server must be told.
struct ReloadPlan {
  Config config;  // what runs from now on
  // Keys that changed but keep their old value until a restart, e.g.
  // "listen", "apps: wxabc added"; for the log, one line each. Never a
  // secret.
  std::vector<std::string> restart_keys;
  // Apps whose AppSecret changed: their next fetch uses the new one.
  std::vector<std::string> rotated_secrets;
  // Apps added (first fetch scheduled) and removed (GetToken NOT_FOUND).
  std::vector<AppConfig> added_apps;
  std::vector<std::string> removed_apps;
  bool callers_changed = false;
  // Server tokens, EncodingAESKeys, max_timestamp_skew or the set of apps
  // changed: the push messages' keys are rebuilt.
  bool messages_changed = false;
  // Nothing at all differs.
  bool unchanged = false;
};

// Plans the move from `running` to `next`, both valid. Live: apps added and
// removed, each app's secret, server token and EncodingAESKeys, callers,
// max_timestamp_skew, drain_timeout and shutdown_delay. Restart only:
// listen, health_listen, metrics_listen, reflection, tls file paths,
// state_dir and store (DESIGN.md), and in this version also upstream,
// refresh, watch, and a kept app's api and tickets (a kept app is never
// taken away from its callers, not even briefly).
ReloadPlan PlanReload(const Config& running, const Config& next);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_CONFIG_CONFIG_RELOAD_H_
