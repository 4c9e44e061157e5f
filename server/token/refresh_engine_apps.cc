// Apps added and removed by a config reload, and the records of apps not
// configured here.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_engine.h"
#include "server/token/token_merge.h"

namespace wxtoken::server {

void RefreshEngine::AddApp(const AppConfig& config) {
  const std::string& app_id = config.app_id;
  if (apps_.contains(app_id)) return;
  if (removed_.contains(app_id)) {
    // Its last request is still out: the app comes back with that answer.
    Log(LogLevel::kInfo,
        "app added again; it starts once the request of its removal ends",
        {{"app_id", app_id}});
    readded_.insert_or_assign(app_id, config);
    return;
  }
  App& app = CreateApp(config);
  bool stored = false;
  if (auto it = unconfigured_.find(app_id); it != unconfigured_.end()) {
    // Its day's spend, its unanswered requests and a value still valid.
    Load(it->second);
    unconfigured_.erase(it);
    stored = true;
  }
  const Instant now = clock_.InstantNow();
  for (Slot* slot : app.slots) {
    if (slot == nullptr) continue;
    // As at Start(): a replica is settled by its next read.
    if (shared_) slot->settled = true;
    if (leader_) {
      ScheduleRequest(*slot,
                      std::max(EarliestSend(now),
                               RefreshTime(slot->state, slot->api, refresh_)));
    }
  }
  if (AccessSlot(app).settled) --access_unsettled_;
  table_.AddApp(app_id, ServedKinds(config));
  health_.SetAppServing(app_id, false);
  observer_->OnAppAdded(app_id, CountersToday(app.counters, now));
  Log(LogLevel::kInfo, "app added",
      {{"app_id", app_id}, {"stored_state", stored ? "loaded" : "none"}});
  PublishApp(app);       // its health, and the every-app view, too
  apps_changed_ = true;  // told to the store once per pass (RunDue)
}

void RefreshEngine::RemoveApp(const std::string& app_id) {
  readded_.erase(app_id);
  auto it = apps_.find(app_id);
  if (it == apps_.end()) return;
  Removed removed;
  removed.app = std::move(it->second);
  apps_.erase(it);
  App& app = *removed.app;
  app.removed = true;
  // GetToken and new WatchToken streams answer NOT_FOUND from here on, and
  // open streams end so.
  table_.RemoveApp(app_id);
  for (Slot* slot : app.slots) {
    if (slot == nullptr) continue;
    due_.Clear(slot);
    slot->awaited = nullptr;  // nothing waits any more
  }
  const absl::Status gone = absl::NotFoundError(
      absl::StrCat("app_id: app \"", app_id, "\" was removed from the config"));
  for (Slot* slot : app.slots) {
    if (slot != nullptr) AnswerWaiters(*slot, gone, false);
  }
  // Its slots leave the engine's loops; they live until its last request
  // and write end (their callbacks hold them).
  for (auto& owned : slots_) {
    if (owned->app == &app) removed.slots.push_back(std::move(owned));
  }
  std::erase(slots_, nullptr);
  health_due_.Clear(&app);
  // Startup no longer waits for it; settled now, so its late first answer
  // does not count again.
  if (Slot& access = AccessSlot(app); !access.settled) {
    access.settled = true;
    --access_unsettled_;
  }
  if (app.serving) --apps_serving_;
  health_.SetAppServing(app_id, false);
  observer_->OnAppRemoved(app_id);
  Log(LogLevel::kInfo, "app removed; its stored state is kept",
      {{"app_id", app_id}});
  removed_.insert_or_assign(app_id, std::move(removed));
  UpdateAggregateHealth();
  apps_changed_ = true;  // told to the store once per pass (RunDue)
}

void RefreshEngine::AnnounceApps() {
  std::vector<std::string> app_ids;
  app_ids.reserve(apps_.size());
  for (const auto& [app_id, app] : apps_) {
    // Authorizers follow their platform, which is configured.
    if (!app->authorizer) app_ids.push_back(app_id);
  }
  // Added again while its removal's request is out: configured all the same.
  for (const auto& [app_id, config] : readded_) app_ids.push_back(app_id);
  store_.SetConfiguredApps(std::move(app_ids));
}

void RefreshEngine::ForgetFinishedRemovals() {
  std::vector<AppConfig> readd;
  for (auto it = removed_.begin(); it != removed_.end();) {
    App& app = *it->second.app;
    const bool busy =
        app.writes_in_flight > 0 ||
        std::any_of(app.slots.begin(), app.slots.end(), [](const Slot* slot) {
          return slot != nullptr && slot->phase != Slot::Phase::kIdle;
        });
    if (busy) {
      ++it;
      continue;
    }
    // A failed write is not retried for an app no longer configured: the
    // store keeps the older record, which a restart trusts less, never more.
    // No schedule may keep a pointer to what is freed here.
    rewrite_due_.Clear(&app);
    health_due_.Clear(&app);
    for (Slot* slot : app.slots) {
      if (slot != nullptr) due_.Clear(slot);
    }
    // Merged with what reads brought meanwhile (a replica's leader may have
    // written since).
    Keep(ToRecord(app), /*latest=*/false);
    if (auto again = readded_.find(app.config.app_id);
        again != readded_.end()) {
      readd.push_back(std::move(again->second));
      readded_.erase(again);
    }
    removed_.erase(it++);
  }
  for (const AppConfig& config : readd) AddApp(config);
}

void RefreshEngine::KeepUnconfigured(const std::vector<AppRecord>& records,
                                     bool latest) {
  for (const AppRecord& record : records) {
    // A platform's authorizer is known from its record: the callers' pass
    // over the apps takes it in.
    if (DiscoverAuthorizer(record.app_id) != nullptr) continue;
    if (!apps_.contains(record.app_id)) Keep(record, latest);
  }
}

void RefreshEngine::Keep(const AppRecord& record, bool latest) {
  auto [it, added] = unconfigured_.try_emplace(record.app_id, record);
  if (!added) it->second = MergeKept(it->second, record, latest, clock_);
}

}  // namespace wxtoken::server
