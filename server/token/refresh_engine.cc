#include "server/token/refresh_engine.h"

#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/state_record.h"

namespace wxtoken::server {
namespace {

std::string TimeText(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

std::string Label(const std::string& app_id, TokenKind kind) {
  return kind == TokenKind::kAccessToken
             ? absl::StrCat("app \"", app_id, "\"")
             : absl::StrCat("app \"", app_id, "\" ", TokenKindName(kind));
}

FetchApi ApiOf(const AppConfig& app, TokenKind kind) {
  if (IsTicket(kind)) return FetchApi::kTicket;
  return app.api == AppConfig::Api::kClassic ? FetchApi::kClassic
                                             : FetchApi::kStable;
}

absl::Status ShuttingDown() {
  return absl::UnavailableError("wxtokend is shutting down");
}

absl::Status NotTheLeader() {
  return absl::UnavailableError(
      "this replica does not hold the leader lease; ask again");
}

// How soon a leader asks again when its lease does not outlive a request.
constexpr absl::Duration kLeaseRecheck = absl::Milliseconds(200);

// Stores keep times to the microsecond: compare at that precision.
std::optional<int64_t> Micros(const std::optional<absl::Time>& time) {
  if (!time) return std::nullopt;
  return absl::ToUnixMicros(*time);
}
std::optional<int64_t> Micros(const std::optional<Instant>& instant) {
  if (!instant) return std::nullopt;
  return absl::ToUnixMicros(instant->wall);
}

// Whether intent `a` is earlier than `b` (none is the latest of all).
bool Earlier(const std::optional<int64_t>& a, const std::optional<int64_t>& b) {
  return a && (!b || *a < *b);
}

std::optional<Instant> EarliestIntent(const std::optional<Instant>& a,
                                      const std::optional<Instant>& b) {
  return Earlier(Micros(b), Micros(a)) ? b : a;
}

std::optional<Instant> LatestIntent(const std::optional<Instant>& a,
                                    const std::optional<Instant>& b) {
  return b && (!a || Micros(b) > Micros(a)) ? b : a;
}

// The unanswered send times a stored record names, as a leader's write
// names what it saw (the latest defaults to the earliest, as the Redis
// write script reads a record without one).
SeenIntent SeenOf(const TokenRecord& token) {
  if (!token.intent) return {};
  return {token.intent, token.latest_intent.value_or(*token.intent)};
}

bool SameSeen(const SeenIntent& a, const SeenIntent& b) {
  return Micros(a.earliest) == Micros(b.earliest) &&
         Micros(a.latest) == Micros(b.latest);
}

// Whether `a`'s value came from a later fetch than `b`'s by both things
// replicas can compare: the send time (their clocks) and the lease that
// fetched it (epoch, then generation). After lost writes generations and
// even epochs may restart, and clocks may disagree: neither alone decides.
// The Redis write script orders heals the same way.
bool FetchedLater(const TokenState& a, const TokenState& b) {
  return absl::ToUnixMicros(a.fetched.wall) >
             absl::ToUnixMicros(b.fetched.wall) &&
         std::tie(a.epoch, a.generation) > std::tie(b.epoch, b.generation);
}

// Takes the store's copy of one token into `state` (RefreshEngine::Adopt);
// true when `state` holds something the store lacks.
bool MergeStoredToken(const TokenRecord& found, bool latest_copy,
                      const Clock& clock, TokenState& state) {
  TokenState stored = FromTokenRecord(found, clock);
  const std::optional<Instant> stored_latest = stored.latest_intent;
  if (latest_copy) {
    // The leader's copy is the truth: it may have cleared the intent.
    state = std::move(stored);
    return false;
  }
  // Merging: every intent either side knows stays in force (it may be of a
  // request that revokes whichever value is kept).
  std::optional<Instant> intent = EarliestIntent(state.intent, stored.intent);
  std::optional<Instant> latest =
      LatestIntent(state.latest_intent, stored.latest_intent);
  bool store_lacks = false;
  if (stored.value == state.value) {
    state.generation = std::max(state.generation, stored.generation);
    state.epoch = std::max(state.epoch, stored.epoch);
    state.expires = std::min(state.expires, stored.expires);
  } else if (state.has_value() &&
             (!stored.has_value() || FetchedLater(state, stored))) {
    store_lacks = true;  // the store lost our later token
  } else {
    if (state.has_value() && !FetchedLater(stored, state)) {
      // Clocks and leases disagree on which came later: the store's value
      // stands (as the script keeps it), and our fetch, which WeChat may
      // have answered after the store's, counts as a request that revokes
      // it.
      intent = EarliestIntent(intent, state.fetched);
      latest = LatestIntent(latest, state.fetched);
    }
    state = std::move(stored);
  }
  state.intent = intent;
  state.latest_intent = latest;
  return store_lacks || Earlier(Micros(intent), Micros(found.intent)) ||
         Micros(latest) > Micros(stored_latest);
}

// Takes the store's counters into `mine`: counts only grow within a day,
// blocks only lengthen. True when `mine` holds something the store lacks.
bool MergeCounters(const AppCounters& stored, AppCounters& mine) {
  if (stored.day > mine.day) {
    mine = stored;
    return false;
  }
  if (stored.day < mine.day) return true;
  const bool store_lacks = mine.fetches > stored.fetches ||
                           mine.force_fetches > stored.force_fetches ||
                           mine.stable_forces > stored.stable_forces;
  mine.fetches = std::max(mine.fetches, stored.fetches);
  mine.force_fetches = std::max(mine.force_fetches, stored.force_fetches);
  mine.stable_forces = std::max(mine.stable_forces, stored.stable_forces);
  if (stored.quota_blocked_until &&
      (!mine.quota_blocked_until ||
       *mine.quota_blocked_until < *stored.quota_blocked_until)) {
    mine.quota_blocked_until = stored.quota_blocked_until;
  }
  if (stored.last_stable_force &&
      (!mine.last_stable_force ||
       *mine.last_stable_force < *stored.last_stable_force)) {
    mine.last_stable_force = stored.last_stable_force;
  }
  return store_lacks;
}

// The kept record of an app not configured here, merged with what a read
// (or its own last state) brought, as Adopt merges a configured app's:
// never an older value for a later one, never an intent forgotten, never
// a count lowered. `latest`: `found` is the leader's, taken as it is.
AppRecord MergeKept(const AppRecord& kept, const AppRecord& found, bool latest,
                    const Clock& clock) {
  if (latest) return found;
  AppRecord merged = found;
  AppCounters counters = CountersFromRecord(kept, clock);
  MergeCounters(CountersFromRecord(found, clock), counters);
  PutCounters(counters, merged);
  for (const TokenRecord& mine : kept.tokens) {
    auto theirs = std::find_if(
        merged.tokens.begin(), merged.tokens.end(),
        [&](const TokenRecord& token) { return token.kind == mine.kind; });
    if (theirs == merged.tokens.end()) {
      merged.tokens.push_back(mine);
      continue;
    }
    TokenState state = FromTokenRecord(mine, clock);
    MergeStoredToken(*theirs, /*latest=*/false, clock, state);
    *theirs = ToTokenRecord(mine.kind, state);
  }
  return merged;
}

// Notes that the store may hold `intent` (TokenRecord::seen_intents).
void NoteSeen(std::vector<SeenIntent>& seen, const SeenIntent& intent) {
  if (!seen.empty() && SameSeen(seen.back(), intent)) return;
  seen.push_back(intent);
  // Forgetting the oldest only makes a leader's write merge it as the
  // earliest instead of replacing it: conservative.
  constexpr size_t kMaxSeen = 8;
  if (seen.size() > kMaxSeen) seen.erase(seen.begin());
}

}  // namespace

RefreshEngine::RefreshEngine(const Config& config, const Clock& clock,
                             UpstreamClient& upstream, TokenTable& table,
                             StateStore& store, HealthSink& health,
                             std::function<double()> random01)
    : config_(config),
      refresh_(config.refresh),
      clock_(clock),
      upstream_(upstream),
      table_(table),
      store_(store),
      health_(health),
      random01_(std::move(random01)),
      shared_(store.Shared()),
      leader_(!store.Shared()) {
  if (!random01_) {
    random01_ = [gen = std::make_shared<absl::BitGen>()] {
      return absl::Uniform(absl::IntervalClosed, *gen, 0.0, 1.0);
    };
  }
  for (const AppConfig& app : config_.apps) CreateApp(app);
  if (shared_) store_.SetListener(this);
}

std::vector<TokenKind> RefreshEngine::Kinds(const AppConfig& app) {
  std::vector<TokenKind> kinds = {TokenKind::kAccessToken};
  kinds.insert(kinds.end(), app.tickets.begin(), app.tickets.end());
  return kinds;
}

std::vector<TokenTable::Entry> RefreshEngine::TableEntries(
    const Config& config) {
  std::vector<TokenTable::Entry> entries;
  for (const AppConfig& app : config.apps) {
    for (TokenKind kind : Kinds(app)) entries.push_back({app.app_id, kind});
  }
  return entries;
}

RefreshEngine::App& RefreshEngine::CreateApp(const AppConfig& config) {
  auto owned = std::make_unique<App>();
  App& app = *owned;
  app.config = config;
  app.secret = config.secret;
  // A replica trusts nothing until its first read.
  if (shared_) app.confirmed = SteadyTime::InfinitePast();
  for (TokenKind kind : Kinds(config)) {
    auto slot = std::make_unique<Slot>();
    slot->app = &app;
    slot->kind = kind;
    slot->api = ApiOf(config, kind);
    app.slots[static_cast<int>(kind)] = slot.get();
    slots_.push_back(std::move(slot));
  }
  ++access_unsettled_;
  apps_[config.app_id] = std::move(owned);
  return app;
}

RefreshEngine::Slot* RefreshEngine::FindSlot(const std::string& app_id,
                                             TokenKind kind) {
  auto it = apps_.find(app_id);
  if (it == apps_.end()) return nullptr;
  return it->second->slots[static_cast<int>(kind)];
}

Instant RefreshEngine::ServableUntil(const Slot& slot, Instant now) const {
  return ReplicaValidUntil(slot.state, slot.app->confirmed, refresh_.overlap,
                           now);
}

bool RefreshEngine::Servable(const Slot& slot, Instant now) const {
  return now < ServableUntil(slot, now);
}

// ---- What GetToken serves ---------------------------------------------------

absl::Status RefreshEngine::UnavailableStatus(const Slot& slot) const {
  const std::string label = Label(slot.app->config.app_id, slot.kind);
  if (slot.awaits_access_token) {
    const absl::Status access = UnavailableStatus(AccessSlot(*slot.app));
    return absl::Status(access.code(),
                        absl::StrCat(label, ": waiting for the access token: ",
                                     access.message()));
  }
  if (slot.app->unserved && !leader_) {
    return absl::UnavailableError(absl::StrCat(
        label,
        ": no valid token: the leader replica does not have this app "
        "configured, so nothing refreshes it; configure every replica alike"));
  }
  const FetchResult& failure = slot.failure;
  switch (failure.failure) {
    case FailureClass::kPermanent:
      return absl::FailedPreconditionError(
          absl::StrCat(label, ": WeChat rejected the credentials: errcode ",
                       failure.errcode, " (", failure.detail, ")"));
    case FailureClass::kQuota:
      return absl::ResourceExhaustedError(
          absl::StrCat(label, ": ", failure.detail));
    case FailureClass::kTransient:
      return absl::UnavailableError(absl::StrCat(
          label, ": no valid token; the last fetch failed: ", failure.detail));
    case FailureClass::kTokenRejected:
      return absl::UnavailableError(absl::StrCat(
          label, ": WeChat rejected the access token; refreshing it first"));
    case FailureClass::kNone:
      break;
  }
  if (!slot.settled) {
    return absl::UnavailableError(
        absl::StrCat(label, ": first fetch in progress"));
  }
  if (slot.state.has_value()) {
    return absl::UnavailableError(
        absl::StrCat(label,
                     ": no valid token: a request that may have replaced it is "
                     "unanswered; a new one is being fetched"));
  }
  return absl::UnavailableError(absl::StrCat(label, ": no valid token"));
}

PublishedToken RefreshEngine::MakePublished(const Slot& slot,
                                            Instant now) const {
  PublishedToken published;
  published.value = slot.state.value;
  published.generation = slot.state.generation;
  published.fetched_at = slot.state.fetched.wall;
  published.valid_until = ServableUntil(slot, now);
  published.unavailable = UnavailableStatus(slot);
  return published;
}

absl::StatusOr<Token> RefreshEngine::Serve(const Slot& slot,
                                           Instant now) const {
  return ServeToken(slot.app->config.app_id, slot.kind,
                    MakePublished(slot, now), now.steady,
                    {refresh_.client_max_cache, refresh_.overlap});
}

void RefreshEngine::PublishApp(App& app) {
  if (app.removed) return;  // GetToken answers NOT_FOUND
  const Instant now = clock_.InstantNow();
  for (Slot* slot : app.slots) {
    if (slot == nullptr) continue;
    table_.Publish(app.config.app_id, slot->kind, MakePublished(*slot, now));
  }
  // Health changes when the access token stops being servable.
  const SteadyTime end = ServableUntil(AccessSlot(app), now).steady;
  health_due_.Set(&app, end > now.steady ? end : SteadyTime::InfiniteFuture());
  UpdateHealth(app, now);
}

// ---- Start and the loop
// -------------------------------------------------------

void RefreshEngine::Load(const AppRecord& record) {
  auto it = apps_.find(record.app_id);
  if (it == apps_.end()) {
    Log(LogLevel::kInfo,
        "keeping the stored state of an app not configured, for a reload "
        "that adds it",
        {{"app_id", record.app_id}});
    unconfigured_[record.app_id] = record;
    return;
  }
  App& app = *it->second;
  app.counters = CountersFromRecord(record, clock_);
  for (const TokenRecord& token : record.tokens) {
    Slot* slot = app.slots[static_cast<int>(token.kind)];
    if (slot == nullptr) continue;
    slot->state = FromTokenRecord(token, clock_);
    slot->seen_intents = {SeenOf(token)};
    const Instant valid = ValidUntil(slot->state, refresh_.overlap);
    if (slot->state.has_value() && clock_.InstantNow() < valid) {
      slot->settled = true;
      Log(LogLevel::kInfo, "serving the stored token",
          {{"app_id", record.app_id},
           {"kind", std::string(TokenKindName(token.kind))},
           {"token", Fingerprint(token.value)},
           {"generation", absl::StrCat(token.generation)},
           {"valid_until", TimeText(valid.wall)},
           {"unanswered_request",
            token.intent ? TimeText(*token.intent) : ""}});
    }
  }
}

void RefreshEngine::Start() {
  AnnounceApps();
  const SteadyTime load_start = clock_.SteadyNow();
  for (const AppRecord& record : store_.Load()) Load(record);
  const Instant now = clock_.InstantNow();
  for (auto& slot : slots_) {
    // A replica's start is its first read, whatever it found: fetching is
    // the leader's, once it holds the lease.
    if (shared_) slot->settled = true;
    if (slot->kind == TokenKind::kAccessToken && slot->settled) {
      --access_unsettled_;
    }
  }
  if (shared_) {
    for (auto& [app_id, app] : apps_) app->confirmed = load_start;
  } else {
    health_.SetLeader(true);  // the only replica is the one that fetches
    ScheduleAll(now);
  }
  for (auto& [app_id, app] : apps_) PublishApp(*app);
}

void RefreshEngine::ScheduleAll(Instant now) {
  for (auto& slot : slots_) {
    if (slot->phase != Slot::Phase::kIdle) continue;
    ScheduleRequest(*slot,
                    std::max(EarliestSend(now),
                             RefreshTime(slot->state, slot->api, refresh_)));
  }
}

Instant RefreshEngine::EarliestSend(Instant now) const {
  return std::max(now, Instant{now.wall + (first_request_at_ - now.steady),
                               first_request_at_});
}

SteadyTime RefreshEngine::NextWakeup() const {
  SteadyTime next = std::min(health_due_.Next(), rewrite_due_.Next());
  if (!shutting_down_ && busy_ < config_.upstream.max_concurrency) {
    next = std::min(next, due_.Next());
  }
  return next;
}

void RefreshEngine::RunDue() {
  if (!removed_.empty()) ForgetFinishedRemovals();
  const Instant now = clock_.InstantNow();
  while (App* app = health_due_.PopDue(now.steady)) PublishApp(*app);
  while (App* app = rewrite_due_.PopDue(now.steady)) WriteApp(*app);
  while (!shutting_down_ && busy_ < config_.upstream.max_concurrency) {
    Slot* slot = due_.PopDue(now.steady);
    if (slot == nullptr) break;
    StartRequest(*slot, now);
  }
}

bool RefreshEngine::Quiescent() const {
  return busy_ == 0 && writes_in_flight_ == 0;
}

void RefreshEngine::UpdateSecret(const std::string& app_id,
                                 const std::string& secret) {
  // Added again, waiting for the request of its removal: it starts with
  // the new secret.
  if (auto again = readded_.find(app_id); again != readded_.end()) {
    again->second.secret = secret;
  }
  auto it = apps_.find(app_id);
  if (it == apps_.end() || it->second->secret == secret) return;
  App& app = *it->second;
  app.secret = secret;
  ++app.secret_version;
  Log(LogLevel::kInfo, "the AppSecret was rotated; the next fetch uses it",
      {{"app_id", app_id}});
  Slot& access = AccessSlot(app);
  if (access.phase == Slot::Phase::kIdle &&
      access.failure.failure == FailureClass::kPermanent) {
    // Rejected with the old secret: no reason to wait permanent_retry.
    ScheduleRequest(access, clock_.InstantNow());
  }
}

// ---- Apps added and removed by a config reload
// -------------------------------

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
  table_.AddApp(app_id, Kinds(config));
  health_.SetAppServing(app_id, false);
  observer_->OnAppAdded(app_id, CountersToday(app.counters, now));
  Log(LogLevel::kInfo, "app added",
      {{"app_id", app_id}, {"stored_state", stored ? "loaded" : "none"}});
  PublishApp(app);  // its health, and the every-app view, too
  AnnounceApps();
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
    slot->awaits_access_token = false;  // no ticket waits any more
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
  AnnounceApps();
}

void RefreshEngine::AnnounceApps() {
  std::vector<std::string> app_ids;
  app_ids.reserve(apps_.size());
  for (const auto& [app_id, app] : apps_) app_ids.push_back(app_id);
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
    if (!apps_.contains(record.app_id)) Keep(record, latest);
  }
}

void RefreshEngine::Keep(const AppRecord& record, bool latest) {
  auto [it, added] = unconfigured_.try_emplace(record.app_id, record);
  if (!added) it->second = MergeKept(it->second, record, latest, clock_);
}

void RefreshEngine::BeginShutdown() {
  shutting_down_ = true;
  for (auto& slot : slots_) AnswerWaiters(*slot, ShuttingDown(), false);
}

void RefreshEngine::ScheduleRequest(Slot& slot, Instant at, Spend spend) {
  if (slot.app->removed) return;  // its last request ends it
  // A request is being recorded or is in flight: its answer schedules the
  // next (a ticket woken meanwhile, or one a ForceRefresh brought forward,
  // never runs two requests at once).
  if (slot.phase != Slot::Phase::kIdle) return;
  slot.next_spend = spend;
  due_.Set(&slot, at.steady);
}

// ---- One request: record, send, answer
// ----------------------------------------

void RefreshEngine::StartRequest(Slot& slot, Instant now) {
  App& app = *slot.app;
  if (!leader_) return;  // a follower sends nothing; OnLeader reschedules
  // One request per slot: its answer schedules the next.
  if (slot.phase != Slot::Phase::kIdle) return;
  if (now.steady < first_request_at_) {
    // A new leader: re-written records are not all in place yet, and a
    // request of the one before may still be in flight.
    ScheduleRequest(slot, EarliestSend(now), slot.next_spend);
    return;
  }
  if (!store_.MaySend(now.steady, config_.upstream.timeout)) {
    // The lease is about to be renewed, or lost: ask again shortly.
    ScheduleRequest(slot, now + kLeaseRecheck, slot.next_spend);
    return;
  }
  std::string access_token;
  if (IsTicket(slot.kind)) {
    const Slot& access = AccessSlot(app);
    if (!Servable(access, now)) {
      // Fetched as soon as the access token is servable (WakeTickets).
      slot.awaits_access_token = true;
      AnswerWaiters(slot, UnavailableStatus(slot), false);
      PublishApp(app);
      return;
    }
    access_token = access.state.value;
  }
  app.counters = CountersToday(app.counters, now);
  const bool stable_force =
      slot.api == FetchApi::kStable && slot.next_stable_force;
  if (absl::Status refusal = CheckSpend(app.counters, slot.next_spend,
                                        stable_force, now, refresh_);
      !refusal.ok()) {
    Refuse(slot, refusal, now);
    return;
  }
  if (stable_force && app.counters.last_stable_force &&
      now < *app.counters.last_stable_force + kStableForceSpacing) {
    ScheduleRequest(slot, *app.counters.last_stable_force + kStableForceSpacing,
                    slot.next_spend);
    return;
  }

  Slot::Request& request = slot.request;
  request = Slot::Request{};
  request.spend = slot.next_spend;
  request.stable_force = stable_force;
  request.base = slot.next_base;
  request.access_token = std::move(access_token);
  request.previous_stable_force = app.counters.last_stable_force;
  request.day = app.counters.day;
  request.recorded = now;
  request.term = term_;
  request.epoch = lease_epoch_;
  request.base_value = slot.state.value;
  if (MayRevoke(slot.api, stable_force)) {
    // Among the unanswered even when others are (DESIGN.md "Honouring the
    // overlap"): the latest decides when a later value is trusted.
    request.intent = RecordIntent(slot.state, now, refresh_.overlap);
  }
  Charge(app.counters, request.spend, stable_force, now);
  slot.phase = Slot::Phase::kRecording;
  ++busy_;
  // The shortened validity is served from now on, before anything leaves.
  PublishApp(app);
  WriteApp(app, [this, target = &slot](absl::Status status) {
    OnRecorded(*target, status);
  });
}

void RefreshEngine::Refuse(Slot& slot, const absl::Status& refusal,
                           Instant now) {
  App& app = *slot.app;
  const bool app_blocked =
      !CheckSpend(app.counters, Spend::kScheduled, false, now, refresh_).ok();
  AnswerWaiters(slot, refusal, false);
  slot.next_stable_force = false;
  if (!app_blocked) {
    // Only ForceRefresh's share (or WeChat's stable force limit) is spent:
    // the value stays, the schedule goes on.
    ScheduleRequest(slot,
                    std::max(now, RefreshTime(slot.state, slot.api, refresh_)));
    return;
  }
  slot.failure = FetchResult{};
  slot.failure.failure = FailureClass::kQuota;
  slot.failure.detail = std::string(refusal.message());
  if (!slot.settled) {
    slot.settled = true;
    if (slot.kind == TokenKind::kAccessToken) --access_unsettled_;
  }
  const Instant resume = app.counters.quota_blocked_until &&
                                 now < *app.counters.quota_blocked_until
                             ? *app.counters.quota_blocked_until
                             : BudgetResumeTime(now, random01_());
  ScheduleRequest(slot, resume);
  Log(LogLevel::kError, "not fetching: the day's quota is spent",
      {{"app_id", app.config.app_id},
       {"kind", std::string(TokenKindName(slot.kind))},
       {"reason", std::string(refusal.message())},
       {"resumes_at", TimeText(resume.wall)}});
  PublishApp(app);
}

void RefreshEngine::UndoRecording(Slot& slot) {
  App& app = *slot.app;
  const Slot::Request& request = slot.request;
  // Only its own: a read while it was recorded may have merged in an
  // intent of another request.
  if (request.intent) ForgetIntent(slot.state, *request.intent);
  if (app.counters.day == request.day) {
    app.counters.fetches = std::max(0, app.counters.fetches - 1);
    if (request.spend == Spend::kForce) {
      app.counters.force_fetches = std::max(0, app.counters.force_fetches - 1);
    }
    if (request.stable_force) {
      app.counters.stable_forces = std::max(0, app.counters.stable_forces - 1);
    }
  }
  if (request.stable_force) {
    app.counters.last_stable_force = request.previous_stable_force;
  }
}

void RefreshEngine::OnRecorded(Slot& slot, const absl::Status& status) {
  const Instant now = clock_.InstantNow();
  // The lease may have been lost, or lost and taken again, while it was
  // recorded: a new term waits for its first_request_at_.
  // A recording that took longer than its intent's latest allows is not
  // sent: the stored latest would not bound its send time.
  const bool in_time =
      !slot.request.intent || now < slot.request.intent->latest;
  const bool may_send = leader_ && slot.request.term == term_ &&
                        now.steady >= first_request_at_ && in_time &&
                        store_.MaySend(now.steady, config_.upstream.timeout);
  App& app = *slot.app;
  if (status.ok() && !shutting_down_ && !app.removed && may_send) {
    Send(slot);
    return;
  }
  // Nothing was sent: take back what was recorded for it.
  UndoRecording(slot);
  slot.phase = Slot::Phase::kIdle;
  --busy_;
  if (shutting_down_ || app.removed) {
    WriteApp(app);
    PublishApp(app);
    return;
  }
  if (status.ok()) {
    // Durable, but the lease no longer outlives the request. The stored
    // intent stays until the next write: conservative.
    if (leader_) {
      ScheduleRequest(slot, EarliestSend(now + kLeaseRecheck),
                      slot.request.spend);
    }
    PublishApp(app);
    return;
  }
  ++slot.failures;
  Log(LogLevel::kError,
      "cannot record the request in the state store; not sending it",
      {{"app_id", app.config.app_id},
       {"kind", std::string(TokenKindName(slot.kind))},
       {"error", std::string(status.message())}});
  AnswerWaiters(slot,
                absl::UnavailableError(absl::StrCat(
                    Label(app.config.app_id, slot.kind),
                    ": cannot record the refresh in the state store: ",
                    status.message())),
                false);
  ScheduleRequest(slot, RetryTime(slot.state, slot.api, false, slot.failures,
                                  false, now, refresh_, random01_()));
  PublishApp(app);
}

void RefreshEngine::Send(Slot& slot) {
  App& app = *slot.app;
  const Instant now = clock_.InstantNow();
  slot.phase = Slot::Phase::kInFlight;
  slot.request.sent = now;
  slot.request.term = term_;
  slot.last_sent = now;
  observer_->OnRequestSent(app.config.app_id, slot.api, app.counters);
  // One line per request WeChat counts: what the quota and any revocation
  // are traced back to.
  Log(LogLevel::kInfo, "sending a request to WeChat",
      {{"app_id", app.config.app_id},
       {"kind", std::string(TokenKindName(slot.kind))},
       {"base_url_index", absl::StrCat(slot.request.base)}});

  FetchRequest request;
  request.app_id = app.config.app_id;
  request.api = slot.api;
  request.base_index = slot.request.base;
  if (slot.api == FetchApi::kTicket) {
    request.access_token = slot.request.access_token;
    request.ticket_type = std::string(TicketType(slot.kind));
  } else {
    request.secret = app.secret;
    slot.request.secret_version = app.secret_version;
    request.force_refresh = slot.request.stable_force;
  }
  upstream_.Start(std::move(request),
                  [this, target = &slot](FetchResult result) {
                    OnAnswer(*target, std::move(result));
                  });
}

bool RefreshEngine::NothingSentSince(const Slot& slot) const {
  const Slot::Request& request = slot.request;
  const TokenState& state = slot.state;
  if (state.value != request.base_value) return false;
  if (!state.intent) return !request.intent;  // its own lost: something was
  const Instant own_latest =
      request.intent ? request.intent->latest : request.sent;
  return state.latest_intent.value_or(*state.intent) <= own_latest;
}

void RefreshEngine::OnAnswer(Slot& slot, FetchResult result) {
  App& app = *slot.app;
  const Instant now = clock_.InstantNow();
  slot.phase = Slot::Phase::kIdle;
  --busy_;
  if (leader_ && slot.request.term != term_ && NothingSentSince(slot)) {
    // The lease was lost and taken back, and no replica sent anything for
    // this token meanwhile: the answer is the newest there is, and WeChat
    // counted it. Kept, as if the lease had never lapsed.
    Log(LogLevel::kInfo,
        "answer from before the leader lease was taken back; nothing was "
        "sent meanwhile, so it is kept",
        {{"app_id", app.config.app_id},
         {"kind", std::string(TokenKindName(slot.kind))}});
  } else if (!leader_ || slot.request.term != term_) {
    // The lease was lost meanwhile (and perhaps taken again): the leader
    // since goes by the stored intent, and this answer could not be stored
    // (fenced) or would undo a newer token.
    Log(LogLevel::kWarning, "answer after losing the leader lease; discarded",
        {{"app_id", app.config.app_id},
         {"kind", std::string(TokenKindName(slot.kind))}});
    if (leader_) {
      // Leading again: the new term scheduled only idle slots, and callers
      // may have joined this request since.
      const Instant at =
          slot.waiters.empty()
              ? std::max(EarliestSend(now),
                         RefreshTime(slot.state, slot.api, refresh_))
              : EarliestSend(now);
      ScheduleRequest(slot, at,
                      slot.waiters.empty() ? Spend::kScheduled : Spend::kForce);
    }
    return;
  }
  if (!slot.settled) {
    slot.settled = true;
    if (slot.kind == TokenKind::kAccessToken) --access_unsettled_;
  }
  observer_->OnRequestDone(app.config.app_id, slot.api, result);
  switch (result.failure) {
    case FailureClass::kNone:
      OnSuccess(slot, result, now);
      break;
    case FailureClass::kTransient:
      OnTransientFailure(slot, result, now);
      break;
    default:
      OnCleanFailure(slot, result, now);
      break;
  }
  WriteApp(app);
  PublishApp(app);
}

void RefreshEngine::OnSuccess(Slot& slot, const FetchResult& result,
                              Instant now) {
  ApplySuccess(slot, result, now);
  // The access token may have become servable again (a new value, or an
  // intent resolved): tickets waiting for it go now.
  if (slot.kind == TokenKind::kAccessToken && Servable(slot, now)) {
    WakeTickets(*slot.app, now);
  }
}

void RefreshEngine::ApplySuccess(Slot& slot, const FetchResult& result,
                                 Instant now) {
  App& app = *slot.app;
  TokenState& state = slot.state;
  const Instant sent = slot.request.sent;
  slot.failure = FetchResult{};
  slot.failures = 0;
  slot.next_base = 0;
  slot.next_stable_force = false;
  IntentAfterSuccess(state, slot.request.intent, sent, refresh_.overlap);

  if (state.has_value() && result.value == state.value) {
    // stable_token normal mode answered with the value we hold: WeChat has
    // not rotated yet. Nothing was issued.
    state.expires = std::min(state.expires, sent + result.expires_in);
    AnswerWaiters(slot, Serve(slot, now), /*only_satisfied=*/true);
    if (!slot.waiters.empty() && slot.api == FetchApi::kStable) {
      // Callers say this value is bad: only force_refresh replaces it.
      slot.next_stable_force = true;
      ScheduleRequest(slot, now, Spend::kForce);
    } else {
      AnswerWaiters(slot, Serve(slot, now), false);
      ScheduleRequest(slot,
                      std::max(RefreshTime(state, slot.api, refresh_),
                               now + StableRecheckDelay(refresh_.overlap)));
    }
    return;
  }

  state.value = result.value;
  ++state.generation;
  state.epoch = slot.request.epoch;
  state.fetched = sent;
  state.expires = sent + result.expires_in;
  const Instant refresh_at = RefreshTime(state, slot.api, refresh_);
  ScheduleRequest(slot, std::max(now, refresh_at));
  Log(LogLevel::kInfo, "fetched a new token",
      {{"app_id", app.config.app_id},
       {"kind", std::string(TokenKindName(slot.kind))},
       {"token", Fingerprint(state.value)},
       {"generation", absl::StrCat(state.generation)},
       {"expires_in", absl::FormatDuration(result.expires_in)},
       {"valid_until", TimeText(ValidUntil(state, refresh_.overlap).wall)},
       {"next_refresh", TimeText(refresh_at.wall)}});
  AnswerWaiters(slot, Serve(slot, now), false);
}

void RefreshEngine::OnTransientFailure(Slot& slot, const FetchResult& result,
                                       Instant now) {
  App& app = *slot.app;
  if (!result.maybe_issued && slot.request.intent) {
    ForgetIntent(slot.state, *slot.request.intent);
  }
  slot.failure = result;
  const bool failover = slot.request.base + 1 < upstream_.BaseCount();
  if (failover) {
    // Same round, next base URL; waiters wait for its answer.
    slot.next_base = slot.request.base + 1;
  } else {
    slot.next_base = 0;
    ++slot.failures;
    AnswerWaiters(slot,
                  absl::UnavailableError(
                      absl::StrCat(Label(app.config.app_id, slot.kind),
                                   ": refresh failed: ", result.detail)),
                  false);
  }
  const Instant retry_at =
      RetryTime(slot.state, slot.api, failover, slot.failures,
                !slot.waiters.empty(), now, refresh_, random01_());
  ScheduleRequest(slot, retry_at,
                  failover ? slot.request.spend : Spend::kScheduled);
  slot.next_stable_force = failover && slot.request.stable_force;
  Log(LogLevel::kWarning,
      failover ? "token fetch failed; trying the next base URL"
               : "token fetch failed; retrying with backoff",
      {{"app_id", app.config.app_id},
       {"kind", std::string(TokenKindName(slot.kind))},
       {"detail", result.detail},
       {"maybe_issued", result.maybe_issued ? "true" : "false"},
       {"failures", absl::StrCat(slot.failures)},
       {"token_valid_until",
        TimeText(ValidUntil(slot.state, refresh_.overlap).wall)},
       {"next_attempt", TimeText(retry_at.wall)}});
}

void RefreshEngine::OnCleanFailure(Slot& slot, const FetchResult& result,
                                   Instant now) {
  App& app = *slot.app;
  // WeChat answered with an errcode: it issued nothing, revoked nothing.
  if (slot.request.intent) ForgetIntent(slot.state, *slot.request.intent);
  slot.failure = result;
  slot.next_base = 0;
  slot.next_stable_force = false;
  ++slot.failures;
  const std::string app_id = app.config.app_id;
  switch (result.failure) {
    case FailureClass::kPermanent: {
      // Sent with a secret a reload has replaced since: the new one may be
      // good, so it is tried now rather than after permanent_retry.
      const bool stale_secret =
          slot.api != FetchApi::kTicket &&
          slot.request.secret_version != app.secret_version;
      ScheduleRequest(slot,
                      stale_secret ? now : now + refresh_.permanent_retry);
      AnswerWaiters(slot, UnavailableStatus(slot), false);
      Log(LogLevel::kError,
          "WeChat rejected the credentials; fix the AppSecret or the IP "
          "whitelist",
          {{"app_id", app_id},
           {"kind", std::string(TokenKindName(slot.kind))},
           {"errcode", absl::StrCat(result.errcode)},
           {"detail", result.detail},
           {"next_attempt", TimeText((now + refresh_.permanent_retry).wall)}});
      return;
    }
    case FailureClass::kQuota: {
      const Instant resume =
          QuotaResumeTime(now, slot.failures, refresh_, random01_());
      app.counters.quota_blocked_until = resume;
      slot.failure.detail = absl::StrCat(
          "WeChat's daily quota is reached (errcode 45009); fetching resumes "
          "at ",
          TimeText(resume.wall));
      ScheduleRequest(slot, resume);
      AnswerWaiters(slot, UnavailableStatus(slot), false);
      Log(LogLevel::kError, "WeChat's daily quota is reached; not fetching",
          {{"app_id", app_id},
           {"kind", std::string(TokenKindName(slot.kind))},
           {"resumes_at", TimeText(resume.wall)}});
      return;
    }
    case FailureClass::kTokenRejected: {
      // getticket rejected the access token. The waiters stay for the
      // ticket fetched with a new one.
      Log(LogLevel::kWarning,
          "getticket rejected the access token; refreshing it first",
          {{"app_id", app_id},
           {"kind", std::string(TokenKindName(slot.kind))},
           {"errcode", absl::StrCat(result.errcode)}});
      RefreshAccessTokenFor(slot);
      return;
    }
    default:
      return;
  }
}

void RefreshEngine::RefreshAccessTokenFor(Slot& ticket) {
  // As a caller's ForceRefresh would: coalesced, rate-limited, budgeted.
  ticket.awaits_access_token = true;
  due_.Clear(&ticket);
  ForceRefreshCommand command;
  command.app_id = ticket.app->config.app_id;
  command.stale_value = ticket.request.access_token;
  command.done = [this,
                  target = &ticket](absl::StatusOr<ForceRefreshReply> reply) {
    if (!target->awaits_access_token) return;  // woken by the new token
    target->awaits_access_token = false;
    const Instant now = clock_.InstantNow();
    if (reply.ok()) {
      // A newer access token already existed: use it now.
      ScheduleRequest(*target, now);
    } else {
      AnswerWaiters(*target, reply.status(), false);
      ScheduleRequest(*target, RetryTime(target->state, target->api, false,
                                         target->failures, false, now, refresh_,
                                         random01_()));
    }
    PublishApp(*target->app);
  };
  ForceRefresh(std::move(command));
}

void RefreshEngine::WakeTickets(App& app, Instant now) {
  for (Slot* slot : app.slots) {
    if (slot != nullptr && slot->awaits_access_token) {
      slot->awaits_access_token = false;
      ScheduleRequest(*slot, now, slot->next_spend);
    }
  }
}

// ---- ForceRefresh
// -------------------------------------------------------------

absl::Status RefreshEngine::ForceRefusal(Slot& slot, Instant now) {
  if (slot.failure.failure == FailureClass::kPermanent) {
    // Asking again cannot help until the config changes; the scheduled
    // retry notices when it does.
    return UnavailableStatus(slot);
  }
  if (IsTicket(slot.kind) && !Servable(AccessSlot(*slot.app), now)) {
    const absl::Status access = UnavailableStatus(AccessSlot(*slot.app));
    return absl::Status(
        access.code(),
        absl::StrCat(Label(slot.app->config.app_id, slot.kind),
                     ": needs a valid access token: ", access.message()));
  }
  slot.app->counters = CountersToday(slot.app->counters, now);
  if (absl::Status spend =
          CheckSpend(slot.app->counters, Spend::kForce, false, now, refresh_);
      !spend.ok()) {
    return absl::Status(spend.code(),
                        absl::StrCat(Label(slot.app->config.app_id, slot.kind),
                                     ": ", spend.message()));
  }
  return absl::OkStatus();
}

void RefreshEngine::ForceRefresh(ForceRefreshCommand command) {
  if (command.IsCancelled()) return;
  if (absl::Status errcode = ValidateForceErrcode(command.wechat_errcode);
      !errcode.ok()) {
    command.done(errcode);
    return;
  }
  Slot* slot = FindSlot(command.app_id, command.kind);
  if (slot == nullptr) {
    command.done(table_.CheckKnown(command.app_id, command.kind));
    return;
  }
  const Instant now = clock_.InstantNow();
  if (shutting_down_) {
    Answer(command.app_id, command, ShuttingDown(), ForceOutcome::kRefreshed);
    return;
  }
  if (!leader_) {
    Answer(command.app_id, command, NotTheLeader(), ForceOutcome::kRefreshed);
    return;
  }
  std::erase_if(slot->waiters, [](const Waiter& waiter) {
    return waiter.command.IsCancelled();
  });

  ForceView view;
  view.stale_value = command.stale_value;
  view.state = &slot->state;
  view.servable = Servable(*slot, now);
  view.in_progress = slot->phase != Slot::Phase::kIdle;
  view.refusal = ForceRefusal(*slot, now);
  view.last_sent = slot->last_sent;
  view.now = now;
  const ForceDecision decision = DecideForceRefresh(view, refresh_);
  switch (decision.step) {
    case ForceStep::kAlreadyNewer:
      Answer(command.app_id, command, Serve(*slot, now),
             ForceOutcome::kAlreadyNewer);
      return;
    case ForceStep::kRefuse:
      Answer(command.app_id, command, view.refusal, ForceOutcome::kRefreshed);
      return;
    case ForceStep::kJoin:
    case ForceStep::kFetch:
      break;
  }
  if (slot->waiters.size() >= kMaxWaitersPerToken) {
    Answer(command.app_id, command,
           absl::ResourceExhaustedError(absl::StrCat(
               Label(command.app_id, command.kind), ": ", kMaxWaitersPerToken,
               " ForceRefresh calls are waiting already")),
           ForceOutcome::kRefreshed);
    return;
  }
  Waiter waiter;
  waiter.bad_value =
      command.stale_value.empty() ? slot->state.value : command.stale_value;
  waiter.outcome = ForceOutcome::kCoalesced;
  if (decision.step == ForceStep::kFetch && slot->waiters.empty()) {
    // This caller makes the fetch happen (or brings it forward).
    waiter.outcome = ForceOutcome::kRefreshed;
    if (decision.at.steady < due_.When(slot)) {
      ScheduleRequest(*slot, decision.at, Spend::kForce);
    }
    Log(LogLevel::kInfo, "force refresh requested",
        {{"app_id", command.app_id},
         {"kind", std::string(TokenKindName(command.kind))},
         {"stale_token", command.stale_value.empty()
                             ? std::string("(any)")
                             : Fingerprint(command.stale_value)},
         {"wechat_errcode", absl::StrCat(command.wechat_errcode)},
         {"fetch_at", TimeText(decision.at.wall)}});
  }
  waiter.command = std::move(command);
  slot->waiters.push_back(std::move(waiter));
}

void RefreshEngine::Answer(const std::string& app_id,
                           ForceRefreshCommand& command,
                           const absl::StatusOr<Token>& answer,
                           ForceOutcome outcome) {
  if (command.IsCancelled()) return;
  observer_->OnForceRefreshAnswered(app_id, answer.status(), outcome);
  if (!answer.ok()) {
    command.done(answer.status());
  } else {
    command.done(ForceRefreshReply{*answer, outcome});
  }
}

void RefreshEngine::AnswerWaiters(Slot& slot,
                                  const absl::StatusOr<Token>& answer,
                                  bool only_satisfied) {
  std::vector<Waiter> waiters;
  waiters.swap(slot.waiters);
  // A caller answered with a value may call GetToken at once: it must find
  // that value published, not the one it reported.
  if (answer.ok() && !waiters.empty() && !slot.app->removed) {
    table_.Publish(slot.app->config.app_id, slot.kind,
                   MakePublished(slot, clock_.InstantNow()));
  }
  for (Waiter& waiter : waiters) {
    if (only_satisfied && answer.ok() && answer->value == waiter.bad_value) {
      slot.waiters.push_back(std::move(waiter));
      continue;
    }
    Answer(slot.app->config.app_id, waiter.command, answer, waiter.outcome);
  }
}

// ---- State store and health
// -----------------------------------------------------

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
  store_.Write(
      std::move(record), mode,
      [this, target = &app, sent = std::move(sent),
       then = std::move(then)](absl::StatusOr<AppRecord> written) {
        --target->writes_in_flight;
        --writes_in_flight_;
        target->last_write_done = clock_.SteadyNow();
        const absl::Status status = written.status();
        observer_->OnStateWritten(target->config.app_id, status);
        if (written.ok()) AdoptWritten(*target, sent, *written);
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
      store_lacks = MergeStoredToken(token, /*latest=*/false, clock_, state) ||
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

bool RefreshEngine::Adopt(const AppRecord& record, bool latest, bool* changed) {
  auto it = apps_.find(record.app_id);
  if (it == apps_.end()) return false;
  App& app = *it->second;
  bool store_lacks =
      MergeCounters(CountersFromRecord(record, clock_), app.counters);
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
        MergeStoredToken(*found, latest, clock_, state) || store_lacks;
    if (changed != nullptr &&
        (state.value != before.value ||
         Micros(state.intent) != Micros(before.intent) ||
         Micros(state.latest_intent) != Micros(before.latest_intent))) {
      *changed = true;
    }
  }
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

void RefreshEngine::UpdateHealth(App& app, Instant now) {
  const Slot& access = AccessSlot(app);
  // An app nothing refreshes is not serving even while its last value
  // lasts: health says so before callers find out.
  const bool serving = Servable(access, now) && !app.unserved &&
                       access.failure.failure != FailureClass::kPermanent;
  // Every name starts NOT_SERVING in the sink; only changes are reported.
  if (serving != app.serving) {
    apps_serving_ += serving ? 1 : -1;
    app.serving = serving;
    health_.SetAppServing(app.config.app_id, serving);
  }
  UpdateAggregateHealth();
}

void RefreshEngine::UpdateAggregateHealth() {
  const bool all = apps_serving_ == static_cast<int>(apps_.size());
  if (all_serving_ != all) {
    all_serving_ = all;
    health_.SetAllAppsServing(all);
  }
  // Tickets do not count: they wait for the access token, whose first
  // attempt is what startup means.
  if (!startup_reported_ && access_unsettled_ == 0) {
    startup_reported_ = true;
    health_.SetStartupDone();
  }
}

}  // namespace wxtoken::server
