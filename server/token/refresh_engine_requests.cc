// One request's path: recorded, sent, answered (DESIGN.md "The refresh
// worker").
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_engine_internal.h"

namespace wxtoken::server {

using refresh_engine_internal::InputName;
using refresh_engine_internal::kLeaseRecheck;
using refresh_engine_internal::Label;
using refresh_engine_internal::TimeText;

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
  if (absl::Status refusal = AuthorizerRefusal(app); !refusal.ok()) {
    // Revoked, or no credential left: nothing goes out for it.
    AnswerWaiters(slot, refusal, false);
    PublishApp(app);
    return;
  }
  if (slot.next_spend == Spend::kScheduled && !UsedRecently(app, now)) {
    // An idle authorizer: left to expire; its next use fetches it
    // (ForceRefresh, or GetToken waiting for one fetch).
    return;
  }
  if (Slot* awaited = nullptr; !MissingInput(slot, now, &awaited).ok()) {
    // Sent as soon as the input is servable (WakeDependents).
    slot.awaited = awaited;
    if (IsPushed(awaited->kind) && !slot.settled) {
      // Only WeChat's push can end this wait: the first attempt, as far as
      // startup goes, is made.
      slot.settled = true;
      if (slot.kind == TokenKind::kAccessToken) --access_unsettled_;
    }
    AnswerWaiters(slot, UnavailableStatus(slot), false);
    PublishApp(app);
    return;
  }
  const bool stable_force =
      slot.api == FetchApi::kStable && slot.next_stable_force;
  if (absl::Status refusal =
          SpendRefusal(app, slot.next_spend, stable_force, now);
      !refusal.ok()) {
    Refuse(slot, refusal, now);
    return;
  }
  if (absl::Status refusal = HourRefusal(slot, slot.next_spend, now);
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
  for (const Slot* input : slot.inputs) {
    request.inputs.push_back(input->state.value);
  }
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
  const AppCounters before = app.counters;
  Charge(app.counters, request.spend, stable_force, now);
  Recount(app, before);
  ChargeHour(slot, now);
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
      !SpendRefusal(app, Spend::kScheduled, false, now).ok();
  Instant hour_resume = now;
  const bool hour_blocked =
      !app_blocked &&
      !HourRefusal(slot, Spend::kScheduled, now, &hour_resume).ok();
  AnswerWaiters(slot, refusal, false);
  slot.next_stable_force = false;
  if (!app_blocked && !hour_blocked) {
    // Only ForceRefresh's share (or WeChat's stable force limit) is spent:
    // the value stays, the schedule goes on.
    ScheduleRequest(slot,
                    std::max(now, RefreshTime(slot.state, slot.api, refresh_)));
    return;
  }
  slot.failure = FetchResult{};
  slot.failure.failure = FailureClass::kQuota;
  slot.failed_at = now.wall;
  slot.failure.detail = std::string(refusal.message());
  if (!slot.settled) {
    slot.settled = true;
    if (slot.kind == TokenKind::kAccessToken) --access_unsettled_;
  }
  Instant resume = hour_resume;
  if (app_blocked) {
    resume = app.counters.quota_blocked_until &&
                     now < *app.counters.quota_blocked_until
                 ? *app.counters.quota_blocked_until
                 : BudgetResumeTime(now, random01_());
  }
  ScheduleRequest(slot, resume);
  Log(LogLevel::kError,
      app_blocked ? "not fetching: the day's quota is spent"
                  : "not fetching: the hour's ticket budget is spent",
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
  const AppCounters before = app.counters;
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
  Recount(app, before);
  UndoHour(slot);
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
  // Per configured owner only: an authorizer's day is its own.
  if (!app.authorizer) {
    observer_->OnRequestSent(app.config.app_id, slot.api, app.counters);
  }
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
  if (app.authorizer && slot.kind == TokenKind::kAccessToken) {
    request.access_token = slot.request.inputs.at(0);  // the component's
    FillAuthorizerRequest(app, request);
    slot.request.code = request.authorization_code;
    slot.request.refresh_token = request.refresh_token;
  }
  slot.request.api = request.api;
  if (request.api == FetchApi::kQueryAuth ||
      request.api == FetchApi::kAuthorizerToken ||
      request.api == FetchApi::kWeComCorpToken) {
    // Filled above; no secret of its own.
  } else if (IsTicketApi(slot.api)) {
    request.access_token = slot.request.inputs.at(0);
    request.ticket_type = std::string(TicketType(slot.kind));
  } else {
    request.secret = app.secret;
    slot.request.secret_version = app.secret_version;
    if (IsWeComApi(slot.api)) {  // gettoken, provider and suite tokens
      request.corp_id =
          app.config.app_id.substr(0, app.config.app_id.find('/'));
    }
    request.force_refresh = slot.request.stable_force;
    if (slot.api == FetchApi::kComponentToken ||
        slot.api == FetchApi::kWeComSuiteToken) {
      request.verify_ticket = slot.request.inputs.at(0);
    }
  }
  upstream_.Start(std::move(request),
                  [this, target = &slot](FetchResult result) {
                    OnAnswer(*target, std::move(result));
                  });
}

bool RefreshEngine::NothingSentSince(const Slot& slot) const {
  const Slot::Request& request = slot.request;
  const TokenState& state = slot.state;
  // A removed app's state no longer follows the store's reads.
  if (slot.app->removed) return false;
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
  observer_->OnRequestDone(MetricOwner(app.config.app_id), slot.request.api,
                           result);
  if (slot.request.api == FetchApi::kWeComCorpToken &&
      slot.request.refresh_token != app.authorizer->refresh_token) {
    // Sent with a permanent code since replaced (the corp installed the
    // suite again while it was out): WeCom may have ended whatever it
    // answered, so nothing of it is served. Nor does it count as a request
    // that may replace the new installation's tokens: its intent goes too.
    // The new code's token goes now.
    Log(LogLevel::kWarning,
        "an answer to a corp's permanent code since replaced; discarded",
        {{"app_id", app.config.app_id},
         {"permanent_code", Fingerprint(slot.request.refresh_token)}});
    if (slot.request.intent) ForgetIntent(slot.state, *slot.request.intent);
    slot.failure = FetchResult{};
    ScheduleRequest(slot, EarliestSend(now));
    return;
  }

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
  if (app.authorizer && slot.kind == TokenKind::kAccessToken) {
    OnAuthorizerAnswer(app, result, now);
  }
  if (app.authorizer && slot.kind == TokenKind::kAccessToken &&
      (!app.authorizer->code.empty() ||
       (slot.request.api == FetchApi::kQueryAuth &&
        result.failure == FailureClass::kPermanent &&
        !app.authorizer->refresh_token.empty()))) {
    // An authorized push came while this request was out: its code now.
    // Or its code was refused (61009: used, expired) while a refresh token
    // is held: that one now, not after permanent_retry.
    ScheduleRequest(slot, EarliestSend(now));
  }
  WriteApp(app);
  PublishApp(app);
}

void RefreshEngine::OnSuccess(Slot& slot, const FetchResult& result,
                              Instant now) {
  if (IsPushed(slot.kind)) {
    OnPushRequested(slot, now);
    return;
  }
  ApplySuccess(slot, result, now);
  if (slot.api == FetchApi::kComponentToken ||
      slot.api == FetchApi::kWeComSuiteToken) {
    OnComponentToken(slot.app->config.app_id, now);
  }
  // The access token may have become servable again (a new value, or an
  // intent resolved): tickets waiting for it go now.
  if (Servable(slot, now)) WakeDependents(slot, now);
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
  slot.failed_at = now.wall;
  const bool failover =
      slot.request.base + 1 < upstream_.BaseCount(slot.request.api);
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
  slot.failed_at = now.wall;
  slot.next_base = 0;
  slot.next_stable_force = false;
  ++slot.failures;
  const std::string app_id = app.config.app_id;
  switch (result.failure) {
    case FailureClass::kPermanent: {
      // Sent with a secret a reload has replaced since: the new one may be
      // good, so it is tried now rather than after permanent_retry.
      const bool stale_secret =
          !IsTicketApi(slot.api) &&
          slot.request.secret_version != app.secret_version;
      ScheduleRequest(slot,
                      stale_secret ? now : now + refresh_.permanent_retry);
      // Logged before the callers hear of it: what they are told to fix is
      // in the log by then.
      if (!result.egress_ip.empty()) {
        Log(LogLevel::kError,
            "WeChat does not accept calls from this server's IP; add it to "
            "the IP whitelist",
            {{"app_id", app_id},
             {"kind", std::string(TokenKindName(slot.kind))},
             {"errcode", absl::StrCat(result.errcode)},
             {"egress_ip", result.egress_ip},
             {"next_attempt",
              TimeText((now + refresh_.permanent_retry).wall)}});
      } else {
        Log(LogLevel::kError,
            "WeChat rejected the credentials; fix the AppSecret or the IP "
            "whitelist",
            {{"app_id", app_id},
             {"kind", std::string(TokenKindName(slot.kind))},
             {"errcode", absl::StrCat(result.errcode)},
             {"detail", result.detail},
             {"next_attempt",
              TimeText((now + refresh_.permanent_retry).wall)}});
      }
      AnswerWaiters(slot, UnavailableStatus(slot), false);
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
      // WeChat rejected the input. The waiters stay for the value fetched
      // with a new one.
      Slot& input = *slot.inputs.at(0);
      Log(LogLevel::kWarning,
          absl::StrCat("WeChat rejected the ", InputName(input.kind),
                       " the request was sent with; ",
                       IsPushed(input.kind) ? "waiting for the next push"
                                            : "refreshing it first"),
          {{"app_id", app_id},
           {"kind", std::string(TokenKindName(slot.kind))},
           {"errcode", absl::StrCat(result.errcode)}});
      if (IsPushed(input.kind)) {
        DropPushedInput(slot, input, slot.request.inputs.at(0), now);
      } else {
        RefreshInput(slot, 0);
      }
      return;
    }
    default:
      return;
  }
}

}  // namespace wxtoken::server
