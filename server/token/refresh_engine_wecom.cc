// WeCom (DESIGN.md "WeCom"): the corp's one jsapi ticket, served under
// every app of the corp, and the hourly ticket budgets.
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_engine_internal.h"

namespace wxtoken::server {
namespace {

using refresh_engine_internal::Label;
using refresh_engine_internal::TimeText;

// AppRecord::owner fields: the windows as HourWindow::Encode() writes them.
constexpr char kCorpTicketHour[] = "corp_ticket_hour";
constexpr char kTicketHour[] = "ticket_hour";

// ForceRefresh may spend all but a tenth (at least one) of an hourly
// budget, so that a caller asking again and again cannot leave the
// schedule nothing to renew an expiring ticket with.
int ForceShare(int budget) { return budget - std::max(1, budget / 10); }

}  // namespace

bool RefreshEngine::IsCorpTicket(const Slot& slot) {
  return slot.api == FetchApi::kWeComTicket &&
         slot.kind == TokenKind::kJsapiTicket;
}

void RefreshEngine::PublishSlot(Slot& slot, const PublishedToken& published) {
  slot.published_generation = published.generation;
  const std::string& app_id = slot.app->config.app_id;
  table_.Publish(app_id, slot.kind, published);
  if (!IsCorpTicket(slot)) return;
  if (auto it = corp_ticket_readers_.find(app_id);
      it != corp_ticket_readers_.end()) {
    for (const std::string& reader : it->second) {
      table_.Publish(reader, slot.kind, published);
    }
  }
}

absl::Status RefreshEngine::HourRefusal(const Slot& slot, Spend spend,
                                        Instant now, Instant* resume) const {
  if (slot.api != FetchApi::kWeComTicket) return absl::OkStatus();
  const App& app = *slot.app;
  absl::Status refusal;
  auto check = [&](const HourWindow& window, int budget, const char* key) {
    const int allowed = spend == Spend::kForce ? ForceShare(budget) : budget;
    if (!refusal.ok() || window.Count(now.wall) < allowed) return;
    const std::string limit =
        absl::StrCat(Label(app.config.app_id, slot.kind), ": ", key, " of ",
                     budget, " ticket requests an hour");
    if (allowed <= 0) {
      // A budget of 1 is the schedule's alone.
      refusal = absl::ResourceExhaustedError(
          absl::StrCat(limit, " leaves ForceRefresh none"));
      return;
    }
    const absl::Time free_at = window.FreeAt(allowed, now.wall);
    if (resume != nullptr) *resume = now + (free_at - now.wall);
    refusal = absl::ResourceExhaustedError(absl::StrCat(
        limit, " is spent",
        spend == Spend::kForce
            ? absl::StrCat(" (ForceRefresh may use ", allowed, " of them)")
            : "",
        "; the next may go at ", TimeText(free_at)));
  };
  // WeCom counts the corp's ticket against the app that fetches it, too.
  check(app.ticket_hour, config_.wecom.app_ticket_hourly_budget,
        "wecom.app_ticket_hourly_budget");
  if (IsCorpTicket(slot)) {
    check(app.corp_ticket_hour, config_.wecom.corp_ticket_hourly_budget,
          "wecom.corp_ticket_hourly_budget");
  }
  return refusal;
}

void RefreshEngine::ChargeHour(Slot& slot, Instant now) {
  if (slot.api != FetchApi::kWeComTicket) return;
  App& app = *slot.app;
  app.ticket_hour.Add(now.wall);
  if (IsCorpTicket(slot)) app.corp_ticket_hour.Add(now.wall);
  slot.request.hour_charged = true;
}

void RefreshEngine::UndoHour(Slot& slot) {
  if (!slot.request.hour_charged) return;
  App& app = *slot.app;
  const absl::Time at = slot.request.recorded.wall;
  app.ticket_hour.Remove(at);
  if (IsCorpTicket(slot)) app.corp_ticket_hour.Remove(at);
  slot.request.hour_charged = false;
}

void RefreshEngine::PutTicketHours(const App& app, AppRecord& record) const {
  for (auto [name, window] :
       {std::pair{kTicketHour, &app.ticket_hour},
        std::pair{kCorpTicketHour, &app.corp_ticket_hour}}) {
    std::string text = window->Encode();
    if (!text.empty()) record.owner[name] = std::move(text);
  }
}

bool RefreshEngine::TakeTicketHours(App& app, const AppRecord& record,
                                    bool mirror) {
  bool store_lacks = false;
  for (auto [name, window] :
       {std::pair{kTicketHour, &app.ticket_hour},
        std::pair{kCorpTicketHour, &app.corp_ticket_hour}}) {
    auto it = record.owner.find(name);
    std::optional<HourWindow> stored = it == record.owner.end()
                                           ? HourWindow()
                                           : HourWindow::Decode(it->second);
    if (!stored) {
      // A damaged record: what is held here stays. The leader writes it
      // back; a follower's heal could not replace the field anyway.
      store_lacks = store_lacks || !mirror;
      continue;
    }
    if (mirror) {
      // The leader's: it already holds everything it read.
      *window = *std::move(stored);
      continue;
    }
    HourWindow merged = *stored;
    merged.Merge(*window);
    store_lacks = store_lacks || !(merged == *stored);
    *window = std::move(merged);
  }
  return store_lacks;
}

}  // namespace wxtoken::server
