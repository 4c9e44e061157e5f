// Quota polls (DESIGN.md "Operations"): every quota.poll_interval the
// leader asks openapi/quota/get how much of each token endpoint's daily
// quota its configured owners used, by WeChat's own count. The answers are
// exported (RefreshObserver::OnQuota); the calls are not budgeted fetches,
// and issue and revoke nothing.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_engine.h"

namespace wxtoken::server {
namespace {

// The first round after taking the lead: soon, once tokens are fetched.
constexpr absl::Duration kFirstQuotaPoll = absl::Minutes(1);

// The token endpoints an owner uses (what it must not run out of).
std::vector<std::string> QuotaPaths(const AppConfig& app) {
  std::vector<std::string> paths;
  switch (app.api) {
    case AppConfig::Api::kClassic:
      paths.push_back("/cgi-bin/token");
      break;
    case AppConfig::Api::kStable:
      paths.push_back("/cgi-bin/stable_token");
      break;
    case AppConfig::Api::kComponent:
      paths.push_back("/cgi-bin/component/api_component_token");
      paths.push_back("/cgi-bin/component/api_authorizer_token");
      break;
    case AppConfig::Api::kAuthorizer:
      break;  // counted by WeChat per platform, asked through it
    case AppConfig::Api::kWeCom:
    case AppConfig::Api::kWeComProvider:
    case AppConfig::Api::kWeComSuite:
    case AppConfig::Api::kSuiteCorp:
      return paths;  // WeCom has no quota API
  }
  if (!app.tickets.empty()) paths.push_back("/cgi-bin/ticket/getticket");
  return paths;
}

}  // namespace

void RefreshEngine::RunQuotaPolls(Instant now) {
  const absl::Duration interval = config_.quota.poll_interval;
  if (!leader_ || shutting_down_ || interval <= absl::ZeroDuration() ||
      quota_.in_flight || busy_ >= config_.upstream.max_concurrency) {
    return;
  }
  if (quota_.next == SteadyTime::InfinitePast()) {
    quota_.next = now.steady + std::min(interval, kFirstQuotaPoll);
    return;
  }
  if (quota_.queue.empty()) {
    // A round goes one request at a time; the next starts `interval` after
    // this one began, however long it took.
    if (now.steady < quota_.next) return;
    for (const auto& [app_id, app] : apps_) {
      if (app->removed || app->authorizer) continue;
      for (std::string& path : QuotaPaths(app->config)) {
        quota_.queue.emplace_back(app_id, std::move(path));
      }
    }
    quota_.next = now.steady + interval;
  }
  while (!quota_.queue.empty()) {
    auto [app_id, cgi_path] = std::move(quota_.queue.front());
    quota_.queue.pop_front();
    auto it = apps_.find(app_id);
    if (it == apps_.end() || it->second->removed) continue;
    const Slot& access = AccessSlot(*it->second);
    // Asked with its own token; without one, again next round.
    if (!Servable(access, now)) continue;
    FetchRequest request;
    request.app_id = app_id;
    request.api = FetchApi::kQuotaGet;
    request.access_token = access.state.value;
    request.cgi_path = cgi_path;
    quota_.in_flight = true;
    ++busy_;
    upstream_.Start(
        std::move(request),
        [this, app_id = std::move(app_id), cgi_path = std::move(cgi_path)](
            FetchResult result) { OnQuotaAnswer(app_id, cgi_path, result); });
    return;
  }
}

void RefreshEngine::OnQuotaAnswer(const std::string& app_id,
                                  const std::string& cgi_path,
                                  const FetchResult& result) {
  --busy_;
  quota_.in_flight = false;
  if (result.failure != FailureClass::kNone) {
    Log(LogLevel::kWarning, "WeChat did not tell its quota count",
        {{"app_id", app_id},
         {"cgi_path", cgi_path},
         {"detail", result.detail}});
    return;
  }
  observer_->OnQuota(app_id, cgi_path,
                     QuotaView{result.quota_daily_limit, result.quota_used,
                               result.quota_remain});
}

}  // namespace wxtoken::server
