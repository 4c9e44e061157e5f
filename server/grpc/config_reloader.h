#ifndef WXTOKEN_SERVER_GRPC_CONFIG_RELOADER_H_
#define WXTOKEN_SERVER_GRPC_CONFIG_RELOADER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/base/clock.h"
#include "server/base/swappable.h"
#include "server/config/config.h"
#include "server/config/file_stamps.h"
#include "server/grpc/caller_authorizer.h"
#include "server/messages/push_messages.h"
#include "server/metrics/server_metrics.h"
#include "server/token/inbox.h"
#include "server/token/refresh_engine.h"
#include "server/token/token_watch_hub.h"

namespace wxtoken::server {

// Applies config reloads to a running wxtokend (DESIGN.md "Configuration",
// Live changes; the split between live and restart-only keys is
// PlanReload's). An invalid config changes nothing: it is logged in one
// line naming the key and counted in wxtoken_config_reload_failures_total.
// Rotated AppSecrets go to the refresh engine on the worker's thread (through
// its Inbox); push-message keys and callers are swapped under the RPCs.
// Called from one thread (main's signal loop); not thread-safe.
class ConfigReloader {
 public:
  struct Targets {
    Inbox& inbox;
    RefreshEngine& engine;  // touched only on the worker thread
    Swappable<PushMessages>& push_messages;
    Swappable<CallerAuthorizer>& authorizer;
    TokenWatchHub& watch_hub;  // its streams are reauthorized
    std::vector<std::string> replica_principals;
    ServerMetrics& metrics;
    const Clock& clock;
  };

  // `running`: the config wxtokend started with, read from `path`.
  ConfigReloader(std::string path, Config running, Targets targets);

  // SIGHUP: reads the config now.
  void Reload(absl::string_view trigger);
  // Reads the config and its secret files, and reloads when anything reads
  // differently from the last time: an edit, or Kubernetes swapping a
  // ConfigMap or Secret mount's `..data` symlink. A config that stays
  // invalid is reported once. When stat() finds every file the last read
  // read as it was, nothing is read: the idle tick costs one stat() a file,
  // not a read of each and a parse of the whole YAML.
  void ReloadIfChanged();

  // What runs now (its live keys as last reloaded).
  const Config& running() const { return running_; }

 private:
  void Apply(absl::StatusOr<Config> next, absl::string_view trigger);
  // LoadConfig, noting what it read and how the files stood.
  absl::StatusOr<Config> Read();

  const std::string path_;
  Targets targets_;
  Config running_;
  // The last read, valid or not, to notice the next change.
  absl::StatusOr<Config> last_read_;
  // What it read, to skip reading again when stat() shows nothing changed.
  ReadFiles read_files_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_CONFIG_RELOADER_H_
