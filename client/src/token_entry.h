#ifndef WXTOKEN_CLIENT_SRC_TOKEN_ENTRY_H_
#define WXTOKEN_CLIENT_SRC_TOKEN_ENTRY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/src/published_token.h"
#include "client/src/short_bytes.h"
#include "client/src/token_source.h"
#include "wxtoken/client.h"

namespace wxtoken::client_internal {

// What a cache hit reads the time from, when not EntryContext::now: a
// cheaper clock that lags it, never leads it, by less than `lag`. Every
// freshness window hits see is shortened by `lag`, so by `now` no hit is
// served past its max_cache; the last `lag` of a window goes to the slow
// path, which reads `now`.
struct HitClock {
  // Nanoseconds on EntryContext::now's scale (absl::ToUnixNanos of it).
  int64_t (*now_ns)() = nullptr;  // null: EntryContext::now, no lag
  absl::Duration lag;
};

// What every entry of one client shares. Constant after construction.
struct EntryContext {
  TokenSource* source = nullptr;
  std::function<absl::Time()> now;
  absl::Duration fallback_retry;
  bool watch = true;  // ClientOptions::watch
  HitClock hit_clock;
};

// The cache of one (app_id, kind): the controller's last answer, how long it
// may be served from memory, and the one RPC in flight for it, if any.
// Thread-safe. A hit only reads `published_` (no lock, no shared write), so
// hitting threads never wait for each other or for an RPC. A miss takes
// `mu_`, and at most one caller at a time makes an RPC, without holding
// `mu_`, while the other callers wait for its outcome. With a watch, the
// first good answer opens a WatchToken stream whose messages refresh the
// cache as they arrive, so while it is healthy every Get is a hit; an app_id
// the controller refuses never gets one.
class TokenEntry {
 public:
  // `context` must outlive the entry.
  TokenEntry(std::string app_id, TokenKind kind, const EntryContext* context);
  TokenEntry(const TokenEntry&) = delete;
  TokenEntry& operator=(const TokenEntry&) = delete;

  const std::string& app_id() const { return app_id_; }
  TokenKind kind() const { return kind_; }

  // Client::GetToken for this entry.
  absl::StatusOr<Token> Get() ABSL_LOCKS_EXCLUDED(mu_);
  // Client::GetToken into a caller's Token: a hit reuses its storage.
  // Inline, as the hit is (ReadHit).
  absl::Status GetInto(Token* token) ABSL_LOCKS_EXCLUDED(mu_) {
    if (ReadHit(token)) return absl::OkStatus();
    return GetIntoAfterMiss(token);
  }

  // Client::ReportInvalid for this entry.
  absl::StatusOr<Token> ReportInvalid(absl::string_view stale_value,
                                      int errcode) ABSL_LOCKS_EXCLUDED(mu_);

  // For tests: waits until `count` callers are waiting on an RPC another
  // caller started, or `timeout` passes; returns whether they are.
  bool AwaitWaitersForTesting(int count, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // One RPC to the controller and its outcome, shared by its waiters.
  struct Flight {
    bool force_refresh = false;
    std::string stale_value;  // when force_refresh
    bool done = false;        // guarded by the entry's mu_
    absl::StatusOr<Token> result;
  };

  // A hit: what published_ holds, when fresh by the hit clock.
  bool ReadHit(Token* token) const {
    const HitClock& clock = context_.hit_clock;
    const int64_t now_ns =
        clock.now_ns ? clock.now_ns() : absl::ToUnixNanos(context_.now());
    if (!published_.ReadIfFresh(now_ns, token)) return false;
    // A caller's Token usually holds this entry's app_id from its last hit.
    if (!SameBytes(token->app_id, app_id_)) token->app_id.assign(app_id_);
    token->kind = kind_;
    return true;
  }
  // Get and GetInto when ReadHit found nothing fresh: from token_ under
  // mu_, or from an RPC.
  absl::StatusOr<Token> GetAfterMiss() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status GetIntoAfterMiss(Token* token) ABSL_LOCKS_EXCLUDED(mu_);
  // A copy of token_ when `now` is inside its freshness window.
  std::optional<Token> FreshCopy(absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What is served from memory, and until when: for hits too.
  void SetCached(std::optional<Token> token, absl::Time fresh_until)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits for the RPC in flight to finish and returns it.
  std::shared_ptr<const Flight> AwaitFlight()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes the RPC (releasing mu_ meanwhile), settles the entry with its
  // answer and wakes the waiters. Requires that no flight is in progress.
  absl::StatusOr<Token> Fly(bool force_refresh, absl::string_view stale_value,
                            int errcode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Restarts a stream that let the value it pushed run out (it should have
  // renewed it at half its max_cache).
  void TendWatch(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a good answer: opens the stream, unless one is open, or the
  // controller refused streams to this client.
  void OpenWatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stream's message: the controller's current token, made
  // `stream_age` into the stream, arrived now.
  void OnPushed(Token token, absl::Duration stream_age)
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnStreamEnd(const absl::Status& status, bool final)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Caches a good answer whose max_cache and stale_if_error count from
  // `counted_from`; returns what the caller gets.
  Token Accept(Token answer, absl::Time counted_from)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The caller's answer to an RPC's outcome, updating the entry. `sent` is
  // when the RPC was sent: the answer's max_cache and stale_if_error count
  // from there.
  absl::StatusOr<Token> Settle(const Flight& flight,
                               absl::StatusOr<Token> answer, absl::Time sent,
                               absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const std::string app_id_;
  const TokenKind kind_;
  const EntryContext& context_;

  // What hits read: token_ until fresh_until_, as SetCached published them.
  // Written only under mu_.
  PublishedToken published_;

  // State below is protected by mu_.
  absl::Mutex mu_;
  // The controller's last good answer; stale_fallback is set on it while it
  // is served because the controller is unreachable.
  std::optional<Token> token_ ABSL_GUARDED_BY(mu_);
  // token_ is served from memory while now < fresh_until_.
  absl::Time fresh_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // token_ may be a stale_fallback until then (its stale_if_error).
  absl::Time fallback_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The value token_ replaced: reports of it are answered from memory.
  std::string previous_value_ ABSL_GUARDED_BY(mu_);
  // A value reported invalid whose replacement this entry has not seen:
  // never cached or served as a fallback.
  std::string rejected_value_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Flight> flight_ ABSL_GUARDED_BY(mu_);
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;
  // token_ came from the stream (not an RPC) and is what fresh_until_ is of.
  bool cached_from_stream_ ABSL_GUARDED_BY(mu_) = false;
  // When the stream open now was requested.
  absl::Time stream_opened_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // watch_'s stream ended for good and its thread takes mu_ no more
  // (OnStreamEnd was its last call); refused: no stream is opened again.
  bool watch_ended_ ABSL_GUARDED_BY(mu_) = false;
  bool watch_refused_ ABSL_GUARDED_BY(mu_) = false;
  // Last, so it is destroyed first: its thread calls back into the entry.
  std::unique_ptr<TokenWatch> watch_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_TOKEN_ENTRY_H_
