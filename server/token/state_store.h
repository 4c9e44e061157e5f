#ifndef WXTOKEN_SERVER_TOKEN_STATE_STORE_H_
#define WXTOKEN_SERVER_TOKEN_STATE_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/token/token.h"

namespace wxtoken::server {

// The unanswered send times a store may hold for one token (TokenRecord's
// intent and latest_intent); none when `earliest` is nullopt.
struct SeenIntent {
  std::optional<absl::Time> earliest;
  std::optional<absl::Time> latest;
};

// What the guarantee depends on for one (app, kind), as stored: never a
// secret. Times are wall-clock times (a store outlives the process's
// monotonic clock).
struct TokenRecord {
  TokenKind kind = TokenKind::kAccessToken;
  std::string value;  // "" when none was fetched yet
  uint64_t generation = 0;
  // Replicas: the fencing epoch of the leader that fetched it; 0 unknown.
  uint64_t epoch = 0;
  absl::Time fetched_at;  // when the request that got `value` was sent
  absl::Time expires_at;  // fetched_at + expires_in
  // The send times of the possibly-revoking requests that have had no clean
  // answer (DESIGN.md "The refresh worker"), both or neither: the earliest
  // (a lower bound: `value` is revoked no earlier than `overlap` after it)
  // and the latest (an upper bound: a new value is trusted past the
  // earliest's bound only once this is older than the horizon at its send).
  std::optional<absl::Time> intent;
  std::optional<absl::Time> latest_intent;
  // A leader's write to a shared store only: the intents the store may hold
  // as far as this replica knows (the last one read, and those it wrote
  // since). Its own intent replaces one of those; any other found there (a
  // replica re-wrote what the store lost) merges: the earliest of the two
  // earliest, the latest of the two latest.
  std::vector<SeenIntent> seen_intents;
};

// One app's durable state: its tokens and what it spent today. Written as a
// whole, so a crash leaves either all of the old or all of the new.
struct AppRecord {
  std::string app_id;
  std::vector<TokenRecord> tokens;  // at most one per kind
  // Spent on the Beijing day `day` (BeijingDay()); counts of another day are
  // zero. Every request sent counts, failover attempts included.
  int64_t day = 0;
  int fetches = 0;        // token and ticket requests
  int force_fetches = 0;  // of which caused by ForceRefresh
  int stable_forces = 0;  // stable_token force_refresh: true
  std::optional<absl::Time> last_stable_force;  // WeChat spaces them 30 s
  // After errcode 45009: nothing is fetched for the app before this.
  std::optional<absl::Time> quota_blocked_until;
  // A discovered owner's own state (a platform's authorizer, DESIGN.md
  // "Third-party platforms"), by name; a secret only ever sealed
  // (base/vault.h). A leader's write replaces them all; a heal adds those
  // the store lacks.
  std::map<std::string, std::string> owner;
};

// What a read of a shared store brought.
enum class ReadKind {
  kChanges,    // the records written since the last read
  kAll,        // every record (a new connection); nothing was lost
  kAfterLoss,  // every record, and the store may have lost writes (Redis
               // restarted, a failover): replicas write back what they hold
};

// What a shared store (replicas, DESIGN.md "Replicas") tells the refresh
// engine. Calls come on the worker's thread, in the order they happened.
class ReplicaListener {
 public:
  virtual ~ReplicaListener() = default;
  // `confirmed` below: this replica's copy of every app is confirmed as of
  // then (a follower's max_cache shrinks with the time since). It is the
  // start of the read or renewal, or, while a store that lost writes may
  // still lack one a replica is about to write back, the last such start
  // before the loss (DESIGN.md "Replicas").
  //
  // This replica now holds the lease of fencing `epoch`; `records` were
  // read after taking it. Requests may be sent from `first_request_at` on
  // (once the other replicas could re-write what a lost write took away).
  virtual void OnLeader(std::vector<AppRecord> records, uint64_t epoch,
                        SteadyTime confirmed, SteadyTime first_request_at) = 0;
  // This replica does not hold the lease (any more).
  virtual void OnFollower() = 0;
  // A read that started at `read_start` found `records` (of `kind`).
  virtual void OnRecords(std::vector<AppRecord> records, ReadKind kind,
                         SteadyTime read_start, SteadyTime confirmed) = 0;
  // The leader renewed its lease: no other replica can have sent anything
  // since before `confirmed`.
  virtual void OnConfirmed(SteadyTime confirmed) = 0;
  // Of the apps configured here (StateStore::SetConfiguredApps), those the
  // current leader does not have configured: nothing refreshes them. Told
  // again on every change; never to the leader.
  virtual void OnUnservedApps(std::vector<std::string> /*app_ids*/) {}
};

// How a replica of a shared store stands, for metrics.
struct ReplicaStatus {
  bool leader = false;
  int64_t epoch = 0;         // of the lease last seen; 0 before any
  int64_t store_errors = 0;  // failed store commands since start
  // The start of the last read (or lease renewal) that confirmed this
  // replica's copy: a follower's max_cache shrinks with the time since.
  SteadyTime confirmed = SteadyTime::InfinitePast();
  // The store's wall clock minus this replica's, last measured (within half
  // a round trip); unset before the first measurement.
  std::optional<absl::Duration> clock_offset;
};

// Where the refresh worker keeps AppRecords across restarts and, shared,
// between replicas. Used by the worker's thread only, except that
// implementations may run writes elsewhere.
class StateStore {
 public:
  // kLeader: this replica's own state, fenced by its lease in a shared
  // store (refused when it does not hold it). kHeal: a copy a replica holds
  // that the store lost (a failover, a restart empty): merged in, never
  // replacing a newer generation or clearing an intent.
  enum class WriteMode { kLeader, kHeal };
  // OK with the record as stored (a shared store may have kept a newer
  // token, merged an intent or assigned a generation), or why the write
  // failed.
  using WriteDone = std::function<void(absl::StatusOr<AppRecord>)>;
  virtual ~StateStore() = default;

  // Every readable record, once, at start (it may block). Corrupt or foreign
  // records are reported (logged) and skipped, never fatal.
  virtual std::vector<AppRecord> Load() = 0;

  // Durably replaces (kLeader) or merges into (kHeal) the app's record.
  // `done` runs later on the worker's thread (never inside Write); writes of
  // one app take effect in the order they were made.
  virtual void Write(AppRecord record, WriteMode mode, WriteDone done) = 0;

  // Whether replicas share this store. A store of one (the file store) is
  // not shared: its only user is always the leader.
  virtual bool Shared() const { return false; }
  // Whether a request that takes up to `duration` may be sent at `now`: the
  // lease is this replica's and outlives it. Thread-safe.
  virtual bool MaySend(SteadyTime /*now*/, absl::Duration /*duration*/) const {
    return true;
  }
  // Where a shared store reports leadership and the leader's records. Set
  // once, before Load(); must outlive the store's use.
  virtual void SetListener(ReplicaListener* /*listener*/) {}
  // The apps configured here, again after each change. A shared store
  // publishes the leader's, so that a follower configured with an app the
  // leader lacks says so (ReplicaListener::OnUnservedApps). Thread-safe.
  virtual void SetConfiguredApps(std::vector<std::string> /*app_ids*/) {}
  // Called once the worker has stopped: a shared store gives up what it
  // holds for the others (the leader lease). Writes made before it are
  // still stored.
  virtual void Close() {}
  // A shared store's standing; nullopt for a store of one. Thread-safe.
  virtual std::optional<ReplicaStatus> Replica() const { return std::nullopt; }
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_STATE_STORE_H_
