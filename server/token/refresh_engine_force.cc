// ForceRefresh: callers coalesced on one request, and their answers.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_engine_internal.h"

namespace wxtoken::server {

using refresh_engine_internal::Label;
using refresh_engine_internal::NotTheLeader;
using refresh_engine_internal::ShuttingDown;
using refresh_engine_internal::TimeText;

absl::Status RefreshEngine::ForceRefusal(Slot& slot, Instant now) {
  if (slot.failure.failure == FailureClass::kPermanent) {
    // Asking again cannot help until the config changes; the scheduled
    // retry notices when it does.
    return UnavailableStatus(slot);
  }
  if (absl::Status missing = MissingInput(slot, now); !missing.ok()) {
    return missing;
  }
  if (absl::Status spend = SpendRefusal(*slot.app, Spend::kForce, false, now);
      !spend.ok()) {
    return absl::Status(spend.code(),
                        absl::StrCat(Label(slot.app->config.app_id, slot.kind),
                                     ": ", spend.message()));
  }
  return HourRefusal(slot, Spend::kForce, now);
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
  if (absl::Status errcode = ValidateForceErrcode(
          command.wechat_errcode, IsWeComOwner(slot->app->config));
      !errcode.ok()) {
    command.done(errcode);
    return;
  }
  const Instant now = clock_.InstantNow();
  if (shutting_down_) {
    Answer(command, ShuttingDown(), ForceOutcome::kRefreshed);
    return;
  }
  if (!leader_) {
    Answer(command, NotTheLeader(), ForceOutcome::kRefreshed);
    return;
  }
  std::erase_if(slot->waiters, [](const Waiter& waiter) {
    return waiter.command.IsCancelled();
  });
  if (command.wants_any && Servable(*slot, now)) {
    Answer(command, Serve(*slot, now), ForceOutcome::kAlreadyNewer);
    return;
  }

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
      Answer(command, Serve(*slot, now), ForceOutcome::kAlreadyNewer);
      return;
    case ForceStep::kRefuse:
      Answer(command, view.refusal, ForceOutcome::kRefreshed);
      return;
    case ForceStep::kJoin:
    case ForceStep::kFetch:
      break;
  }
  if (slot->waiters.size() >= kMaxWaitersPerToken) {
    Answer(command,
           absl::ResourceExhaustedError(absl::StrCat(
               Label(command.app_id, command.kind), ": ", kMaxWaitersPerToken,
               " ForceRefresh calls are waiting already")),
           ForceOutcome::kRefreshed);
    return;
  }
  Waiter waiter;
  waiter.bad_value = command.wants_any             ? std::string()
                     : command.stale_value.empty() ? slot->state.value
                                                   : command.stale_value;
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

void RefreshEngine::Answer(ForceRefreshCommand& command,
                           const absl::StatusOr<Token>& answer,
                           ForceOutcome outcome) {
  if (command.IsCancelled()) return;
  observer_->OnForceRefreshAnswered(MetricOwner(command.app_id),
                                    answer.status(), outcome);
  if (!answer.ok()) {
    command.done(answer.status());
    return;
  }
  ForceRefreshReply reply{*answer, outcome};
  // The key asked about: a WeCom corp's ticket is served under each app.
  reply.token.app_id = command.app_id;
  command.done(std::move(reply));
}

void RefreshEngine::AnswerWaiters(Slot& slot,
                                  const absl::StatusOr<Token>& answer,
                                  bool only_satisfied) {
  std::vector<Waiter> waiters;
  waiters.swap(slot.waiters);
  // A caller answered with a value may call GetToken at once: it must find
  // that value published, not the one it reported.
  if (answer.ok() && !waiters.empty() && !slot.app->removed) {
    PublishSlot(slot, MakePublished(slot, clock_.InstantNow()));
  }
  for (Waiter& waiter : waiters) {
    if (only_satisfied && answer.ok() && answer->value == waiter.bad_value) {
      slot.waiters.push_back(std::move(waiter));
      continue;
    }
    Answer(waiter.command, answer, waiter.outcome);
  }
}

}  // namespace wxtoken::server
