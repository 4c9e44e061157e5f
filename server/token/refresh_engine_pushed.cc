// Credentials WeChat pushes rather than answers (DESIGN.md "Third-party
// platforms", "WeCom"): a platform's component_verify_ticket, a suite's
// suite_ticket. Its slot holds the newest push; a verify ticket's only
// request is api_start_push_ticket, which asks WeChat to push again when
// pushes seem to have stopped (a suite_ticket has none). The component or
// suite token is a recipe with the ticket as its input, so it waits for
// and wakes on it as a ticket does on its access token.
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_engine_internal.h"

namespace wxtoken::server {

using refresh_engine_internal::AnswerWhenStored;
using refresh_engine_internal::Label;
using refresh_engine_internal::NotTheLeader;
using refresh_engine_internal::ShuttingDown;
using refresh_engine_internal::TimeText;

namespace {

// How far ahead of our clock a ticket's CreateTime may be when
// max_timestamp_skew is off.
constexpr absl::Duration kDefaultTicketSkew = absl::Minutes(5);

// How long a pushed ticket is valid after it was created.
absl::Duration PushedLifetime(TokenKind kind) {
  return kind == TokenKind::kSuiteTicket ? kSuiteTicketLifetime
                                         : kVerifyTicketLifetime;
}

}  // namespace

void RefreshEngine::SubmitVerifyTicket(const std::string& component_app_id,
                                       std::string ticket, absl::Time created,
                                       std::function<void(absl::Status)> done) {
  Slot* slot = PushedTicket(component_app_id);
  if (slot == nullptr) {
    done(absl::NotFoundError(
        absl::StrCat("component_app_id: no platform or suite \"",
                     component_app_id, "\" is configured")));
    return;
  }
  if (shutting_down_) return done(ShuttingDown());
  if (!leader_) return done(NotTheLeader());
  const Instant now = clock_.InstantNow();
  const absl::Duration skew = config_.max_timestamp_skew > absl::ZeroDuration()
                                  ? config_.max_timestamp_skew
                                  : kDefaultTicketSkew;
  if (created > now.wall + skew) {
    done(absl::InvalidArgumentError(absl::StrCat(
        "CreateTime: ", TimeText(created), " is more than ",
        absl::FormatDuration(skew), " ahead of this server's clock")));
    return;
  }
  App& app = *slot->app;
  TokenState& state = slot->state;
  // Anything ever pushed: an older or repeated push changes nothing, even
  // after the ticket it would replace was dropped as refused.
  if (state.generation > 0 && created <= state.fetched.wall) {
    if (slot->durable_value == state.value) return done(absl::OkStatus());
    // The newer one in hand is not stored yet (its write failed): this
    // push is answered by storing it.
    WriteApp(app, AnswerWhenStored(std::move(done), "verify ticket"));
    return;
  }
  if (!state.value.empty()) {
    slot->previous_pushed = std::move(state.value);
    slot->previous_expires = state.expires;
  }
  state.value = std::move(ticket);
  ++state.generation;
  state.epoch = lease_epoch_;
  state.fetched = Instant{created, now.steady + (created - now.wall)};
  state.expires = state.fetched + PushedLifetime(slot->kind);
  Log(LogLevel::kInfo, "a pushed ticket arrived",
      {{"app_id", component_app_id},
       {"kind", std::string(TokenKindName(slot->kind))},
       {"ticket", Fingerprint(state.value)},
       {"generation", absl::StrCat(state.generation)},
       {"created", TimeText(created)},
       {"valid_until", TimeText(state.expires.wall)}});
  WriteApp(app, AnswerWhenStored(std::move(done), "verify ticket"));
  // It issues nothing and revokes nothing, so it is used before it is
  // durable: the component token's request is recorded after this write.
  if (Servable(*slot, now)) WakeDependents(*slot, now);
  ReportPlatform(component_app_id);
  ScheduleRequest(*slot,
                  std::max(now, RefreshTime(state, slot->api, refresh_)));
  PublishApp(app);
}

RefreshEngine::Slot* RefreshEngine::PushedTicket(
    const std::string& platform_id) const {
  auto it = apps_.find(platform_id);
  if (it == apps_.end() || !platforms_.contains(platform_id)) return nullptr;
  const std::vector<Slot*>& inputs = AccessSlot(*it->second).inputs;
  return inputs.empty() || !IsPushed(inputs[0]->kind) ? nullptr : inputs[0];
}

void RefreshEngine::OnPushRequested(Slot& slot, Instant now) {
  slot.failure = FetchResult{};
  slot.failures = 0;
  slot.next_base = 0;
  const Instant next = std::max(RefreshTime(slot.state, slot.api, refresh_),
                                now + kVerifyTicketProbeAge);
  Log(LogLevel::kInfo,
      "no recent verify ticket; asked WeChat to push one "
      "(api_start_push_ticket)",
      {{"app_id", slot.app->config.app_id},
       {"newest_ticket_created",
        slot.state.generation > 0 ? TimeText(slot.state.fetched.wall) : ""},
       {"next_ask", TimeText(next.wall)}});
  ScheduleRequest(slot, next);
}

void RefreshEngine::DropPushedInput(Slot& slot, Slot& input,
                                    const std::string& refused, Instant now) {
  if (input.state.value == refused) {
    // Its generation and CreateTime stay: a replay of it is not newer.
    input.state.value.clear();
    if (!input.previous_pushed.empty() && input.previous_pushed != refused &&
        now < input.previous_expires) {
      // DESIGN.md: the one it replaced, while it lasts, is tried once.
      input.state.value = std::move(input.previous_pushed);
      input.state.expires = input.previous_expires;
      WriteApp(*input.app);
    }
    input.previous_pushed.clear();
    Log(LogLevel::kWarning,
        input.state.value.empty()
            ? "the pushed ticket was refused; waiting for the next push"
            : "the pushed ticket was refused; using the one it replaced",
        {{"app_id", input.app->config.app_id},
         {"kind", std::string(TokenKindName(input.kind))},
         {"ticket", Fingerprint(refused)}});
  }
  if (Servable(input, now)) {
    // A newer push came while the request was out.
    ScheduleRequest(slot, now, slot.next_spend);
    return;
  }
  slot.awaited = &input;
  due_.Clear(&slot);
  AnswerWaiters(slot, UnavailableStatus(slot), false);
  // Asked for at once, but no more often than a probe's spacing.
  const Instant ask =
      input.last_sent ? std::max(now, *input.last_sent + kVerifyTicketProbeAge)
                      : now;
  ScheduleRequest(input, ask);
}

void RefreshEngine::NoteDurable(App& app, const AppRecord& stored) {
  for (const TokenRecord& token : stored.tokens) {
    if (!IsPushed(token.kind)) continue;
    if (Slot* slot = app.slots[static_cast<int>(token.kind)]) {
      slot->durable_value = token.value;
    }
  }
}

absl::Status RefreshEngine::PushedUnavailable(const Slot& slot) const {
  const std::string label = Label(slot.app->config.app_id, slot.kind);
  const TokenState& state = slot.state;
  if (state.generation == 0) {
    return absl::UnavailableError(absl::StrCat(
        label,
        slot.kind == TokenKind::kSuiteTicket
            ? ": none pushed yet; WeCom pushes one every 10 minutes to "
              "push_listen (/wecom/suite/"
            : ": none pushed yet; WeChat pushes one every 10 minutes to "
              "push_listen (/wechat/platform/",
        slot.app->config.app_id, ")"));
  }
  const absl::Duration age = clock_.Now() - state.fetched.wall;
  if (!state.has_value()) {
    return absl::UnavailableError(
        absl::StrCat(label, ": WeChat refused the newest (created ",
                     absl::FormatDuration(absl::Trunc(age, absl::Seconds(1))),
                     " ago); waiting for the next push"));
  }
  return absl::UnavailableError(
      absl::StrCat(label, ": the newest was created ",
                   absl::FormatDuration(absl::Trunc(age, absl::Seconds(1))),
                   " ago; a ticket is valid ",
                   absl::FormatDuration(PushedLifetime(slot.kind))));
}

}  // namespace wxtoken::server
