#ifndef WXTOKEN_SERVER_TOKEN_STATE_STORE_H_
#define WXTOKEN_SERVER_TOKEN_STATE_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/token/token.h"

namespace wxtoken::server {

// What the guarantee depends on for one (app, kind), as stored: never a
// secret. Times are wall-clock times (a store outlives the process's
// monotonic clock).
struct TokenRecord {
  TokenKind kind = TokenKind::kAccessToken;
  std::string value;  // "" when none was fetched yet
  uint64_t generation = 0;
  absl::Time fetched_at;  // when the request that got `value` was sent
  absl::Time expires_at;  // fetched_at + expires_in
  // The send time of the earliest possibly-revoking request that has had no
  // clean answer (DESIGN.md "The refresh worker"): `value` is revoked no
  // earlier than `overlap` after it.
  std::optional<absl::Time> intent;
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
};

// Where the refresh worker keeps AppRecords across restarts (and, with
// replicas, shares them). Used by the worker's thread only, except that
// implementations may run writes elsewhere.
class StateStore {
 public:
  using WriteDone = std::function<void(absl::Status)>;
  virtual ~StateStore() = default;

  // Every readable record, once, at start (it may block). Corrupt or foreign
  // records are reported (logged) and skipped, never fatal.
  virtual std::vector<AppRecord> Load() = 0;

  // Durably replaces the app's record. `done` runs later on the worker's
  // thread (never inside Write) with OK once the record is durable, or the
  // error; writes of one app take effect in the order they were made.
  virtual void Write(AppRecord record, WriteDone done) = 0;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_STATE_STORE_H_
