// Credentials made from other credentials (a slot's recipe, Slot::inputs): a
// ticket is fetched with its app's access token. A slot is sent only while
// each input is servable, waits for one that is not, and has an input WeChat
// rejected refreshed before it goes again.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_engine_internal.h"

namespace wxtoken::server {

using refresh_engine_internal::InputName;
using refresh_engine_internal::Label;

absl::Status RefreshEngine::MissingInput(const Slot& slot, Instant now,
                                         Slot** awaited) const {
  for (Slot* input : slot.inputs) {
    if (Servable(*input, now)) continue;
    if (awaited != nullptr) *awaited = input;
    const absl::Status why = UnavailableStatus(*input);
    return absl::Status(why.code(),
                        absl::StrCat(Label(slot.app->config.app_id, slot.kind),
                                     ": needs a valid ", InputName(input->kind),
                                     ": ", why.message()));
  }
  return absl::OkStatus();
}

void RefreshEngine::RefreshInput(Slot& slot, size_t index) {
  Slot& input = *slot.inputs.at(index);
  // As a caller's ForceRefresh would: coalesced, rate-limited, budgeted.
  slot.awaited = &input;
  due_.Clear(&slot);
  ForceRefreshCommand command;
  command.app_id = input.app->config.app_id;
  command.kind = input.kind;
  command.stale_value = slot.request.inputs.at(index);
  command.done = [this, target = &slot,
                  input = &input](absl::StatusOr<ForceRefreshReply> reply) {
    if (target->awaited != input) return;  // woken by the new value
    target->awaited = nullptr;
    const Instant now = clock_.InstantNow();
    if (reply.ok()) {
      // A newer value already existed: use it now.
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

void RefreshEngine::WakeDependents(Slot& input, Instant now) {
  for (Slot* slot : input.dependents) {
    if (slot->awaited != &input) continue;
    slot->awaited = nullptr;
    ScheduleRequest(*slot, now, slot->next_spend);
  }
}

}  // namespace wxtoken::server
