#include "server/token/token_table.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace wxtoken::server {

TokenTable::TokenTable(const std::vector<Entry>& entries, CacheLimits limits)
    : limits_(limits) {
  absl::MutexLock lock(&mu_);
  for (const Entry& entry : entries) {
    auto& slot = apps_[entry.app_id].slots[static_cast<int>(entry.kind)];
    slot = std::make_unique<Slot>();
    slot->published = std::make_shared<const PublishedToken>();
  }
}

TokenTable::Slot* TokenTable::Find(absl::string_view app_id,
                                   TokenKind kind) const {
  auto it = apps_.find(app_id);
  if (it == apps_.end()) return nullptr;
  return it->second.slots[static_cast<int>(kind)].get();
}

std::vector<TokenTable::Entry> TokenTable::Entries() const {
  std::vector<Entry> entries;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [app_id, app] : apps_) {
    for (TokenKind kind : kAllTokenKinds) {
      if (app.slots[static_cast<int>(kind)] != nullptr) {
        entries.push_back({app_id, kind, app.discovered});
      }
    }
  }
  return entries;
}

bool TokenTable::HasApp(absl::string_view app_id) const {
  absl::ReaderMutexLock lock(&mu_);
  return apps_.contains(app_id);
}

bool TokenTable::Has(absl::string_view app_id, TokenKind kind) const {
  absl::ReaderMutexLock lock(&mu_);
  return Find(app_id, kind) != nullptr;
}

absl::Status TokenTable::UnknownStatus(absl::string_view app_id,
                                       TokenKind kind) const {
  if (!apps_.contains(app_id)) {
    const size_t slash = app_id.find('/');
    if (slash != absl::string_view::npos &&
        takeovers_.contains(app_id.substr(0, slash))) {
      return absl::UnavailableError(absl::StrCat(
          "app_id: \"", app_id,
          "\" is not known yet: the platform's takeover (its first "
          "authorizer list pass) is in progress"));
    }
    return absl::NotFoundError(
        absl::StrCat("app_id: unknown app \"", app_id, "\""));
  }
  return absl::NotFoundError(absl::StrCat("kind: app \"", app_id, "\" has no ",
                                          TokenKindName(kind), " configured"));
}

absl::Status TokenTable::CheckKnown(absl::string_view app_id,
                                    TokenKind kind) const {
  absl::ReaderMutexLock lock(&mu_);
  if (Find(app_id, kind) != nullptr) return absl::OkStatus();
  return UnknownStatus(app_id, kind);
}

absl::StatusOr<Token> TokenTable::Get(absl::string_view app_id, TokenKind kind,
                                      SteadyTime now) const {
  std::shared_ptr<const PublishedToken> published;
  {
    absl::ReaderMutexLock lock(&mu_);
    const Slot* slot = Find(app_id, kind);
    if (slot == nullptr) return UnknownStatus(app_id, kind);
    published = slot->published;
    const int64_t second = absl::ToInt64Seconds(now - SteadyTime());
    if (slot->used_second.load(std::memory_order_relaxed) != second) {
      slot->used_second.store(second, std::memory_order_relaxed);
    }
  }
  return ServeToken(app_id, kind, *published, now, limits_);
}

namespace {

// Whether watchers must hear of `after` replacing `before`: another value
// or generation, another answer while none is servable, or a validity that
// ends sooner. One that ends later (a follower's read confirming its copy
// again, every poll) is not: watchers renew on their own schedule, and
// waking every one of them at every poll is all it would do.
bool IsNews(const PublishedToken* before, const PublishedToken& after) {
  return before == nullptr || before->value != after.value ||
         before->generation != after.generation ||
         before->unavailable != after.unavailable ||
         after.valid_until.steady < before->valid_until.steady;
}

}  // namespace

void TokenTable::Publish(absl::string_view app_id, TokenKind kind,
                         PublishedToken published) {
  auto shared = std::make_shared<const PublishedToken>(std::move(published));
  bool news = false;
  {
    absl::MutexLock lock(&mu_);
    Slot* slot = Find(app_id, kind);
    if (slot == nullptr) return;
    news = IsNews(slot->published.get(), *shared);
    // The old value is released after the lock, not under it.
    std::swap(slot->published, shared);
  }
  if (news && listener_) listener_(app_id, kind);
}

void TokenTable::AddApp(const std::string& app_id,
                        const std::vector<TokenKind>& kinds, bool discovered) {
  {
    absl::MutexLock lock(&mu_);
    if (apps_.contains(app_id)) return;
    App& app = apps_[app_id];
    app.discovered = discovered;
    for (TokenKind kind : kinds) {
      auto& slot = app.slots[static_cast<int>(kind)];
      slot = std::make_unique<Slot>();
      slot->published = std::make_shared<const PublishedToken>();
    }
  }
  if (listener_) {
    for (TokenKind kind : kinds) listener_(app_id, kind);
  }
}

bool TokenTable::IsDiscovered(absl::string_view app_id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = apps_.find(app_id);
  return it != apps_.end() && it->second.discovered;
}

SteadyTime TokenTable::LastUsed(absl::string_view app_id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = apps_.find(app_id);
  if (it == apps_.end()) return SteadyTime::InfinitePast();
  int64_t latest = kNeverUsed;
  for (const auto& slot : it->second.slots) {
    if (slot != nullptr) {
      latest =
          std::max(latest, slot->used_second.load(std::memory_order_relaxed));
    }
  }
  if (latest == kNeverUsed) return SteadyTime::InfinitePast();
  return SteadyTime() + absl::Seconds(latest);
}

void TokenTable::SetTakeoverPending(const std::string& platform, bool pending) {
  absl::MutexLock lock(&mu_);
  if (pending) {
    takeovers_.insert(platform);
  } else {
    takeovers_.erase(platform);
  }
}

void TokenTable::RemoveApp(absl::string_view app_id) {
  App removed;
  {
    absl::MutexLock lock(&mu_);
    auto it = apps_.find(app_id);
    if (it == apps_.end()) return;
    removed = std::move(it->second);
    apps_.erase(it);
  }
  // Watchers of its entries learn of the removal (their next read is
  // NOT_FOUND).
  if (!listener_) return;
  for (TokenKind kind : kAllTokenKinds) {
    if (removed.slots[static_cast<int>(kind)] != nullptr) {
      listener_(app_id, kind);
    }
  }
}

}  // namespace wxtoken::server
