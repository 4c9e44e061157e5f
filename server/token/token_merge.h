#ifndef WXTOKEN_SERVER_TOKEN_TOKEN_MERGE_H_
#define WXTOKEN_SERVER_TOKEN_TOKEN_MERGE_H_

// How one replica's copy of a token record merges with a shared store's
// (DESIGN.md "Replicas"): a later fetch wins by both the clock and the
// leases, every unanswered send either side knows stays in force, counts
// only grow within a day. The Redis write script orders the same way.

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/token/refresh_policy.h"
#include "server/token/state_store.h"

namespace wxtoken::server {

// Stores keep times to the microsecond: compare at that precision.
std::optional<int64_t> Micros(const std::optional<absl::Time>& time);
std::optional<int64_t> Micros(const std::optional<Instant>& instant);

// Whether intent `a` is earlier than `b` (none is the latest of all).
bool Earlier(const std::optional<int64_t>& a, const std::optional<int64_t>& b);
std::optional<Instant> EarliestIntent(const std::optional<Instant>& a,
                                      const std::optional<Instant>& b);
std::optional<Instant> LatestIntent(const std::optional<Instant>& a,
                                    const std::optional<Instant>& b);

// The unanswered send times a stored record names.
SeenIntent SeenOf(const TokenRecord& token);
bool SameSeen(const SeenIntent& a, const SeenIntent& b);
// Notes that the store may hold `intent` (TokenRecord::seen_intents).
void NoteSeen(std::vector<SeenIntent>& seen, const SeenIntent& intent);

// Whether `a`'s value came from a later fetch than `b`'s. `term`: the
// current lease's epoch, 0 when unknown; what it fetched comes first.
bool FetchedLater(const TokenState& a, const TokenState& b, uint64_t term);

// Takes the store's copy of one token into `state`; true when `state` holds
// something the store lacks. `latest_copy`: the leader's, taken as it is.
bool MergeStoredToken(const TokenRecord& found, bool latest_copy,
                      const Clock& clock, TokenState& state, uint64_t term);

// Takes the store's counters into `mine`; true when `mine` holds something
// the store lacks.
bool MergeCounters(const AppCounters& stored, AppCounters& mine);

// The kept record of an app not configured here, merged with `found`.
AppRecord MergeKept(const AppRecord& kept, const AppRecord& found, bool latest,
                    const Clock& clock);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_TOKEN_MERGE_H_
