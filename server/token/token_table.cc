#include "server/token/token_table.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace wxtoken::server {

TokenTable::TokenTable(const std::vector<Entry>& entries, CacheLimits limits)
    : limits_(limits) {
  for (const Entry& entry : entries) {
    auto& slot = apps_[entry.app_id].slots[static_cast<int>(entry.kind)];
    slot = std::make_unique<Slot>();
    absl::MutexLock lock(&slot->mu);
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
  for (const auto& [app_id, app] : apps_) {
    for (TokenKind kind : kAllTokenKinds) {
      if (app.slots[static_cast<int>(kind)] != nullptr) {
        entries.push_back({app_id, kind});
      }
    }
  }
  return entries;
}

bool TokenTable::HasApp(absl::string_view app_id) const {
  return apps_.contains(app_id);
}

bool TokenTable::Has(absl::string_view app_id, TokenKind kind) const {
  return Find(app_id, kind) != nullptr;
}

absl::Status TokenTable::CheckKnown(absl::string_view app_id,
                                    TokenKind kind) const {
  if (Has(app_id, kind)) return absl::OkStatus();
  if (!HasApp(app_id)) {
    return absl::NotFoundError(
        absl::StrCat("app_id: unknown app \"", app_id, "\""));
  }
  return absl::NotFoundError(absl::StrCat("kind: app \"", app_id, "\" has no ",
                                          TokenKindName(kind), " configured"));
}

absl::StatusOr<Token> TokenTable::Get(absl::string_view app_id, TokenKind kind,
                                      SteadyTime now) const {
  const Slot* slot = Find(app_id, kind);
  if (slot == nullptr) return CheckKnown(app_id, kind);
  std::shared_ptr<const PublishedToken> published;
  {
    absl::ReaderMutexLock lock(&slot->mu);
    published = slot->published;
  }
  return ServeToken(app_id, kind, *published, now, limits_);
}

void TokenTable::Publish(absl::string_view app_id, TokenKind kind,
                         PublishedToken published) {
  Slot* slot = Find(app_id, kind);
  if (slot == nullptr) return;
  auto shared = std::make_shared<const PublishedToken>(std::move(published));
  {
    absl::MutexLock lock(&slot->mu);
    slot->published = std::move(shared);
  }
  if (listener_) listener_(app_id, kind);
}

}  // namespace wxtoken::server
