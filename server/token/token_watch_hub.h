#ifndef WXTOKEN_SERVER_TOKEN_TOKEN_WATCH_HUB_H_
#define WXTOKEN_SERVER_TOKEN_TOKEN_WATCH_HUB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/token/schedule.h"
#include "server/token/token.h"
#include "server/token/token_table.h"

namespace wxtoken::server {

// One WatchToken stream, as the hub sees it. Called without the hub's lock,
// from the hub's thread (or Watch()'s caller); must not block.
class TokenWatcher {
 public:
  virtual ~TokenWatcher() = default;
  // The watched token may have changed (`resend` false), or the last
  // message nears the end of its max_cache (`resend` true): read the table
  // and tell the caller what its WatchCursor says.
  virtual void Notify(bool resend) = 0;
  // The stream must end with `status` (its max age, or shutdown).
  virtual void End(const absl::Status& status) = 0;
  // Who may call what changed (a reload replaced `callers`): a stream whose
  // caller may no longer watch its token ends.
  virtual void Reauthorize() {}
};

// Fans the token table's changes out to WatchToken streams. The refresh
// worker only marks an entry changed (OnPublished: a set insert and a
// wakeup); the hub's own thread notifies that entry's watchers, re-notifies
// them before their last message's max_cache runs out, and ends streams at
// their jittered max age. Each watcher reads the table itself when it can
// write, so a slow stream sends the newest value, not a queue of old ones.
// GetToken never touches the hub. Thread-safe.
class TokenWatchHub {
 public:
  struct Options {
    // How often a watcher's message is renewed at the least: half the
    // client_max_cache, leaving the other half for delivery.
    absl::Duration resend_interval;
    absl::Duration max_stream_age;  // ±10 % jitter per stream
  };

  // `table` and `clock` must outlive the hub.
  TokenWatchHub(const TokenTable& table, const Clock& clock, Options options);
  TokenWatchHub(const TokenWatchHub&) = delete;
  TokenWatchHub& operator=(const TokenWatchHub&) = delete;
  ~TokenWatchHub();  // Stop()

  // Registers a stream of (app_id, kind) and notifies it at once. Returns
  // its id for Unwatch(), or the status it must end with now: CheckKnown()'s
  // NOT_FOUND, or UNAVAILABLE after Shutdown().
  absl::StatusOr<uint64_t> Watch(absl::string_view app_id, TokenKind kind,
                                 std::shared_ptr<TokenWatcher> watcher);
  // The stream ended. A notification already under way may still arrive;
  // the watcher must ignore what comes after its end.
  void Unwatch(uint64_t id);

  // The table published (app_id, kind). Cheap: for the refresh worker.
  void OnPublished(absl::string_view app_id, TokenKind kind);

  // Notifies what is due at the clock's now; returns when the next thing is
  // due (InfiniteFuture when nothing is). The hub's thread calls it; tests
  // with a fake clock call it themselves.
  SteadyTime RunDue();

  // Runs RunDue() on the hub's own thread until Stop().
  void Start();
  void Stop();

  // Ends every stream with `status` (UNAVAILABLE at shutdown) and refuses
  // new ones with it.
  void Shutdown(const absl::Status& status);

  // Every open stream checks its caller's grant again (Reauthorize()).
  void ReauthorizeAll();

  // Streams open now.
  size_t WatcherCount() const;

 private:
  using EntryKey = std::pair<std::string, TokenKind>;
  struct Stream;
  struct Entry {
    EntryKey key;
    absl::flat_hash_set<Stream*> streams;
  };
  struct Stream {
    uint64_t id;
    Entry* entry;
    std::shared_ptr<TokenWatcher> watcher;
  };
  // What RunDue() hands the watchers once the lock is released.
  struct Delivery {
    std::shared_ptr<TokenWatcher> watcher;
    enum class Kind { kChanged, kResend, kEnd } kind;
  };

  void CollectEntry(Entry& entry, Delivery::Kind kind, SteadyTime now,
                    std::vector<Delivery>& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When the entry's streams are notified next: at `renew_at`, or sooner
  // when the value stops being servable sooner.
  SteadyTime ResendAt(const EntryKey& key, SteadyTime renew_at,
                      SteadyTime now) const;
  void RemoveStream(Stream* stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();

  // Constant after construction.
  const TokenTable& table_;
  const Clock& clock_;
  const Options options_;

  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<EntryKey, std::unique_ptr<Entry>> entries_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::unique_ptr<Stream>> streams_
      ABSL_GUARDED_BY(mu_);
  // Entries published since the last RunDue().
  absl::flat_hash_set<EntryKey> changed_ ABSL_GUARDED_BY(mu_);
  Schedule<Entry> resends_ ABSL_GUARDED_BY(mu_);
  Schedule<Stream> ends_ ABSL_GUARDED_BY(mu_);
  absl::BitGen jitter_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> shut_down_ ABSL_GUARDED_BY(mu_);
  // Watch() scheduled something RunDue() has not seen yet.
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_TOKEN_WATCH_HUB_H_
