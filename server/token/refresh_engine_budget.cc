// Budgets: how many requests an owner may send in a Beijing day
// (DESIGN.md "Refresh semantics", "Third-party platforms").

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_engine_internal.h"

namespace wxtoken::server {

using refresh_engine_internal::TimeText;

DailyBudget RefreshEngine::BudgetOf(const App& app) const {
  const std::string& platform_id =
      app.authorizer ? app.authorizer->platform : app.config.app_id;
  if (app.authorizer || platforms_.contains(app.config.app_id)) {
    if (auto it = platforms_.find(platform_id); it != platforms_.end()) {
      return DailyBudget{.fetches = it->second.config->daily_budget,
                         .force_fetches = refresh_.force_budget,
                         .name = it->second.budget_name};
    }
  }
  return DailyBudget{.fetches = refresh_.daily_budget,
                     .force_fetches = refresh_.force_budget};
}

absl::Status RefreshEngine::SpendRefusal(App& app, Spend spend,
                                         bool stable_force, Instant now) {
  const AppCounters before = app.counters;
  app.counters = CountersToday(app.counters, now);
  Recount(app, before);
  if (absl::Status own =
          CheckSpend(app.counters, spend, stable_force, now, BudgetOf(app));
      !own.ok() || !app.authorizer) {
    return own;
  }
  const Platform& platform = platforms_.at(app.authorizer->platform);
  const int cap = platform.config->platform_daily_budget;
  if (cap > 0 && platform.spend_day == BeijingDay(now.wall) &&
      platform.authorizer_fetches >= cap) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "platform ", app.authorizer->platform, ": platform_daily_budget of ",
        cap, " authorizer fetches is spent; fetching resumes at ",
        TimeText(StartOfNextBeijingDay(now.wall))));
  }
  return absl::OkStatus();
}

void RefreshEngine::Recount(const App& app, const AppCounters& before) {
  if (!app.authorizer) return;
  Platform& platform = platforms_.at(app.authorizer->platform);
  const AppCounters& after = app.counters;
  if (after.day > platform.spend_day) {
    // A new day: what was summed is yesterday's.
    platform.spend_day = after.day;
    platform.authorizer_fetches = 0;
  } else if (before.day == platform.spend_day) {
    platform.authorizer_fetches -= before.fetches;
  }
  if (after.day == platform.spend_day) {
    platform.authorizer_fetches += after.fetches;
  }
  platform.authorizer_fetches =
      std::max<int64_t>(0, platform.authorizer_fetches);
}

}  // namespace wxtoken::server
