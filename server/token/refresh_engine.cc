// The engine's state, start and loop: apps and slots, the schedule, secrets.
#include "server/token/refresh_engine.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_engine_internal.h"
#include "server/token/state_record.h"
#include "server/token/token_merge.h"

namespace wxtoken::server {

using refresh_engine_internal::ApiOf;
using refresh_engine_internal::ShuttingDown;
using refresh_engine_internal::TimeText;

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
  size_t suites = 0;
  for (size_t i = 0; i < config_.platforms.size(); ++i) {
    const PlatformConfig& platform = config_.platforms[i];
    // The config checked the key file: it opens.
    absl::StatusOr<Vault> vault = Vault::FromKeyFile(platform.vault_keys);
    if (!vault.ok()) continue;
    Platform& added = platforms_
                          .emplace(platform.component_app_id,
                                   Platform(&platform, *std::move(vault)))
                          .first->second;
    added.budget_name =
        platform.wecom_suite
            ? absl::StrCat("wecom.suites[", suites++, "].daily_budget")
            : absl::StrCat("platforms[", i, "].daily_budget");
    // A suite has no list API: nothing to take over, no pass to run.
    if (platform.wecom_suite) {
      added.pass.next = SteadyTime::InfiniteFuture();
    }
  }
  for (const AppConfig& app : config_.apps) {
    CreateApp(app);
    if (!app.corp_ticket_from.empty()) {
      corp_ticket_readers_[app.corp_ticket_from].push_back(app.app_id);
    }
  }
  // Until its first complete list pass (or a record saying it was done).
  for (const auto& [id, platform] : platforms_) {
    if (platform.config->wecom_suite) {
      apps_.at(id)->takeover_done = true;
    } else {
      table_.SetTakeoverPending(id, true);
    }
  }
  if (shared_) store_.SetListener(this);
}

std::vector<TokenKind> RefreshEngine::Kinds(const AppConfig& app) {
  std::vector<TokenKind> kinds = {TokenKind::kAccessToken};
  if (app.api == AppConfig::Api::kComponent) {
    kinds.push_back(TokenKind::kComponentVerifyTicket);
  } else if (app.api == AppConfig::Api::kWeComSuite) {
    kinds.push_back(TokenKind::kSuiteTicket);
  }
  kinds.insert(kinds.end(), app.tickets.begin(), app.tickets.end());
  return kinds;
}

std::vector<TokenKind> RefreshEngine::ServedKinds(const AppConfig& app) {
  std::vector<TokenKind> kinds = Kinds(app);
  std::erase_if(kinds, IsPushed);
  if (!app.corp_ticket_from.empty()) kinds.push_back(TokenKind::kJsapiTicket);
  return kinds;
}

std::vector<TokenTable::Entry> RefreshEngine::TableEntries(
    const Config& config) {
  std::vector<TokenTable::Entry> entries;
  for (const AppConfig& app : config.apps) {
    for (TokenKind kind : ServedKinds(app)) {
      entries.push_back({app.app_id, kind});
    }
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
  // Tickets are fetched with the access token; a component token with the
  // pushed verify ticket.
  Slot& access = AccessSlot(app);
  for (Slot* slot : app.slots) {
    if (slot == nullptr) continue;
    if (IsTicket(slot->kind)) {
      slot->inputs = {&access};
      access.dependents.push_back(slot);
    } else if (IsPushed(slot->kind)) {
      access.inputs = {slot};
      slot->dependents.push_back(&access);
    }
  }
  // An authorizer's token is fetched with its platform's component token,
  // a suite's corp's with the suite token.
  if (config.api == AppConfig::Api::kAuthorizer ||
      config.api == AppConfig::Api::kSuiteCorp) {
    const std::string platform =
        config.app_id.substr(0, config.app_id.find('/'));
    if (auto it = apps_.find(platform); it != apps_.end()) {
      Slot& component = AccessSlot(*it->second);
      access.inputs = {&component};
      component.dependents.push_back(&access);
    }
  }
  ++access_unsettled_;
  apps_[config.app_id] = std::move(owned);
  return app;
}

std::string RefreshEngine::MetricOwner(const std::string& app_id) const {
  const size_t slash = app_id.find('/');
  if (slash != std::string::npos) {
    std::string owner = app_id.substr(0, slash);
    if (platforms_.contains(owner)) return owner;
  }
  return app_id;
}

RefreshEngine::Slot* RefreshEngine::FindSlot(const std::string& app_id,
                                             TokenKind kind) {
  auto it = apps_.find(app_id);
  if (it == apps_.end()) return nullptr;
  const App& app = *it->second;
  if (kind == TokenKind::kJsapiTicket && !app.config.corp_ticket_from.empty()) {
    return FindSlot(app.config.corp_ticket_from, kind);  // the corp's
  }
  return app.slots[static_cast<int>(kind)];
}

Instant RefreshEngine::ServableUntil(const Slot& slot, Instant now) const {
  return ReplicaValidUntil(slot.state, slot.app->confirmed, refresh_.overlap,
                           now);
}

bool RefreshEngine::Servable(const Slot& slot, Instant now) const {
  return now < ServableUntil(slot, now);
}

void RefreshEngine::Load(const AppRecord& record) {
  DiscoverAuthorizer(record.app_id);
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
  const AppCounters before = app.counters;
  app.counters = CountersFromRecord(record, clock_);
  Recount(app, before);
  TakeOwner(app, record, /*mirror=*/false);
  TakeTicketHours(app, record, /*mirror=*/false);
  for (const TokenRecord& token : record.tokens) {
    Slot* slot = app.slots[static_cast<int>(token.kind)];
    if (slot == nullptr) continue;
    slot->state = FromTokenRecord(token, clock_);
    slot->durable_value = token.value;
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
  for (const auto& [id, platform] : platforms_) ReportPlatform(id);
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
    if (leader_) {
      for (const auto& [id, platform] : platforms_) {
        if (!platform.pass.in_flight) next = std::min(next, platform.pass.next);
        // A failed exchange's retry; others go when their suite token
        // does (OnComponentToken).
        const Platform::CodeExchange& exchange = platform.exchange;
        if (!exchange.in_flight && !exchange.codes.empty() &&
            exchange.failures > 0 && exchange.next > clock_.SteadyNow()) {
          next = std::min(next, exchange.next);
        }
      }
      if (!quota_.in_flight &&
          config_.quota.poll_interval > absl::ZeroDuration()) {
        // The rest of a round goes at once.
        next =
            std::min(next, quota_.queue.empty() ? quota_.next
                                                : SteadyTime::InfinitePast());
      }
    }
  }
  return next;
}

void RefreshEngine::RunDue() {
  if (!removed_.empty()) ForgetFinishedRemovals();
  if (apps_changed_) {
    // Once for a reload of many apps, not once per app.
    apps_changed_ = false;
    AnnounceApps();
  }
  const Instant now = clock_.InstantNow();
  while (App* app = health_due_.PopDue(now.steady)) PublishApp(*app);
  while (App* app = rewrite_due_.PopDue(now.steady)) WriteApp(*app);
  RunListPasses(now);
  RunCodeExchanges(now);
  while (!shutting_down_ && busy_ < config_.upstream.max_concurrency) {
    Slot* slot = due_.PopDue(now.steady);
    if (slot == nullptr) break;
    StartRequest(*slot, now);
  }
  RunQuotaPolls(now);
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

void RefreshEngine::BeginShutdown() {
  shutting_down_ = true;
  for (auto& slot : slots_) AnswerWaiters(*slot, ShuttingDown(), false);
}

void RefreshEngine::ScheduleRequest(Slot& slot, Instant at, Spend spend) {
  if (slot.app->removed) return;  // its last request ends it
  // WeCom has no api_start_push_ticket: a suite_ticket only ever comes by
  // push, every 10 minutes.
  if (slot.kind == TokenKind::kSuiteTicket) return;
  // A request is being recorded or is in flight: its answer schedules the
  // next (a ticket woken meanwhile, or one a ForceRefresh brought forward,
  // never runs two requests at once).
  if (slot.phase != Slot::Phase::kIdle) return;
  slot.next_spend = spend;
  due_.Set(&slot, at.steady);
}

}  // namespace wxtoken::server
