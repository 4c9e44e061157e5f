#include "server/token/token_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace wxtoken::server {

TokenTable::TokenTable(const std::vector<Entry>& entries,
                       absl::Duration client_max_cache)
    : client_max_cache_(client_max_cache) {
  for (const Entry& entry : entries) {
    auto& slot = apps_[entry.app_id].slots[static_cast<int>(entry.kind)];
    slot = std::make_unique<Slot>();
    absl::MutexLock lock(&slot->mu);
    slot->state = std::make_shared<const PublishedToken>();
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
    for (int kind = 0; kind < kTokenKindCount; ++kind) {
      if (app.slots[kind] != nullptr) {
        entries.push_back({app_id, static_cast<TokenKind>(kind)});
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

absl::StatusOr<Token> TokenTable::Get(absl::string_view app_id, TokenKind kind,
                                      absl::Time now) const {
  const Slot* slot = Find(app_id, kind);
  if (slot == nullptr) {
    if (!HasApp(app_id)) {
      return absl::NotFoundError(
          absl::StrCat("app_id: unknown app \"", app_id, "\""));
    }
    return absl::NotFoundError(absl::StrCat("kind: app \"", app_id,
                                            "\" has no ", TokenKindName(kind),
                                            " configured"));
  }
  std::shared_ptr<const PublishedToken> state;
  {
    absl::ReaderMutexLock lock(&slot->mu);
    state = slot->state;
  }
  return ServeToken(app_id, kind, *state, client_max_cache_, now);
}

void TokenTable::Publish(absl::string_view app_id, TokenKind kind,
                         PublishedToken state) {
  Slot* slot = Find(app_id, kind);
  if (slot == nullptr) return;
  auto published = std::make_shared<const PublishedToken>(std::move(state));
  absl::MutexLock lock(&slot->mu);
  slot->state = std::move(published);
}

absl::StatusOr<Token> ServeToken(absl::string_view app_id, TokenKind kind,
                                 const PublishedToken& state,
                                 absl::Duration client_max_cache,
                                 absl::Time now) {
  if (!state.has_value || now >= state.valid_until) return state.unavailable;
  Token token;
  token.app_id = std::string(app_id);
  token.kind = kind;
  token.value = state.current.value;
  token.fetched_at = state.current.fetched_at;
  token.expires_at = state.valid_until;
  token.generation = state.current.generation;
  token.max_cache = std::min(client_max_cache, state.valid_until - now);
  return token;
}

}  // namespace wxtoken::server
