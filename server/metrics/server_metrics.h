#ifndef WXTOKEN_SERVER_METRICS_SERVER_METRICS_H_
#define WXTOKEN_SERVER_METRICS_SERVER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/config/config.h"
#include "server/metrics/rpc_series.h"
#include "server/token/observers.h"
#include "server/token/state_store.h"
#include "server/token/token_table.h"
#include "server/token/token_watch_hub.h"

namespace wxtoken::server {

// The buckets of wxtoken_rpc_duration_seconds, in seconds.
const prometheus::Histogram::BucketBoundaries& RpcDurationBuckets();

// Everything wxtokend exports to Prometheus (README "Metrics"):
//   wxtoken_rpc_requests_total{method,code,caller}
//   wxtoken_rpc_duration_seconds{method}                 histogram
//   wxtoken_upstream_requests_total{app_id,api,result,errcode}
//   wxtoken_upstream_fetches_today{app_id}               Beijing day
//   wxtoken_upstream_force_fetches_today{app_id}         of which ForceRefresh
//   wxtoken_upstream_daily_budget{app_id}
//   wxtoken_state_write_failures_total{app_id}
//   wxtoken_whitelist_blocked{app_id,ip}                 1 while refused
//   wxtoken_force_refresh_total{app_id,outcome}
//   wxtoken_token_expiry_seconds{app_id,kind}            0 when none is valid
// and, for replicas (store.redis):
//   wxtoken_replica_leader, wxtoken_replica_epoch
//   wxtoken_replica_read_age_seconds                     follower staleness
//   wxtoken_store_clock_offset_seconds                   Redis's clock - ours
//   wxtoken_store_errors_total
//   wxtoken_force_refresh_forwarded_total{code}
//   wxtoken_config_reloads_total{result}, wxtoken_config_reload_failures_total
//   wxtoken_watch_streams
// The gauges are computed from the TokenTable and the store at scrape time,
// so they cost nothing between scrapes. Thread-safe.
class ServerMetrics final : public RefreshObserver {
 public:
  // `store`: whose Replica() standing is exported; `watch_hub`: whose open
  // streams are counted. Either may be nullptr.
  ServerMetrics(const Config& config, const TokenTable& table,
                const Clock& clock, const StateStore* store = nullptr,
                const TokenWatchHub* watch_hub = nullptr);

  // What an Exposer serves: the registry and the token gauges.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  std::shared_ptr<prometheus::Collectable> token_gauges() const {
    return token_gauges_;
  }

  // One finished RPC; `code` is the gRPC status code name (e.g. "OK"),
  // `caller` CallerAuthorizer::CallerLabel's (bounded by the config).
  void RecordRpc(absl::string_view method, absl::string_view code,
                 absl::string_view caller, absl::Duration latency);

  // A ForceRefresh forwarded to the leader, answered with `code`.
  void RecordForwarded(const std::string& code);
  // A config reload: applied (`ok`), or refused as invalid.
  void RecordConfigReload(bool ok);

  void OnRequestSent(const std::string& app_id, FetchApi api,
                     const AppCounters& today) override;
  void OnRequestDone(const std::string& app_id, FetchApi api,
                     const FetchResult& result) override;
  void OnForceRefreshAnswered(const std::string& app_id,
                              const absl::Status& status,
                              ForceOutcome outcome) override;
  void OnStateWritten(const std::string& app_id,
                      const absl::Status& status) override;
  // The per-app gauges appear with the app and go with it; its counters
  // stay (a counter series only ever grows).
  void OnAppAdded(const std::string& app_id, const AppCounters& today) override;
  void OnAppRemoved(const std::string& app_id) override;
  void OnQuota(const std::string& app_id, const std::string& cgi_path,
               const QuotaView& quota) override;
  void OnPlatformChanged(const std::string& platform,
                         const PlatformView& view) override;
  void OnRefreshTokenRotated(const std::string& platform) override;
  void OnRefreshTokenRecovered(const std::string& platform,
                               const std::string& via) override;

 private:
  void AddAppSeries(const std::string& app_id, const AppCounters& today);

  // refresh.daily_budget, and each platform's own for its component token.
  const int daily_budget_value_;
  absl::flat_hash_map<std::string, int> platform_budgets_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> token_gauges_;
  prometheus::Family<prometheus::Counter>& rpc_requests_;
  prometheus::Family<prometheus::Histogram>& rpc_duration_;
  prometheus::Family<prometheus::Counter>& upstream_requests_;
  prometheus::Family<prometheus::Gauge>& fetches_today_;
  prometheus::Family<prometheus::Gauge>& force_fetches_today_;
  prometheus::Family<prometheus::Gauge>& daily_budget_;
  prometheus::Family<prometheus::Counter>& force_refresh_;
  prometheus::Family<prometheus::Counter>& forwarded_;
  prometheus::Family<prometheus::Counter>& state_write_failures_;
  // 1 for (app, the IP WeChat refused) until the app's next success.
  prometheus::Family<prometheus::Gauge>& whitelist_blocked_;
  // WeChat's own count (quota.poll_interval), by app_id and cgi_path.
  prometheus::Family<prometheus::Gauge>& quota_daily_limit_;
  prometheus::Family<prometheus::Gauge>& quota_used_;
  prometheus::Family<prometheus::Gauge>& quota_remain_;
  // The cgi_paths each app's quota series have (worker thread only), so a
  // removed app's go with it.
  absl::flat_hash_map<std::string, std::vector<std::string>> quota_paths_;
  // Per platform, never per authorizer (DESIGN.md "Owners").
  prometheus::Family<prometheus::Gauge>& platform_ticket_created_;
  prometheus::Family<prometheus::Gauge>& platform_authorizers_;
  prometheus::Family<prometheus::Counter>& refresh_token_rotations_;
  prometheus::Family<prometheus::Counter>& refresh_token_recoveries_;
  absl::Mutex blocked_mu_;
  absl::flat_hash_map<std::string, prometheus::Gauge*> blocked_
      ABSL_GUARDED_BY(blocked_mu_);
  // Drops the app's series, if it has one.
  void ClearBlocked(const std::string& app_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(blocked_mu_);
  prometheus::Counter& reloads_applied_;
  prometheus::Counter& reload_failures_;
  RpcSeries rpc_series_;  // of rpc_requests_ and rpc_duration_
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_METRICS_SERVER_METRICS_H_
