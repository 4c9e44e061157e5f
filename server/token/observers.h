#ifndef WXTOKEN_SERVER_TOKEN_OBSERVERS_H_
#define WXTOKEN_SERVER_TOKEN_OBSERVERS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/token/refresh_policy.h"
#include "server/token/token.h"
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

// A platform or WeCom suite at a glance (per platform, never per
// authorizer): its newest pushed ticket's CreateTime, and its authorizers
// (a suite's installed corps) by state.
struct PlatformView {
  // kComponentVerifyTicket (valid 12 h) or kSuiteTicket (30 min).
  TokenKind ticket_kind = TokenKind::kComponentVerifyTicket;
  std::optional<absl::Time> ticket_created;  // none pushed yet
  int64_t active = 0;
  int64_t recovering = 0;    // refresh token refused, a list pass awaited
  int64_t needs_reauth = 0;  // no refresh token left
  int64_t revoked = 0;       // unauthorized, or gone from the list
};

// WeChat's own count of one API's daily use (openapi/quota/get).
struct QuotaView {
  int64_t daily_limit = 0;
  int64_t used = 0;
  int64_t remain = 0;
};

// Learns what the engine does, for metrics. Called on the worker thread;
// implementations must not block. The defaults ignore everything.
class RefreshObserver {
 public:
  virtual ~RefreshObserver() = default;
  // A request to WeChat is about to be sent; `today` counts it.
  virtual void OnRequestSent(const std::string& /*app_id*/, FetchApi /*api*/,
                             const AppCounters& /*today*/) {}
  // WeChat answered a quota poll of `app_id`'s use of `cgi_path`.
  virtual void OnQuota(const std::string& /*app_id*/,
                       const std::string& /*cgi_path*/,
                       const QuotaView& /*quota*/) {}
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
  // A platform's view changed (a ticket, an authorizer's state).
  virtual void OnPlatformChanged(const std::string& /*platform*/,
                                 const PlatformView& /*view*/) {}
  // WeChat rotated an authorizer's refresh token.
  virtual void OnRefreshTokenRotated(const std::string& /*platform*/) {}
  // A refused refresh token was recovered `via` "previous", "info" or
  // "list".
  virtual void OnRefreshTokenRecovered(const std::string& /*platform*/,
                                       const std::string& /*via*/) {}
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_OBSERVERS_H_
