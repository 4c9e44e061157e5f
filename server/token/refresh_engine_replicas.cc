// The state store and replicas: writes, what a shared store kept, leading
// and following (DESIGN.md "Replicas").
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_engine_internal.h"
#include "server/token/state_record.h"
#include "server/token/token_merge.h"

namespace wxtoken::server {

using refresh_engine_internal::NotTheLeader;

AppRecord RefreshEngine::ToRecord(const App& app) const {
  AppRecord record;
  record.app_id = app.config.app_id;
  for (const Slot* slot : app.slots) {
    if (slot == nullptr) continue;
    // Nothing to keep before the first request, unless a shared store may
    // still hold an intent this clears.
    const bool clears_intent =
        shared_ &&
        std::any_of(
            slot->seen_intents.begin(), slot->seen_intents.end(),
            [](const SeenIntent& seen) { return seen.earliest.has_value(); });
    if (!slot->state.has_value() && !slot->state.intent && !clears_intent) {
      continue;
    }
    record.tokens.push_back(ToTokenRecord(slot->kind, slot->state));
  }
  PutCounters(app.counters, record);
  PutOwner(app, record);
  PutTicketHours(app, record);
  return record;
}

void RefreshEngine::WriteApp(App& app, std::function<void(absl::Status)> then) {
  ++app.writes_in_flight;
  ++writes_in_flight_;
  rewrite_due_.Clear(&app);
  const StateStore::WriteMode mode =
      leader_ ? StateStore::WriteMode::kLeader : StateStore::WriteMode::kHeal;
  AppRecord record = ToRecord(app);
  for (TokenRecord& token : record.tokens) {
    Slot& slot = *app.slots[static_cast<int>(token.kind)];
    token.seen_intents = slot.seen_intents;
    // What the store may hold once this lands (unless a replica re-wrote an
    // intent meanwhile: the answer says).
    NoteSeen(slot.seen_intents, SeenOf(token));
  }
  AppRecord sent = record;
  std::string refresh_token =
      app.authorizer ? app.authorizer->refresh_token : std::string();
  store_.Write(
      std::move(record), mode,
      [this, target = &app, sent = std::move(sent),
       refresh_token = std::move(refresh_token),
       then = std::move(then)](absl::StatusOr<AppRecord> written) {
        --target->writes_in_flight;
        --writes_in_flight_;
        target->last_write_done = clock_.SteadyNow();
        const absl::Status status = written.status();
        observer_->OnStateWritten(MetricOwner(target->config.app_id), status);
        if (written.ok()) {
          AdoptWritten(*target, sent, *written);
          NoteDurable(*target, *written);
          if (target->authorizer &&
              target->authorizer->durable_refresh_token != refresh_token) {
            // A rotated refresh token is durable: the token it came with
            // may be served now.
            target->authorizer->durable_refresh_token = refresh_token;
            PublishApp(*target);
          }
        }
        target->write_failures = status.ok() ? 0 : target->write_failures + 1;
        if (!status.ok()) {
          // The stored record is older than what is served: a restart
          // would trust no value beyond its recorded intent, and
          // other replicas see the value's intent run out. Soon
          // again, as a transient failure (a Redis failover ends in
          // a second or two), backing off to retry_max.
          Log(LogLevel::kError, "cannot write the state; retrying",
              {{"app_id", target->config.app_id},
               {"error", std::string(status.message())}});
          if (target->writes_in_flight == 0 && !shutting_down_) {
            rewrite_due_.Set(
                target,
                clock_.SteadyNow() +
                    BackoffDelay(target->write_failures, refresh_.retry_initial,
                                 refresh_.retry_max, random01_()));
          }
        }
        if (then) then(status);
      });
}

void RefreshEngine::AdoptWritten(App& app, const AppRecord& sent,
                                 const AppRecord& stored) {
  bool changed = false;
  bool store_lacks = false;
  for (const TokenRecord& token : stored.tokens) {
    Slot* slot = app.slots[static_cast<int>(token.kind)];
    if (slot == nullptr) continue;
    const TokenRecord* mine = nullptr;
    for (const TokenRecord& t : sent.tokens) {
      if (t.kind == token.kind) mine = &t;
    }
    if (mine == nullptr) continue;
    TokenState& state = slot->state;
    const TokenState before = state;
    if (token.value != mine->value) {
      // A heal the store refused (it holds another token), or a write
      // without a value: merged in as a read would be.
      store_lacks = MergeStoredToken(token, /*latest=*/false, clock_, state,
                                     CurrentTerm()) ||
                    store_lacks;
    } else {
      if (state.value == token.value) {
        state.generation = token.generation;
        state.epoch = token.epoch;
      }
      // Another replica's intent was there: the earliest and the latest
      // of both hold.
      if (Earlier(Micros(token.intent), Micros(state.intent))) {
        state.intent = clock_.FromWall(*token.intent);
      }
      if (token.latest_intent &&
          Micros(token.latest_intent) > Micros(state.latest_intent)) {
        state.latest_intent = clock_.FromWall(*token.latest_intent);
      }
    }
    if (app.writes_in_flight == 0) {
      slot->seen_intents = {SeenOf(token)};
    } else {
      NoteSeen(slot->seen_intents, SeenOf(token));
    }
    if (state.value != before.value || state.generation != before.generation ||
        Micros(state.intent) != Micros(before.intent) ||
        Micros(state.latest_intent) != Micros(before.latest_intent)) {
      changed = true;
    }
  }
  if (store_lacks && app.writes_in_flight == 0) WriteApp(app);
  if (!changed) return;
  const Instant now = clock_.InstantNow();
  for (Slot* slot : app.slots) {
    if (slot != nullptr) RescheduleEarlier(*slot, now);
  }
  PublishApp(app);
}

uint64_t RefreshEngine::CurrentTerm() const {
  if (leader_) return lease_epoch_;
  const std::optional<ReplicaStatus> replica = store_.Replica();
  return replica ? static_cast<uint64_t>(replica->epoch) : 0;
}

bool RefreshEngine::Adopt(const AppRecord& record, bool latest, bool* changed) {
  auto it = apps_.find(record.app_id);
  if (it == apps_.end()) return false;
  App& app = *it->second;
  const AppCounters before = app.counters;
  bool store_lacks =
      MergeCounters(CountersFromRecord(record, clock_), app.counters);
  Recount(app, before);
  bool installed_again = false;
  if (app.authorizer && !record.owner.empty()) {
    store_lacks = TakeOwner(app, record, /*mirror=*/latest, &installed_again) ||
                  store_lacks;
  }
  // A suite's auth codes waiting for their exchange: a follower's copy
  // follows the leader's (one it lacks was exchanged), so that whichever
  // replica leads next exchanges what is left.
  if (Platform* suite = SuiteOf(app.config.app_id)) {
    store_lacks =
        TakeAuthCodes(*suite, app.config.app_id, record, /*mirror=*/latest) ||
        store_lacks;
  }
  store_lacks = TakeTicketHours(app, record, /*mirror=*/latest) || store_lacks;
  const uint64_t term = CurrentTerm();
  for (Slot* slot : app.slots) {
    if (slot == nullptr) continue;
    const TokenRecord* found = nullptr;
    for (const TokenRecord& token : record.tokens) {
      if (token.kind == slot->kind) found = &token;
    }
    TokenState& state = slot->state;
    if (found == nullptr) {
      store_lacks = store_lacks || state.has_value() || state.intent;
      continue;
    }
    slot->seen_intents = {SeenOf(*found)};
    const TokenState before = state;
    store_lacks =
        MergeStoredToken(*found, latest, clock_, state, term) || store_lacks;
    if (changed != nullptr &&
        (state.value != before.value ||
         Micros(state.intent) != Micros(before.intent) ||
         Micros(state.latest_intent) != Micros(before.latest_intent))) {
      *changed = true;
    }
  }
  // Its ended values may need replacing now (RescheduleEarlier).
  if (installed_again && changed != nullptr) *changed = true;
  return store_lacks;
}

void RefreshEngine::RescheduleEarlier(Slot& slot, Instant now) {
  // A removed app's last write may still bring a change: it schedules
  // nothing (its slots are freed once idle).
  if (!leader_ || slot.phase != Slot::Phase::kIdle || slot.app->removed) {
    return;
  }
  const Instant at =
      std::max(EarliestSend(now), RefreshTime(slot.state, slot.api, refresh_));
  if (at.steady < due_.When(&slot)) due_.Set(&slot, at.steady);
}

void RefreshEngine::OnLeader(std::vector<AppRecord> records, uint64_t epoch,
                             SteadyTime confirmed,
                             SteadyTime first_request_at) {
  leader_ = true;
  ++term_;
  lease_epoch_ = epoch;
  last_confirmed_ = confirmed;
  for (auto& [app_id, app] : apps_) app->unserved = false;
  first_request_at_ = first_request_at;
  KeepUnconfigured(records, /*latest=*/false);
  // The read is complete: an app it lacks is one the store lost.
  absl::flat_hash_map<std::string, const AppRecord*> stored;
  for (const AppRecord& record : records) stored[record.app_id] = &record;
  std::vector<App*> to_write;
  for (auto& [app_id, app] : apps_) {
    AppRecord none;
    none.app_id = app_id;
    auto it = stored.find(app_id);
    if (Adopt(it != stored.end() ? *it->second : none, /*latest=*/false)) {
      to_write.push_back(app.get());
    }
    app->confirmed = confirmed;
  }
  health_.SetLeader(true);
  Log(LogLevel::kInfo, "this replica holds the leader lease",
      {{"apps", absl::StrCat(apps_.size())}});
  ScheduleAll(clock_.InstantNow());
  for (App* app : to_write) WriteApp(*app);
  for (auto& [app_id, app] : apps_) PublishApp(*app);
}

void RefreshEngine::OnFollower() {
  if (!leader_) return;
  leader_ = false;
  health_.SetLeader(false);
  Log(LogLevel::kWarning,
      "this replica lost the leader lease; no request goes out from here");
  for (auto& slot : slots_) {
    due_.Clear(slot.get());
    AnswerWaiters(*slot, NotTheLeader(), false);
  }
}

void RefreshEngine::OnRecords(std::vector<AppRecord> records, ReadKind kind,
                              SteadyTime read_start, SteadyTime confirmed) {
  // A follower reading a store that lost nothing reads the leader's latest
  // (which may have cleared an intent); anything else is merged: after lost
  // writes what replicas hold goes back, and what the leader reads differs
  // from its own only by what another replica wrote back.
  const bool latest = !leader_ && kind != ReadKind::kAfterLoss;
  const bool complete = kind != ReadKind::kChanges;
  const Instant now = clock_.InstantNow();
  last_confirmed_ = confirmed;
  KeepUnconfigured(records, latest);
  absl::flat_hash_map<std::string, const AppRecord*> stored;
  for (const AppRecord& record : records) stored[record.app_id] = &record;
  for (auto& [app_id, app] : apps_) {
    // The leader's own writes since the read began may be missing from it.
    const bool current = !leader_ || (app->writes_in_flight == 0 &&
                                      app->last_write_done < read_start);
    auto it = stored.find(app_id);
    if (current && (it != stored.end() || complete)) {
      AppRecord none;  // a complete read without it: the store has nothing
      none.app_id = app_id;
      bool changed = false;
      // Re-write what the store lost (a failover, a restart empty).
      if (Adopt(it != stored.end() ? *it->second : none, latest, &changed)) {
        WriteApp(*app);
      }
      // Only a change, and only sooner: a slot backing off keeps its
      // schedule, a ForceRefresh its caller.
      if (changed) {
        for (Slot* slot : app->slots) {
          if (slot != nullptr) RescheduleEarlier(*slot, now);
        }
      }
    }
    app->confirmed = confirmed;
    PublishApp(*app);
  }
}

void RefreshEngine::OnConfirmed(SteadyTime confirmed) {
  last_confirmed_ = confirmed;
  for (auto& [app_id, app] : apps_) {
    app->confirmed = confirmed;
    PublishApp(*app);
  }
}

void RefreshEngine::OnUnservedApps(std::vector<std::string> app_ids) {
  if (leader_) return;  // told before it took the lease
  const absl::flat_hash_set<std::string> unserved(app_ids.begin(),
                                                  app_ids.end());
  for (auto& [app_id, app] : apps_) {
    const bool now_unserved = unserved.contains(app_id);
    if (app->unserved == now_unserved) continue;
    app->unserved = now_unserved;
    PublishApp(*app);
  }
}

}  // namespace wxtoken::server
