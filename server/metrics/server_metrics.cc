#include "server/metrics/server_metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/token/token.h"

namespace wxtoken::server {
namespace {

std::string ApiName(FetchApi api) {
  switch (api) {
    case FetchApi::kClassic:
      return "classic";
    case FetchApi::kStable:
      return "stable";
    case FetchApi::kTicket:
      return "ticket";
    case FetchApi::kComponentToken:
      return "component_token";
    case FetchApi::kStartPushTicket:
      return "start_push_ticket";
    case FetchApi::kQueryAuth:
      return "query_auth";
    case FetchApi::kAuthorizerToken:
      return "authorizer_token";
    case FetchApi::kAuthorizerList:
      return "authorizer_list";
    case FetchApi::kAuthorizerInfo:
      return "authorizer_info";
    case FetchApi::kQuotaGet:
      return "quota_get";
    case FetchApi::kWeComToken:
      return "wecom_token";
    case FetchApi::kWeComTicket:
      return "wecom_ticket";
    case FetchApi::kWeComProviderToken:
      return "wecom_provider_token";
    case FetchApi::kWeComSuiteToken:
      return "get_suite_token";
    case FetchApi::kWeComPermanentCode:
      return "get_permanent_code";
    case FetchApi::kWeComCorpToken:
      return "get_corp_token";
  }
  return "unknown";
}

std::string ResultName(FailureClass failure) {
  switch (failure) {
    case FailureClass::kNone:
      return "ok";
    case FailureClass::kTransient:
      return "transient";
    case FailureClass::kPermanent:
      return "permanent";
    case FailureClass::kQuota:
      return "quota";
    case FailureClass::kTokenRejected:
      return "token_rejected";
  }
  return "unknown";
}

std::string OutcomeName(ForceOutcome outcome) {
  switch (outcome) {
    case ForceOutcome::kRefreshed:
      return "refreshed";
    case ForceOutcome::kAlreadyNewer:
      return "already_newer";
    case ForceOutcome::kCoalesced:
      return "coalesced";
  }
  return "unknown";
}

prometheus::MetricFamily OneValue(const char* name, const char* help,
                                  prometheus::MetricType type, double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

// wxtoken_token_expiry_seconds, read from the table, and the replica's
// standing, read from the store, when Prometheus scrapes.
class TokenGauges final : public prometheus::Collectable {
 public:
  TokenGauges(const TokenTable& table, const Clock& clock,
              const StateStore* store, const TokenWatchHub* watch_hub)
      : table_(table), clock_(clock), store_(store), watch_hub_(watch_hub) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families = {CollectTokens()};
    if (watch_hub_ != nullptr) {
      families.push_back(
          OneValue("wxtoken_watch_streams", "WatchToken streams open now",
                   prometheus::MetricType::Gauge,
                   static_cast<double>(watch_hub_->WatcherCount())));
    }
    const std::optional<ReplicaStatus> replica =
        store_ != nullptr ? store_->Replica() : std::nullopt;
    if (!replica) return families;
    using prometheus::MetricType;
    families.push_back(OneValue("wxtoken_replica_leader",
                                "1 while this replica holds the leader lease",
                                MetricType::Gauge, replica->leader ? 1 : 0));
    families.push_back(
        OneValue("wxtoken_replica_epoch",
                 "Fencing epoch of the leader lease this replica saw last",
                 MetricType::Gauge, static_cast<double>(replica->epoch)));
    families.push_back(OneValue(
        "wxtoken_store_errors_total",
        "Failed commands to the shared store (Redis) since start",
        MetricType::Counter, static_cast<double>(replica->store_errors)));
    families.push_back(OneValue(
        "wxtoken_replica_read_age_seconds",
        "Seconds since the start of the last read that confirmed this "
        "replica's copy; max_cache shrinks by it (+Inf before the first)",
        MetricType::Gauge,
        replica->confirmed == SteadyTime::InfinitePast()
            ? std::numeric_limits<double>::infinity()
            : absl::ToDoubleSeconds(clock_.SteadyNow() - replica->confirmed)));
    if (replica->clock_offset) {
      families.push_back(OneValue(
          "wxtoken_store_clock_offset_seconds",
          "Redis's wall clock minus this replica's, measured every 10 s "
          "(within half a round trip); replicas should agree to well under "
          "upstream.timeout",
          MetricType::Gauge, absl::ToDoubleSeconds(*replica->clock_offset)));
    }
    return families;
  }

 private:
  prometheus::MetricFamily CollectTokens() const {
    prometheus::MetricFamily family;
    family.name = "wxtoken_token_expiry_seconds";
    family.help =
        "Seconds until the served value of each (app, kind) expires; 0 when "
        "there is no valid value";
    family.type = prometheus::MetricType::Gauge;
    const SteadyTime now = clock_.SteadyNow();
    const absl::Time wall = clock_.Now();
    for (const TokenTable::Entry& entry : table_.Entries()) {
      // Per configured owner, never per authorizer (DESIGN.md "Owners"); and
      // a scrape must not count as an authorizer's use (idle_after).
      if (entry.discovered) continue;
      absl::StatusOr<Token> token = table_.Get(entry.app_id, entry.kind, now);
      prometheus::ClientMetric metric;
      metric.label = {{"app_id", entry.app_id},
                      {"kind", std::string(TokenKindName(entry.kind))}};
      metric.gauge.value =
          token.ok() ? absl::ToDoubleSeconds(token->expires_at - wall) : 0.0;
      family.metric.push_back(std::move(metric));
    }
    return family;
  }

  const TokenTable& table_;
  const Clock& clock_;
  const StateStore* const store_;
  const TokenWatchHub* const watch_hub_;
};

}  // namespace

const prometheus::Histogram::BucketBoundaries& RpcDurationBuckets() {
  // RPCs are served from memory: most take microseconds.
  static const auto* const buckets =
      new prometheus::Histogram::BucketBoundaries{
          0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
          0.005,   0.01,   0.05,    0.25,   1,     5};
  return *buckets;
}

ServerMetrics::ServerMetrics(const Config& config, const TokenTable& table,
                             const Clock& clock, const StateStore* store,
                             const TokenWatchHub* watch_hub)
    : daily_budget_value_(config.refresh.daily_budget),
      registry_(std::make_shared<prometheus::Registry>()),
      token_gauges_(
          std::make_shared<TokenGauges>(table, clock, store, watch_hub)),
      rpc_requests_(prometheus::BuildCounter()
                        .Name("wxtoken_rpc_requests_total")
                        .Help("gRPC requests served, by method and status code")
                        .Register(*registry_)),
      rpc_duration_(prometheus::BuildHistogram()
                        .Name("wxtoken_rpc_duration_seconds")
                        .Help("gRPC request latency inside the server")
                        .Register(*registry_)),
      upstream_requests_(
          prometheus::BuildCounter()
              .Name("wxtoken_upstream_requests_total")
              .Help("Fetches from WeChat, by app, API and result (errcode)")
              .Register(*registry_)),
      fetches_today_(prometheus::BuildGauge()
                         .Name("wxtoken_upstream_fetches_today")
                         .Help("Upstream requests sent today (Beijing time), "
                               "every failover attempt counted")
                         .Register(*registry_)),
      force_fetches_today_(
          prometheus::BuildGauge()
              .Name("wxtoken_upstream_force_fetches_today")
              .Help("Of today's upstream requests, those caused by "
                    "ForceRefresh (at most refresh.force_budget)")
              .Register(*registry_)),
      daily_budget_(prometheus::BuildGauge()
                        .Name("wxtoken_upstream_daily_budget")
                        .Help("refresh.daily_budget: fetches allowed per day")
                        .Register(*registry_)),
      force_refresh_(prometheus::BuildCounter()
                         .Name("wxtoken_force_refresh_total")
                         .Help("ForceRefresh answers, by outcome or error code")
                         .Register(*registry_)),
      forwarded_(prometheus::BuildCounter()
                     .Name("wxtoken_force_refresh_forwarded_total")
                     .Help("ForceRefresh calls a follower forwarded to the "
                           "leader, by the leader's status code")
                     .Register(*registry_)),
      state_write_failures_(
          prometheus::BuildCounter()
              .Name("wxtoken_state_write_failures_total")
              .Help("Writes of an app's state to the store that failed")
              .Register(*registry_)),
      whitelist_blocked_(
          prometheus::BuildGauge()
              .Name("wxtoken_whitelist_blocked")
              .Help("1 while WeChat refuses the app's calls from this IP "
                    "(40164, 61004, 60020): add it to the whitelist")
              .Register(*registry_)),
      quota_daily_limit_(prometheus::BuildGauge()
                             .Name("wxtoken_wechat_quota_daily_limit")
                             .Help("WeChat's daily limit of calls to "
                                   "cgi_path (openapi/quota/get)")
                             .Register(*registry_)),
      quota_used_(prometheus::BuildGauge()
                      .Name("wxtoken_wechat_quota_used")
                      .Help("Calls to cgi_path today, by WeChat's own count")
                      .Register(*registry_)),
      quota_remain_(prometheus::BuildGauge()
                        .Name("wxtoken_wechat_quota_remain")
                        .Help("Calls to cgi_path left today, by WeChat's "
                              "own count")
                        .Register(*registry_)),
      platform_ticket_created_(
          prometheus::BuildGauge()
              .Name("wxtoken_platform_ticket_created_timestamp_seconds")
              .Help("CreateTime of the newest pushed ticket (time() - this "
                    "is its age): a platform's component_verify_ticket, "
                    "valid 12 h, or a WeCom suite's suite_ticket, 30 min")
              .Register(*registry_)),
      platform_authorizers_(
          prometheus::BuildGauge()
              .Name("wxtoken_platform_authorizers")
              .Help("The platform's authorizers by state: active, "
                    "recovering (61023), needs_reauth, revoked")
              .Register(*registry_)),
      refresh_token_rotations_(
          prometheus::BuildCounter()
              .Name("wxtoken_platform_refresh_token_rotations_total")
              .Help("Authorizer refresh tokens WeChat rotated, stored "
                    "before their token was served")
              .Register(*registry_)),
      refresh_token_recoveries_(
          prometheus::BuildCounter()
              .Name("wxtoken_platform_refresh_token_recoveries_total")
              .Help("Refused (61023) refresh tokens recovered, by source: "
                    "previous, info, list")
              .Register(*registry_)),
      reloads_applied_(prometheus::BuildCounter()
                           .Name("wxtoken_config_reloads_total")
                           .Help("Config reloads applied (SIGHUP or a file "
                                 "change)")
                           .Register(*registry_)
                           .Add({})),
      reload_failures_(prometheus::BuildCounter()
                           .Name("wxtoken_config_reload_failures_total")
                           .Help("Config reloads refused: the new config was "
                                 "invalid and the old one kept running")
                           .Register(*registry_)
                           .Add({})),
      rpc_series_(&rpc_requests_, &rpc_duration_, RpcDurationBuckets()) {
  for (const PlatformConfig& platform : config.platforms) {
    platform_budgets_[platform.component_app_id] = platform.daily_budget;
  }
  for (const AppConfig& app : config.apps) AddAppSeries(app.app_id, {});
}

void ServerMetrics::AddAppSeries(const std::string& app_id,
                                 const AppCounters& today) {
  auto platform = platform_budgets_.find(app_id);
  daily_budget_.Add({{"app_id", app_id}})
      .Set(platform != platform_budgets_.end() ? platform->second
                                               : daily_budget_value_);
  fetches_today_.Add({{"app_id", app_id}}).Set(today.fetches);
  force_fetches_today_.Add({{"app_id", app_id}}).Set(today.force_fetches);
  state_write_failures_.Add({{"app_id", app_id}});
}

void ServerMetrics::OnAppAdded(const std::string& app_id,
                               const AppCounters& today) {
  AddAppSeries(app_id, today);
}

void ServerMetrics::OnQuota(const std::string& app_id,
                            const std::string& cgi_path,
                            const QuotaView& quota) {
  const std::map<std::string, std::string> labels = {{"app_id", app_id},
                                                     {"cgi_path", cgi_path}};
  quota_daily_limit_.Add(labels).Set(static_cast<double>(quota.daily_limit));
  quota_used_.Add(labels).Set(static_cast<double>(quota.used));
  quota_remain_.Add(labels).Set(static_cast<double>(quota.remain));
  std::vector<std::string>& paths = quota_paths_[app_id];
  if (std::find(paths.begin(), paths.end(), cgi_path) == paths.end()) {
    paths.push_back(cgi_path);
  }
}

void ServerMetrics::OnAppRemoved(const std::string& app_id) {
  for (prometheus::Family<prometheus::Gauge>* family :
       {&daily_budget_, &fetches_today_, &force_fetches_today_}) {
    family->Remove(&family->Add({{"app_id", app_id}}));
  }
  if (auto it = quota_paths_.find(app_id); it != quota_paths_.end()) {
    for (const std::string& cgi_path : it->second) {
      for (prometheus::Family<prometheus::Gauge>* family :
           {&quota_daily_limit_, &quota_used_, &quota_remain_}) {
        family->Remove(
            &family->Add({{"app_id", app_id}, {"cgi_path", cgi_path}}));
      }
    }
    quota_paths_.erase(it);
  }
  absl::MutexLock lock(&blocked_mu_);
  ClearBlocked(app_id);
}

void ServerMetrics::ClearBlocked(const std::string& app_id) {
  if (auto it = blocked_.find(app_id); it != blocked_.end()) {
    whitelist_blocked_.Remove(it->second);
    blocked_.erase(it);
  }
}

void ServerMetrics::RecordRpc(absl::string_view method, absl::string_view code,
                              absl::string_view caller,
                              absl::Duration latency) {
  rpc_series_.Record(method, code, caller, latency);
}

void ServerMetrics::RecordConfigReload(bool ok) {
  (ok ? reloads_applied_ : reload_failures_).Increment();
}

void ServerMetrics::RecordForwarded(const std::string& code) {
  forwarded_.Add({{"code", code}}).Increment();
}

void ServerMetrics::OnRequestSent(const std::string& app_id, FetchApi,
                                  const AppCounters& today) {
  fetches_today_.Add({{"app_id", app_id}}).Set(today.fetches);
  force_fetches_today_.Add({{"app_id", app_id}}).Set(today.force_fetches);
}

void ServerMetrics::OnRequestDone(const std::string& app_id, FetchApi api,
                                  const FetchResult& result) {
  upstream_requests_
      .Add({{"app_id", app_id},
            {"api", ApiName(api)},
            {"result", ResultName(result.failure)},
            {"errcode", absl::StrCat(result.errcode)}})
      .Increment();
  // Blocked from the IP WeChat names, until the app's next success; other
  // failures say nothing about the whitelist either way.
  if (result.egress_ip.empty() && result.failure != FailureClass::kNone) {
    return;
  }
  absl::MutexLock lock(&blocked_mu_);
  ClearBlocked(app_id);
  if (!result.egress_ip.empty()) {
    prometheus::Gauge& gauge =
        whitelist_blocked_.Add({{"app_id", app_id}, {"ip", result.egress_ip}});
    gauge.Set(1);
    blocked_[app_id] = &gauge;
  }
}

void ServerMetrics::OnForceRefreshAnswered(const std::string& app_id,
                                           const absl::Status& status,
                                           ForceOutcome outcome) {
  const std::string label =
      status.ok() ? OutcomeName(outcome)
                  : absl::AsciiStrToLower(absl::StrCat(
                        "error_", absl::StatusCodeToString(status.code())));
  force_refresh_.Add({{"app_id", app_id}, {"outcome", label}}).Increment();
}

void ServerMetrics::OnStateWritten(const std::string& app_id,
                                   const absl::Status& status) {
  if (!status.ok()) state_write_failures_.Add({{"app_id", app_id}}).Increment();
}

void ServerMetrics::OnPlatformChanged(const std::string& platform,
                                      const PlatformView& view) {
  if (view.ticket_created) {
    platform_ticket_created_
        .Add({{"app_id", platform},
              {"ticket", std::string(TokenKindName(view.ticket_kind))}})
        .Set(absl::ToDoubleSeconds(*view.ticket_created - absl::UnixEpoch()));
  }
  const std::pair<const char*, int64_t> states[] = {
      {"active", view.active},
      {"recovering", view.recovering},
      {"needs_reauth", view.needs_reauth},
      {"revoked", view.revoked}};
  for (const auto& [state, count] : states) {
    platform_authorizers_.Add({{"app_id", platform}, {"state", state}})
        .Set(static_cast<double>(count));
  }
}

void ServerMetrics::OnRefreshTokenRotated(const std::string& platform) {
  refresh_token_rotations_.Add({{"app_id", platform}}).Increment();
}

void ServerMetrics::OnRefreshTokenRecovered(const std::string& platform,
                                            const std::string& via) {
  refresh_token_recoveries_.Add({{"app_id", platform}, {"via", via}})
      .Increment();
}

}  // namespace wxtoken::server
