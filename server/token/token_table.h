#ifndef WXTOKEN_SERVER_TOKEN_TOKEN_TABLE_H_
#define WXTOKEN_SERVER_TOKEN_TOKEN_TABLE_H_

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/token/refresh_policy.h"
#include "server/token/token.h"

namespace wxtoken::server {

// The read side of the token state: GetToken reads here, the refresh worker
// publishes. The set of (app, kind) entries is fixed at construction, so
// lookups take no global lock; each entry has its own reader/writer mutex
// held only to copy a pointer to an immutable PublishedToken. Thread-safe.
class TokenTable {
 public:
  struct Entry {
    std::string app_id;
    TokenKind kind;
  };

  TokenTable(const std::vector<Entry>& entries, CacheLimits limits);
  TokenTable(const TokenTable&) = delete;
  TokenTable& operator=(const TokenTable&) = delete;

  // Every (app, kind) entry, in no particular order.
  std::vector<Entry> Entries() const;

  bool HasApp(absl::string_view app_id) const;
  bool Has(absl::string_view app_id, TokenKind kind) const;

  // NOT_FOUND naming the field for an unknown app or a kind the app does not
  // have; OK otherwise.
  absl::Status CheckKnown(absl::string_view app_id, TokenKind kind) const;

  // GetToken's answer at `now` (ServeToken), or CheckKnown()'s NOT_FOUND.
  absl::StatusOr<Token> Get(absl::string_view app_id, TokenKind kind,
                            SteadyTime now) const;

  // Replaces the published state of an existing entry, then tells the
  // listener.
  void Publish(absl::string_view app_id, TokenKind kind,
               PublishedToken published);

  // Called after each Publish(), on the publishing thread; must be cheap.
  // Set once, before anything is published.
  using PublishListener =
      std::function<void(absl::string_view app_id, TokenKind kind)>;
  void SetPublishListener(PublishListener listener) {
    listener_ = std::move(listener);
  }

 private:
  struct Slot {
    mutable absl::Mutex mu;
    std::shared_ptr<const PublishedToken> published ABSL_GUARDED_BY(mu);
  };
  struct App {
    std::array<std::unique_ptr<Slot>, kTokenKindCount> slots;
  };

  // Slots are owned through unique_ptr, so a const table still hands out a
  // writable slot; only Publish() writes through it.
  Slot* Find(absl::string_view app_id, TokenKind kind) const;

  // Constant after construction.
  const CacheLimits limits_;
  absl::flat_hash_map<std::string, App> apps_;
  PublishListener listener_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_TOKEN_TABLE_H_
