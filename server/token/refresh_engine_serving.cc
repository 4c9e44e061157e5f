// What GetToken serves from each slot, and health.
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
using refresh_engine_internal::Label;

absl::Status RefreshEngine::UnavailableStatus(const Slot& slot) const {
  const std::string label = Label(slot.app->config.app_id, slot.kind);
  if (absl::Status refusal = AuthorizerRefusal(*slot.app); !refusal.ok()) {
    return refusal;
  }
  if (slot.awaited != nullptr) {
    const absl::Status input = UnavailableStatus(*slot.awaited);
    return absl::Status(
        input.code(),
        absl::StrCat(label, ": waiting for the ", InputName(slot.awaited->kind),
                     ": ", input.message()));
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
      if (!failure.egress_ip.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            label, ": WeChat saw this server as ", failure.egress_ip,
            ": add it to the IP whitelist (errcode ", failure.errcode, ")"));
      }
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
  if (IsPushed(slot.kind)) return PushedUnavailable(slot);
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
  published.unavailable = UnavailableStatus(slot);
  if (slot.app->authorizer && slot.app->authorizer->revoked) {
    return published;  // WeChat revoked it at once: nothing is servable
  }
  published.value = slot.state.value;
  published.generation = slot.state.generation;
  published.fetched_at = slot.state.fetched.wall;
  published.valid_until = ServableUntil(slot, now);
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
  if (app.authorizer && !app.authorizer->revoked &&
      app.authorizer->refresh_token != app.authorizer->durable_refresh_token) {
    // A rotated refresh token (or a new permanent code) is not stored yet:
    // nothing newer than what callers hold is published until it is
    // (WriteApp publishes then), so no token is served whose credential a
    // crash could lose. What they hold is published again: its validity
    // may have been cut meanwhile (its installation replaced).
    for (Slot* slot : app.slots) {
      if (slot != nullptr && !IsPushed(slot->kind) &&
          slot->state.generation == slot->published_generation) {
        PublishSlot(*slot, MakePublished(*slot, now));
      }
    }
    return;
  }
  SteadyTime end = SteadyTime::InfiniteFuture();
  for (Slot* slot : app.slots) {
    if (slot == nullptr) continue;
    if (IsPushed(slot->kind)) {
      // Never served; the platform's health needs it valid.
      end = std::min(end, ServableUntil(*slot, now).steady);
      continue;
    }
    PublishSlot(*slot, MakePublished(*slot, now));
  }
  // Health changes when the access token (or a pushed ticket) stops being
  // servable.
  end = std::min(end, ServableUntil(AccessSlot(app), now).steady);
  health_due_.Set(&app, end > now.steady ? end : SteadyTime::InfiniteFuture());
  UpdateHealth(app, now);
}

void RefreshEngine::UpdateHealth(App& app, Instant now) {
  // Health names exist per configured owner, never per authorizer.
  if (app.authorizer) return;
  const Slot& access = AccessSlot(app);
  // An app nothing refreshes is not serving even while its last value
  // lasts: health says so before callers find out.
  bool serving = Servable(access, now) && !app.unserved &&
                 access.failure.failure != FailureClass::kPermanent;
  // A platform serves while its verify ticket is valid, too: without one
  // its next component token cannot be fetched.
  for (const Slot* input : access.inputs) {
    serving = serving && Servable(*input, now);
  }
  // Every name starts NOT_SERVING in the sink; only changes are reported.
  if (serving != app.serving) {
    apps_serving_ += serving ? 1 : -1;
    app.serving = serving;
    health_.SetAppServing(app.config.app_id, serving);
  }
  UpdateAggregateHealth();
}

void RefreshEngine::UpdateAggregateHealth() {
  const bool all =
      apps_serving_ == static_cast<int>(apps_.size()) - authorizers_;
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
