#ifndef WXTOKEN_SERVER_TOKEN_TOKEN_TABLE_H_
#define WXTOKEN_SERVER_TOKEN_TOKEN_TABLE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/token/refresh_policy.h"
#include "server/token/token.h"

namespace wxtoken::server {

// The read side of the token state: GetToken reads here, the refresh worker
// publishes, config reloads add and remove apps. One reader/writer lock
// guards it all: a read holds it shared to find its entry and copy a
// pointer to an immutable PublishedToken (one lock per GetToken); a
// publish holds it exclusively only to swap that pointer. Thread-safe.
class TokenTable {
 public:
  struct Entry {
    std::string app_id;
    TokenKind kind;
    // A platform's authorizer (or a suite's corp): there may be 100,000,
    // so no health name or metric series of its own (DESIGN.md "Owners").
    bool discovered = false;
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
  // listener if watchers must hear of it (not of a validity that only
  // ends later).
  void Publish(absl::string_view app_id, TokenKind kind,
               PublishedToken published);

  // A config reload: adds an app with `kinds` (UNAVAILABLE until published),
  // or removes one, after which its entries answer NOT_FOUND. Both tell the
  // listener of every entry. Adding an app that exists changes nothing.
  void AddApp(const std::string& app_id, const std::vector<TokenKind>& kinds,
              bool discovered = false);
  // Whether `app_id` was added as discovered (Entry::discovered).
  bool IsDiscovered(absl::string_view app_id) const;
  void RemoveApp(absl::string_view app_id);
  // A platform whose first authorizer list pass has not completed: an
  // authorizer not known yet may still be listed, so asking for one is
  // UNAVAILABLE ("takeover in progress"), not NOT_FOUND.
  void SetTakeoverPending(const std::string& platform, bool pending);
  // When GetToken (or WatchToken, through Get) last asked for any of the
  // app's entries, to the second; InfinitePast() never. An authorizer's
  // token is refreshed ahead only while it is used (idle_after).
  SteadyTime LastUsed(absl::string_view app_id) const;

  // Called after each Publish(), on the publishing thread; must be cheap.
  // Set once, before anything is published.
  using PublishListener =
      std::function<void(absl::string_view app_id, TokenKind kind)>;
  void SetPublishListener(PublishListener listener) {
    listener_ = std::move(listener);
  }

 private:
  struct Slot {
    std::shared_ptr<const PublishedToken> published;  // guarded by mu_
    // When Get() last served it, in whole seconds of SteadyTime: written
    // at most once a second, so a hot entry costs one load.
    mutable std::atomic<int64_t> used_second{kNeverUsed};
  };
  static constexpr int64_t kNeverUsed = INT64_MIN;
  struct App {
    std::array<std::unique_ptr<Slot>, kTokenKindCount> slots;
    bool discovered = false;
  };

  // Slots are owned through unique_ptr, so a const table still hands out a
  // writable slot; only Publish() writes through it.
  Slot* Find(absl::string_view app_id, TokenKind kind) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // CheckKnown()'s NOT_FOUND for an entry Find() does not have.
  absl::Status UnknownStatus(absl::string_view app_id, TokenKind kind) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const CacheLimits limits_;
  PublishListener listener_;

  // Guards the index and every slot's pointer.
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, App> apps_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> takeovers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_TOKEN_TABLE_H_
