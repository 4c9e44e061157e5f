#ifndef WXTOKEN_SERVER_TOKEN_TOKEN_TABLE_H_
#define WXTOKEN_SERVER_TOKEN_TOKEN_TABLE_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/token/token.h"

namespace wxtoken::server {

// What the refresh worker last published for one (app, kind). Immutable once
// published; readers share it through a shared_ptr.
struct PublishedToken {
  bool has_value = false;
  TokenValue current;
  // The value is served while now < valid_until (<= current.expires_at).
  absl::Time valid_until = absl::InfinitePast();
  // Returned while there is no valid value: UNAVAILABLE before the first
  // fetch, FAILED_PRECONDITION after a credential error, and so on.
  absl::Status unavailable = absl::UnavailableError("no token fetched yet");
};

// The read side of the token state: GetToken reads here, the refresh worker
// writes. The set of (app, kind) entries is fixed at construction, so lookups
// take no global lock; each entry has its own reader/writer mutex held only
// to copy a pointer. Thread-safe.
class TokenTable {
 public:
  struct Entry {
    std::string app_id;
    TokenKind kind;
  };

  TokenTable(const std::vector<Entry>& entries,
             absl::Duration client_max_cache);
  TokenTable(const TokenTable&) = delete;
  TokenTable& operator=(const TokenTable&) = delete;

  // Every (app, kind) entry, in no particular order.
  std::vector<Entry> Entries() const;

  bool HasApp(absl::string_view app_id) const;
  bool Has(absl::string_view app_id, TokenKind kind) const;

  // The value to hand out at `now`, with max_cache = min(client_max_cache,
  // valid_until - now). NOT_FOUND for an unknown (app, kind); the published
  // `unavailable` status when no value is valid at `now`.
  absl::StatusOr<Token> Get(absl::string_view app_id, TokenKind kind,
                            absl::Time now) const;

  // Replaces the published state of an existing entry.
  void Publish(absl::string_view app_id, TokenKind kind, PublishedToken state);

 private:
  struct Slot {
    mutable absl::Mutex mu;
    std::shared_ptr<const PublishedToken> state ABSL_GUARDED_BY(mu);
  };
  struct App {
    std::array<std::unique_ptr<Slot>, kTokenKindCount> slots;
  };

  // Slots are owned through unique_ptr, so a const table still hands out a
  // writable slot; only Publish() writes through it.
  Slot* Find(absl::string_view app_id, TokenKind kind) const;

  // Constant after construction.
  const absl::Duration client_max_cache_;
  absl::flat_hash_map<std::string, App> apps_;
};

// The one rule for how long a caller may cache a value (DESIGN.md "Refresh").
absl::StatusOr<Token> ServeToken(absl::string_view app_id, TokenKind kind,
                                 const PublishedToken& state,
                                 absl::Duration client_max_cache,
                                 absl::Time now);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_TOKEN_TABLE_H_
