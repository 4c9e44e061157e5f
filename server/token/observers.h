#ifndef WXTOKEN_SERVER_TOKEN_OBSERVERS_H_
#define WXTOKEN_SERVER_TOKEN_OBSERVERS_H_

#include <string>

#include "absl/status/status.h"
#include "server/token/refresh_policy.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server {

// Receives the health the engine computes (DESIGN.md "Health"). Called on the
// worker thread; implementations must not block.
class HealthSink {
 public:
  virtual ~HealthSink() = default;
  // The app holds a valid access token and has no credential error.
  virtual void SetAppServing(const std::string& app_id, bool serving) = 0;
  // Every configured app is serving.
  virtual void SetAllAppsServing(bool serving) = 0;
  // Every app has had its first fetch attempt or a stored token. Called once.
  virtual void SetStartupDone() = 0;
  // This replica holds the leader lease (always, with a store of one).
  virtual void SetLeader(bool /*leader*/) {}
};

enum class ForceOutcome { kRefreshed, kAlreadyNewer, kCoalesced };

// Learns what the engine does, for metrics. Called on the worker thread;
// implementations must not block. The defaults ignore everything.
class RefreshObserver {
 public:
  virtual ~RefreshObserver() = default;
  // A request to WeChat is about to be sent; `today` counts it.
  virtual void OnRequestSent(const std::string& /*app_id*/, FetchApi /*api*/,
                             const AppCounters& /*today*/) {}
  // A request to WeChat ended with `result`.
  virtual void OnRequestDone(const std::string& /*app_id*/, FetchApi /*api*/,
                             const FetchResult& /*result*/) {}
  // A ForceRefresh was answered: `outcome` when ok, else the error status.
  virtual void OnForceRefreshAnswered(const std::string& /*app_id*/,
                                      const absl::Status& /*status*/,
                                      ForceOutcome /*outcome*/) {}
  // A write of the app's state ended; not OK means it is not durable.
  virtual void OnStateWritten(const std::string& /*app_id*/,
                              const absl::Status& /*status*/) {}
  // A config reload added an app (`today`: its stored spend) or removed one.
  virtual void OnAppAdded(const std::string& /*app_id*/,
                          const AppCounters& /*today*/) {}
  virtual void OnAppRemoved(const std::string& /*app_id*/) {}
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_OBSERVERS_H_
