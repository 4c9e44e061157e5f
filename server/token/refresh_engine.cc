#include "server/token/refresh_engine.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_policy.h"

namespace wxtoken::server {
namespace {

std::string TimeText(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

std::string AppLabel(const std::string& app_id, TokenKind kind) {
  return kind == TokenKind::kAccessToken
             ? absl::StrCat("app \"", app_id, "\"")
             : absl::StrCat("app \"", app_id, "\" ", TokenKindName(kind));
}

}  // namespace

RefreshEngine::RefreshEngine(const Config& config, const Clock& clock,
                             UpstreamClient& upstream, TokenTable& table,
                             TokenStore& store, HealthSink& health,
                             std::function<double()> random01)
    : config_(config),
      clock_(clock),
      upstream_(upstream),
      table_(table),
      store_(store),
      health_(health),
      random01_(std::move(random01)) {
  if (!random01_) {
    random01_ = [gen = std::make_shared<absl::BitGen>()] {
      return absl::Uniform(absl::IntervalClosed, *gen, 0.0, 1.0);
    };
  }
  for (const AppConfig& app : config_.apps) {
    for (TokenKind kind : KindsOf(app)) {
      auto slot = std::make_unique<Slot>();
      slot->app = &app;
      slot->kind = kind;
      slots_.push_back(std::move(slot));
    }
  }
}

std::vector<TokenKind> RefreshEngine::KindsOf(const AppConfig& app) {
  std::vector<TokenKind> kinds = {TokenKind::kAccessToken};
  for (const std::string& ticket : app.tickets) {
    kinds.push_back(ticket == "jsapi" ? TokenKind::kJsapiTicket
                                      : TokenKind::kWxCardTicket);
  }
  return kinds;
}

std::vector<TokenTable::Entry> RefreshEngine::TableEntries(
    const Config& config) {
  std::vector<TokenTable::Entry> entries;
  for (const AppConfig& app : config.apps) {
    for (TokenKind kind : KindsOf(app)) {
      entries.push_back({app.app_id, kind});
    }
  }
  return entries;
}

RefreshEngine::Slot* RefreshEngine::FindSlot(const std::string& app_id,
                                             TokenKind kind) {
  for (auto& slot : slots_) {
    if (slot->app->app_id == app_id && slot->kind == kind) return slot.get();
  }
  return nullptr;
}

FetchApi RefreshEngine::ApiOf(const Slot& slot) {
  if (slot.kind != TokenKind::kAccessToken) return FetchApi::kTicket;
  return slot.app->api == AppConfig::Api::kClassic ? FetchApi::kClassic
                                                   : FetchApi::kStable;
}

bool RefreshEngine::Revokes(const Slot& slot, bool force) const {
  // A classic fetch (and a ticket fetch, which behaves alike) starts
  // WeChat's revocation countdown for the previous value; stable_token only
  // does in force_refresh mode.
  return ApiOf(slot) != FetchApi::kStable || force;
}

absl::Time RefreshEngine::ValidUntil(const Slot& slot) const {
  if (!slot.current) return absl::InfinitePast();
  absl::Time until = slot.current->expires_at;
  if (slot.revocation_clock) {
    until = std::min(until, *slot.revocation_clock + config_.refresh.overlap);
  }
  return until;
}

absl::Status RefreshEngine::UnavailableStatus(const Slot& slot,
                                              absl::Time now) const {
  const std::string label = AppLabel(slot.app->app_id, slot.kind);
  switch (slot.last_failure) {
    case FailureClass::kPermanent:
      return absl::FailedPreconditionError(
          absl::StrCat(label, ": WeChat rejected the credentials: errcode ",
                       slot.last_errcode, " (", slot.last_detail, ")"));
    case FailureClass::kQuota:
      return absl::ResourceExhaustedError(
          absl::StrCat(label, ": ", slot.last_detail, "; fetching resumes at ",
                       TimeText(slot.next_attempt)));
    case FailureClass::kNone:
      if (!slot.settled) {
        return absl::UnavailableError(
            absl::StrCat(label, ": first fetch in progress"));
      }
      return absl::UnavailableError(
          absl::StrCat(label, ": no valid token; next fetch at ",
                       TimeText(std::max(now, slot.next_attempt))));
    default:
      return absl::UnavailableError(absl::StrCat(
          label, ": no valid token; last fetch failed: ", slot.last_detail));
  }
}

PublishedToken RefreshEngine::StateOf(const Slot& slot, absl::Time now) const {
  PublishedToken state;
  state.has_value = slot.current.has_value();
  if (slot.current) state.current = *slot.current;
  state.valid_until = ValidUntil(slot);
  state.unavailable = UnavailableStatus(slot, now);
  return state;
}

absl::StatusOr<Token> RefreshEngine::Serve(const Slot& slot,
                                           absl::Time now) const {
  return ServeToken(slot.app->app_id, slot.kind, StateOf(slot, now),
                    config_.refresh.client_max_cache, now);
}

void RefreshEngine::Publish(const Slot& slot) {
  table_.Publish(slot.app->app_id, slot.kind, StateOf(slot, clock_.Now()));
}

int RefreshEngine::BudgetLeft(const std::string& app_id, absl::Time now) {
  Budget& budget = budgets_[app_id];
  if (budget.day != BeijingDay(now)) budget = Budget{BeijingDay(now), 0};
  return config_.refresh.daily_budget - budget.used;
}

bool RefreshEngine::SpendBudget(const std::string& app_id, absl::Time now) {
  if (BudgetLeft(app_id, now) <= 0) return false;
  ++budgets_[app_id].used;
  return true;
}

void RefreshEngine::Start() {
  const absl::Time now = clock_.Now();
  for (StoredToken& stored : store_.LoadAll()) {
    Slot* slot = FindSlot(stored.app_id, stored.kind);
    if (slot == nullptr) {
      Log(LogLevel::kWarning, "ignoring stored token of an unconfigured app",
          {{"app_id", stored.app_id}});
      continue;
    }
    const TokenValue& value = stored.value;
    if (value.expires_at <= now) continue;
    slot->current = value;
    slot->settled = true;
    const absl::Duration lifetime = value.expires_at - value.fetched_at;
    const absl::Time refresh_at =
        slot->app->api == AppConfig::Api::kClassic
            ? ClassicRefreshTime(value.fetched_at, lifetime,
                                 config_.refresh.margin)
            : StableRefreshTime(value.expires_at, config_.refresh.overlap);
    // A value close to expiry is still served while its successor is fetched.
    slot->next_attempt =
        value.expires_at - now > config_.refresh.margin ? refresh_at : now;
    Log(LogLevel::kInfo, "loaded stored token",
        {{"app_id", stored.app_id},
         {"kind", std::string(TokenKindName(stored.kind))},
         {"token", Fingerprint(value.value)},
         {"expires_at", TimeText(value.expires_at)},
         {"next_refresh", TimeText(slot->next_attempt)}});
  }
  for (auto& slot : slots_) Publish(*slot);
  RunDue();
}

void RefreshEngine::RunDue() {
  const absl::Time now = clock_.Now();
  for (auto& slot : slots_) {
    if (!slot->in_flight && slot->next_attempt <= now) StartFetch(*slot, now);
  }
  UpdateHealth(now);
}

absl::Time RefreshEngine::NextWakeup() const {
  const absl::Time now = clock_.Now();
  absl::Time next = absl::InfiniteFuture();
  for (const auto& slot : slots_) {
    if (!slot->in_flight) next = std::min(next, slot->next_attempt);
    const absl::Time valid_until = ValidUntil(*slot);
    if (valid_until > now) next = std::min(next, valid_until);
  }
  return next;
}

void RefreshEngine::StartFetch(Slot& slot, absl::Time now) {
  const std::string& app_id = slot.app->app_id;
  std::string access_token;
  if (slot.kind != TokenKind::kAccessToken) {
    const Slot& access = *FindSlot(app_id, TokenKind::kAccessToken);
    if (!access.current || now >= ValidUntil(access)) {
      // Fetched as soon as the access token arrives (OnFetchSucceeded).
      slot.next_attempt = absl::InfiniteFuture();
      slot.waiting_for_access_token = true;
      return;
    }
    access_token = access.current->value;
  }
  if (!SpendBudget(app_id, now)) {
    slot.last_failure = FailureClass::kQuota;
    slot.last_errcode = 0;
    slot.last_detail = absl::StrCat(
        "daily budget of ", config_.refresh.daily_budget, " fetches spent");
    slot.next_attempt = StartOfNextBeijingDay(now);
    slot.settled = true;
    Log(LogLevel::kError,
        "daily fetch budget spent; not fetching until tomorrow",
        {{"app_id", app_id},
         {"budget", absl::StrCat(config_.refresh.daily_budget)},
         {"resumes_at", TimeText(slot.next_attempt)}});
    Publish(slot);
    ReplyToWaiters(app_id, std::move(slot.pending),
                   UnavailableStatus(slot, now));
    slot.pending.clear();
    return;
  }

  observer_->OnFetchStarted(app_id, budgets_[app_id].used);
  const bool force = slot.use_force_next;
  slot.use_force_next = false;
  slot.in_flight = true;
  slot.in_flight_force = force;
  slot.in_flight_started_clock = false;
  slot.last_sent = now;
  if (force) slot.last_force_sent = now;
  if (Revokes(slot, force) && slot.current && !slot.revocation_clock) {
    slot.revocation_clock = now;
    slot.in_flight_started_clock = true;
  }
  for (Waiter& waiter : slot.pending) slot.joined.push_back(std::move(waiter));
  slot.pending.clear();
  // Publish the shortened validity before the request leaves, so no reader
  // can compute a max_cache from the old bound after WeChat may have rotated.
  Publish(slot);

  FetchRequest request;
  request.app_id = app_id;
  request.api = ApiOf(slot);
  if (request.api == FetchApi::kTicket) {
    request.access_token = std::move(access_token);
    request.ticket_type =
        slot.kind == TokenKind::kJsapiTicket ? "jsapi" : "wx_card";
  } else {
    request.secret = slot.app->secret;
    request.force_refresh = force;
  }
  slot.access_token_used = request.access_token;
  Slot* target = &slot;
  upstream_.Start(std::move(request), [this, target](FetchResult result) {
    OnFetchDone(*target, std::move(result));
  });
}

void RefreshEngine::OnFetchDone(Slot& slot, FetchResult result) {
  const absl::Time now = clock_.Now();
  const absl::Time sent = *slot.last_sent;
  slot.in_flight = false;
  slot.settled = true;
  observer_->OnFetchDone(slot.app->app_id, ApiOf(slot), result);
  if (result.failure == FailureClass::kNone) {
    OnFetchSucceeded(slot, result, sent, now);
  } else {
    OnFetchFailed(slot, result, now);
  }
  UpdateHealth(now);
}

void RefreshEngine::OnFetchSucceeded(Slot& slot, const FetchResult& result,
                                     absl::Time sent, absl::Time now) {
  const std::string& app_id = slot.app->app_id;
  const bool stable = slot.app->api == AppConfig::Api::kStable;
  slot.failures = 0;
  slot.last_failure = FailureClass::kNone;
  slot.last_errcode = 0;
  slot.last_detail.clear();

  if (slot.current && result.value == slot.current->value) {
    // stable_token normal mode answered with the value we hold: WeChat has not
    // rotated yet. Nothing revoked it, so the clock started for it is void.
    slot.current->expires_at =
        std::min(slot.current->expires_at, sent + result.expires_in);
    if (slot.in_flight_started_clock) slot.revocation_clock.reset();
    if (!slot.joined.empty() && stable) {
      // Callers say this value is bad: only force_refresh replaces it.
      for (Waiter& waiter : slot.joined)
        slot.pending.push_back(std::move(waiter));
      slot.joined.clear();
      slot.use_force_next = true;
      slot.next_attempt =
          slot.last_force_sent
              ? std::max(now, *slot.last_force_sent +
                                  config_.refresh.force_min_interval)
              : now;
    } else {
      const absl::Time refresh_at =
          stable ? StableRefreshTime(slot.current->expires_at,
                                     config_.refresh.overlap)
                 : ClassicRefreshTime(
                       slot.current->fetched_at,
                       slot.current->expires_at - slot.current->fetched_at,
                       config_.refresh.margin);
      slot.next_attempt = std::max(
          refresh_at, now + StableRecheckDelay(config_.refresh.overlap));
    }
    Publish(slot);
    ReplyToWaiters(slot.app->app_id, std::move(slot.joined), Serve(slot, now));
    slot.joined.clear();
    return;
  }

  TokenValue value;
  value.value = result.value;
  value.fetched_at = sent;
  value.expires_at = sent + result.expires_in;
  value.generation = slot.current ? slot.current->generation + 1 : 1;
  slot.current = value;
  slot.revocation_clock.reset();
  slot.next_attempt =
      stable
          ? std::max(
                StableRefreshTime(value.expires_at, config_.refresh.overlap),
                now + StableRecheckDelay(config_.refresh.overlap))
          : ClassicRefreshTime(sent, result.expires_in, config_.refresh.margin);
  Publish(slot);
  Log(LogLevel::kInfo, "fetched new token",
      {{"app_id", app_id},
       {"kind", std::string(TokenKindName(slot.kind))},
       {"token", Fingerprint(value.value)},
       {"generation", absl::StrCat(value.generation)},
       {"expires_in", absl::FormatDuration(result.expires_in)},
       {"next_refresh", TimeText(slot.next_attempt)}});

  absl::Status saved = store_.Save({app_id, slot.kind, value});
  if (!saved.ok()) {
    Log(LogLevel::kWarning, "cannot store token; a restart will fetch again",
        {{"app_id", app_id}, {"error", std::string(saved.message())}});
  }
  ReplyToWaiters(slot.app->app_id, std::move(slot.joined), Serve(slot, now));
  slot.joined.clear();
  if (slot.kind == TokenKind::kAccessToken) WakeTickets(app_id, now);
}

void RefreshEngine::WakeTickets(const std::string& app_id, absl::Time now) {
  for (auto& ticket : slots_) {
    if (ticket->app->app_id == app_id && ticket->waiting_for_access_token) {
      ticket->waiting_for_access_token = false;
      ticket->next_attempt = now;
    }
  }
}

void RefreshEngine::RefreshAccessTokenForTicket(Slot& ticket) {
  // getticket rejected the access token: refresh it the way a caller's
  // ForceRefresh would (coalesced, rate-limited, budgeted), then the ticket.
  ticket.waiting_for_access_token = true;
  ticket.next_attempt = absl::InfiniteFuture();
  ForceRefreshCommand command;
  command.app_id = ticket.app->app_id;
  command.stale_value = ticket.access_token_used;
  command.done = [this,
                  target = &ticket](absl::StatusOr<ForceRefreshReply> reply) {
    if (!target->waiting_for_access_token) return;  // woken by the new token
    target->waiting_for_access_token = false;
    if (!reply.ok()) {
      ReplyToWaiters(target->app->app_id, std::move(target->pending),
                     reply.status());
      target->pending.clear();
    }
    // A newer access token already existed: use it now. No new one: retry
    // the ticket with backoff, as after any failure.
    target->next_attempt =
        clock_.Now() +
        (reply.ok()
             ? absl::ZeroDuration()
             : BackoffDelay(target->failures, config_.refresh.retry_initial,
                            config_.refresh.retry_max, random01_()));
  };
  // Not ForceRefresh(): this runs inside an upstream completion, where
  // starting fetches is left to the worker's next RunDue().
  RequestRefresh(std::move(command));
}

void RefreshEngine::OnFetchFailed(Slot& slot, const FetchResult& result,
                                  absl::Time now) {
  const std::string& app_id = slot.app->app_id;
  if (!result.maybe_issued && slot.in_flight_started_clock) {
    // WeChat answered with an error: it issued nothing, revoked nothing.
    slot.revocation_clock.reset();
  }
  ++slot.failures;
  slot.last_failure = result.failure;
  slot.last_errcode = result.errcode;
  slot.last_detail = result.detail;

  LogLevel level = LogLevel::kWarning;
  std::string message = "token fetch failed; retrying with backoff";
  switch (result.failure) {
    case FailureClass::kPermanent:
      level = LogLevel::kError;
      message =
          "WeChat rejected the credentials; fix the config (AppSecret, IP "
          "whitelist)";
      slot.next_attempt = now + config_.refresh.permanent_retry;
      break;
    case FailureClass::kQuota:
      level = LogLevel::kError;
      message = "WeChat's daily quota is reached; not fetching until tomorrow";
      slot.last_detail = "daily fetch quota reached (errcode 45009)";
      slot.next_attempt = StartOfNextBeijingDay(now);
      break;
    default:
      slot.next_attempt =
          now + BackoffDelay(slot.failures, config_.refresh.retry_initial,
                             config_.refresh.retry_max, random01_());
      break;
  }
  if (result.failure == FailureClass::kTokenRejected) {
    message = "getticket rejected the access token; refreshing it first";
    // Waiters stay for the ticket fetched with the new token.
    for (Waiter& waiter : slot.joined)
      slot.pending.push_back(std::move(waiter));
    slot.joined.clear();
    RefreshAccessTokenForTicket(slot);
  }
  Publish(slot);
  Log(level, message,
      {{"app_id", app_id},
       {"kind", std::string(TokenKindName(slot.kind))},
       {"errcode", absl::StrCat(result.errcode)},
       {"detail", result.detail},
       {"failures", absl::StrCat(slot.failures)},
       {"token_valid_until", TimeText(ValidUntil(slot))},
       {"next_attempt", TimeText(slot.next_attempt)}});

  // Waiters get the failure; GetToken keeps serving a still-valid value.
  absl::Status status;
  const std::string label = AppLabel(app_id, slot.kind);
  switch (result.failure) {
    case FailureClass::kPermanent:
    case FailureClass::kQuota:
      status = UnavailableStatus(slot, now);
      break;
    default:
      status = absl::UnavailableError(
          absl::StrCat(label, ": refresh failed: ", result.detail));
  }
  ReplyToWaiters(slot.app->app_id, std::move(slot.joined), status);
  slot.joined.clear();
}

void RefreshEngine::Answer(const std::string& app_id,
                           ForceRefreshCallback& done,
                           const absl::StatusOr<Token>& token,
                           ForceOutcome outcome) {
  observer_->OnForceRefreshAnswered(app_id, token.status(), outcome);
  if (!token.ok()) {
    done(token.status());
  } else {
    done(ForceRefreshReply{*token, outcome});
  }
}

void RefreshEngine::ReplyToWaiters(const std::string& app_id,
                                   std::vector<Waiter> waiters,
                                   const absl::StatusOr<Token>& token) {
  for (Waiter& waiter : waiters) {
    Answer(app_id, waiter.done, token, waiter.outcome);
  }
}

void RefreshEngine::ForceRefresh(ForceRefreshCommand command) {
  RequestRefresh(std::move(command));
  RunDue();
}

void RefreshEngine::RequestRefresh(ForceRefreshCommand command) {
  Slot* slot = FindSlot(command.app_id, command.kind);
  if (slot == nullptr) {
    // The table words NOT_FOUND for an unknown app or kind.
    command.done(
        table_.Get(command.app_id, command.kind, clock_.Now()).status());
    return;
  }
  const absl::Time now = clock_.Now();
  if (slot->last_failure == FailureClass::kPermanent) {
    // Asking again cannot help until the config changes; the scheduled
    // retry will notice when it does.
    Answer(command.app_id, command.done, UnavailableStatus(*slot, now),
           ForceOutcome::kRefreshed);
    return;
  }
  if (!command.stale_value.empty() && slot->current &&
      command.stale_value != slot->current->value) {
    Answer(command.app_id, command.done, Serve(*slot, now),
           ForceOutcome::kAlreadyNewer);
    return;
  }
  Log(LogLevel::kInfo, "force refresh requested",
      {{"app_id", command.app_id},
       {"kind", std::string(TokenKindName(command.kind))},
       {"stale_token", command.stale_value.empty()
                           ? std::string("(any)")
                           : Fingerprint(command.stale_value)},
       {"wechat_errcode", absl::StrCat(command.wechat_errcode)}});
  if (slot->in_flight) {
    slot->joined.push_back({std::move(command.done), ForceOutcome::kCoalesced});
    return;
  }
  if (!slot->pending.empty()) {
    slot->pending.push_back(
        {std::move(command.done), ForceOutcome::kCoalesced});
    return;
  }
  if ((slot->last_failure == FailureClass::kQuota &&
       now < slot->next_attempt) ||
      BudgetLeft(command.app_id, now) <= 0) {
    if (slot->last_failure != FailureClass::kQuota) {
      slot->last_failure = FailureClass::kQuota;
      slot->last_detail = absl::StrCat(
          "daily budget of ", config_.refresh.daily_budget, " fetches spent");
      slot->next_attempt = StartOfNextBeijingDay(now);
    }
    Answer(command.app_id, command.done, UnavailableStatus(*slot, now),
           ForceOutcome::kRefreshed);
    return;
  }
  slot->pending.push_back({std::move(command.done), ForceOutcome::kRefreshed});
  const absl::Time earliest =
      slot->last_sent
          ? std::max(now, *slot->last_sent + config_.refresh.force_min_interval)
          : now;
  slot->next_attempt = std::min(slot->next_attempt, earliest);
}

void RefreshEngine::FailAllWaiters(const absl::Status& status) {
  for (auto& slot : slots_) {
    ReplyToWaiters(slot->app->app_id, std::move(slot->joined), status);
    slot->joined.clear();
    ReplyToWaiters(slot->app->app_id, std::move(slot->pending), status);
    slot->pending.clear();
  }
}

void RefreshEngine::UpdateHealth(absl::Time now) {
  bool all = true;
  for (const auto& slot : slots_) {
    if (slot->kind != TokenKind::kAccessToken) continue;
    const bool serving = slot->current && now < ValidUntil(*slot) &&
                         slot->last_failure != FailureClass::kPermanent;
    all = all && serving;
    auto [it, inserted] = app_serving_.try_emplace(slot->app->app_id, serving);
    if (inserted || it->second != serving) {
      it->second = serving;
      health_.SetAppServing(slot->app->app_id, serving);
    }
  }
  if (!all_serving_ || *all_serving_ != all) {
    all_serving_ = all;
    health_.SetAllAppsServing(all);
  }
  // Tickets do not count: they wait for the access token, whose first
  // attempt is what startup means.
  if (!startup_reported_ &&
      std::all_of(slots_.begin(), slots_.end(), [](const auto& slot) {
        return slot->settled || slot->kind != TokenKind::kAccessToken;
      })) {
    startup_reported_ = true;
    health_.SetStartupDone();
  }
}

}  // namespace wxtoken::server
