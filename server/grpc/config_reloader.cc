#include "server/grpc/config_reloader.h"

#include <memory>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/base/log.h"
#include "server/config/config_reload.h"

namespace wxtoken::server {
namespace {

bool SameRead(const absl::StatusOr<Config>& a,
              const absl::StatusOr<Config>& b) {
  if (a.ok() != b.ok()) return false;
  return a.ok() ? *a == *b : a.status() == b.status();
}

}  // namespace

ConfigReloader::ConfigReloader(std::string path, Config running,
                               Targets targets)
    : path_(std::move(path)),
      targets_(std::move(targets)),
      running_(running),
      last_read_(std::move(running)) {}

void ConfigReloader::Reload(absl::string_view trigger) {
  Apply(Read(), trigger);
}

void ConfigReloader::ReloadIfChanged() {
  if (read_files_.Unchanged()) return;
  absl::StatusOr<Config> next = Read();
  if (SameRead(next, last_read_)) return;
  Apply(std::move(next), "file change");
}

absl::StatusOr<Config> ConfigReloader::Read() {
  absl::StatusOr<Config> config;
  read_files_.Track(targets_.clock.Now(), [&] {
    std::vector<std::string> files;
    config = LoadConfig(path_, &files);
    return files;
  });
  return config;
}

void ConfigReloader::Apply(absl::StatusOr<Config> next,
                           absl::string_view trigger) {
  last_read_ = next;
  if (!next.ok()) {
    // The message names the key, never a secret (ParseConfig's contract).
    Log(LogLevel::kError, "config reload refused; the running config stays",
        {{"trigger", std::string(trigger)},
         {"error", std::string(next.status().message())}});
    targets_.metrics.RecordConfigReload(false);
    return;
  }
  ReloadPlan plan = PlanReload(running_, *next);
  for (const std::string& key : plan.restart_keys) {
    Log(LogLevel::kWarning,
        "config change needs a restart; the running value stays",
        {{"key", key}});
  }
  if (plan.messages_changed) {
    absl::StatusOr<PushMessages> messages =
        PushMessages::Create(plan.config, targets_.clock);
    if (!messages.ok()) {
      Log(LogLevel::kError, "config reload refused; the running config stays",
          {{"trigger", std::string(trigger)},
           {"error", std::string(messages.status().message())}});
      targets_.metrics.RecordConfigReload(false);
      return;
    }
    targets_.push_messages.Set(
        std::make_shared<const PushMessages>(*std::move(messages)));
  }
  if (plan.callers_changed) {
    targets_.authorizer.Set(std::make_shared<const CallerAuthorizer>(
        plan.config.callers, targets_.replica_principals));
    // A grant taken away ends the streams it allowed.
    targets_.watch_hub.ReauthorizeAll();
  }
  // The engine and the token table change on the worker's thread, in this
  // order.
  RefreshEngine& engine = targets_.engine;
  for (const std::string& app_id : plan.removed_apps) {
    targets_.inbox.Post([&engine, app_id] { engine.RemoveApp(app_id); });
  }
  for (const AppConfig& app : plan.added_apps) {
    targets_.inbox.Post([&engine, app] { engine.AddApp(app); });
  }
  const absl::flat_hash_set<std::string> rotated(plan.rotated_secrets.begin(),
                                                 plan.rotated_secrets.end());
  for (const AppConfig& app : plan.config.apps) {
    if (!rotated.contains(app.app_id)) continue;
    targets_.inbox.Post([&engine, app_id = app.app_id, secret = app.secret] {
      engine.UpdateSecret(app_id, secret);
    });
  }
  running_ = std::move(plan.config);
  // Counted once the worker has applied what it posted above: whoever sees
  // the count finds a removed app gone and an added one served.
  targets_.inbox.Post(
      [&metrics = targets_.metrics] { metrics.RecordConfigReload(true); });
  Log(LogLevel::kInfo,
      plan.unchanged ? "config reloaded; nothing changed" : "config reloaded",
      {{"trigger", std::string(trigger)},
       {"added_apps", absl::StrJoin(plan.added_apps, ",",
                                    [](std::string* out, const AppConfig& app) {
                                      out->append(app.app_id);
                                    })},
       {"removed_apps", absl::StrJoin(plan.removed_apps, ",")},
       {"rotated_secrets", absl::StrJoin(plan.rotated_secrets, ",")},
       {"callers", plan.callers_changed ? "replaced" : "unchanged"},
       {"push_keys", plan.messages_changed ? "replaced" : "unchanged"},
       {"needs_restart", absl::StrCat(plan.restart_keys.size())}});
}

}  // namespace wxtoken::server
