// Tickets depend on the access token: fetched with it, woken when it is
// servable again.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_engine.h"

namespace wxtoken::server {

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

}  // namespace wxtoken::server
