// Operations (DESIGN.md "Operations"): every owner's state as an operator
// reads it, for ListOwners, DescribeOwner and `wxtoken status`.

#include <algorithm>
#include <queue>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "server/token/refresh_engine.h"

namespace wxtoken::server {

namespace {

constexpr absl::string_view kStateNames[kOwnerStateCount] = {
    "serving",         "no_token", "credential_error", "whitelist_blocked",
    "quota_exhausted", "revoked",  "needs_reauth",     "idle"};

struct KeyOrder {
  bool operator()(const std::string* a, const std::string* b) const {
    return *a < *b;
  }
};

}  // namespace

absl::string_view OwnerStateName(OwnerState state) {
  return kStateNames[static_cast<int>(state)];
}

std::optional<OwnerState> OwnerStateFromName(absl::string_view name) {
  for (int i = 0; i < kOwnerStateCount; ++i) {
    if (kStateNames[i] == name) return static_cast<OwnerState>(i);
  }
  return std::nullopt;
}

OwnerState RefreshEngine::StateOf(const Slot& slot, Instant now) const {
  const App& app = *slot.app;
  if (app.authorizer) {
    if (app.authorizer->revoked) return OwnerState::kRevoked;
    if (AuthorizerRefusal(app).code() ==
        absl::StatusCode::kFailedPrecondition) {
      return OwnerState::kNeedsReauth;
    }
  }
  // What must be fixed comes first, even while a value still serves: the
  // owner's health says NOT_SERVING then too.
  switch (slot.failure.failure) {
    case FailureClass::kPermanent:
      return slot.failure.egress_ip.empty() ? OwnerState::kCredentialError
                                            : OwnerState::kWhitelistBlocked;
    case FailureClass::kQuota:
      return OwnerState::kQuotaExhausted;
    default:
      break;
  }
  if (Servable(slot, now)) return OwnerState::kServing;
  if (app.authorizer && !UsedRecently(app, now)) return OwnerState::kIdle;
  return OwnerState::kNoToken;
}

OwnerView RefreshEngine::ViewOf(const App& app, Instant now) const {
  OwnerView view;
  view.app_id = app.config.app_id;
  for (const Slot* slot : app.slots) {
    // The verify ticket shows as the platform's ticket age.
    if (slot == nullptr || IsPushed(slot->kind)) continue;
    KindView kind;
    kind.kind = slot->kind;
    kind.state = StateOf(*slot, now);
    const TokenState& state = slot->state;
    kind.generation = state.generation;
    if (state.has_value()) {
      kind.fingerprint = Fingerprint(state.value);
      kind.fetched_at = state.fetched.wall;
      kind.expires_at = state.expires.wall;
      if (Servable(*slot, now)) {
        kind.servable_until = ServableUntil(*slot, now).wall;
      }
    }
    if (const SteadyTime next = due_.When(slot);
        next != SteadyTime::InfiniteFuture()) {
      kind.next_request = now.wall + (next - now.steady);
    }
    if (kind.state != OwnerState::kServing) {
      absl::Status why = AuthorizerRefusal(app);
      if (why.ok()) why = UnavailableStatus(*slot);
      kind.why = std::string(why.message());
    }
    if (slot->failure.failure != FailureClass::kNone) {
      WeChatErrorView& error = kind.last_error.emplace();
      error.errcode = slot->failure.errcode;
      error.errmsg = slot->failure.errcode != 0 ? slot->failure.errmsg
                                                : slot->failure.detail;
      error.rid = slot->failure.rid;
      error.egress_ip = slot->failure.egress_ip;
      error.at = slot->failed_at;
    }
    view.kinds.push_back(std::move(kind));
  }
  view.state = view.kinds.empty() ? OwnerState::kNoToken : view.kinds[0].state;
  const AppCounters today = CountersToday(app.counters, now);
  const DailyBudget budget = BudgetOf(app);
  view.fetches_today = today.fetches;
  view.force_fetches_today = today.force_fetches;
  view.daily_budget = budget.fetches;
  view.force_budget = budget.force_fetches;
  if (platforms_.contains(app.config.app_id)) {
    view.platform = ViewOfPlatform(app.config.app_id);
  }
  return view;
}

OwnerPage RefreshEngine::ListOwners(const OwnerQuery& query) const {
  const Instant now = clock_.InstantNow();
  // The `limit` + 1 first keys past `after`, kept in a max-heap: a page
  // costs one pass over the owners and no sorted index of them all.
  std::priority_queue<const std::string*, std::vector<const std::string*>,
                      KeyOrder>
      first;
  const size_t wanted = static_cast<size_t>(std::max(query.limit, 0)) + 1;
  for (const auto& [app_id, app] : apps_) {
    if (app->removed || app_id <= query.after ||
        !absl::StartsWith(app_id, query.prefix)) {
      continue;
    }
    if (first.size() == wanted && app_id >= *first.top()) continue;
    if (query.visible && !query.visible(app_id)) continue;
    if (query.state && StateOf(*app->slots[0], now) != *query.state) continue;
    first.push(&app_id);
    if (first.size() > wanted) first.pop();
  }
  OwnerPage page;
  page.more = first.size() == wanted;
  if (page.more) first.pop();
  std::vector<const std::string*> keys;
  for (; !first.empty(); first.pop()) keys.push_back(first.top());
  std::reverse(keys.begin(), keys.end());
  for (const std::string* key : keys) {
    page.owners.push_back(ViewOf(*apps_.at(*key), now));
  }
  return page;
}

std::optional<OwnerView> RefreshEngine::DescribeOwner(
    const std::string& app_id) const {
  auto it = apps_.find(app_id);
  if (it == apps_.end() || it->second->removed) return std::nullopt;
  return ViewOf(*it->second, clock_.InstantNow());
}

}  // namespace wxtoken::server
