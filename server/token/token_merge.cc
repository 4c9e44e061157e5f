#include "server/token/token_merge.h"

#include <algorithm>
#include <tuple>

#include "server/token/state_record.h"

namespace wxtoken::server {

// Stores keep times to the microsecond: compare at that precision.
std::optional<int64_t> Micros(const std::optional<absl::Time>& time) {
  if (!time) return std::nullopt;
  return absl::ToUnixMicros(*time);
}
std::optional<int64_t> Micros(const std::optional<Instant>& instant) {
  if (!instant) return std::nullopt;
  return absl::ToUnixMicros(instant->wall);
}

// Whether intent `a` is earlier than `b` (none is the latest of all).
bool Earlier(const std::optional<int64_t>& a, const std::optional<int64_t>& b) {
  return a && (!b || *a < *b);
}

std::optional<Instant> EarliestIntent(const std::optional<Instant>& a,
                                      const std::optional<Instant>& b) {
  return Earlier(Micros(b), Micros(a)) ? b : a;
}

std::optional<Instant> LatestIntent(const std::optional<Instant>& a,
                                    const std::optional<Instant>& b) {
  return b && (!a || Micros(b) > Micros(a)) ? b : a;
}

// The unanswered send times a stored record names, as a leader's write
// names what it saw (the latest defaults to the earliest, as the Redis
// write script reads a record without one).
SeenIntent SeenOf(const TokenRecord& token) {
  if (!token.intent) return {};
  return {token.intent, token.latest_intent.value_or(*token.intent)};
}

bool SameSeen(const SeenIntent& a, const SeenIntent& b) {
  return Micros(a.earliest) == Micros(b.earliest) &&
         Micros(a.latest) == Micros(b.latest);
}

// Whether `a`'s value came from a later fetch than `b`'s by both things
// replicas can compare: the send time (their clocks) and the lease that
// fetched it (epoch, then generation). After lost writes generations and
// even epochs may restart, and clocks may disagree: neither alone decides.
// The Redis write script orders heals the same way, and likewise puts first
// what the current lease (`term`, 0 unknown) fetched: after Redis lost its
// data a new lease may take a lower epoch than a token healed back.
bool FetchedLater(const TokenState& a, const TokenState& b, uint64_t term) {
  if (term != 0 && (a.epoch == term) != (b.epoch == term)) {
    return a.epoch == term;
  }
  return absl::ToUnixMicros(a.fetched.wall) >
             absl::ToUnixMicros(b.fetched.wall) &&
         std::tie(a.epoch, a.generation) > std::tie(b.epoch, b.generation);
}

// Takes the store's copy of one token into `state` (RefreshEngine::Adopt);
// true when `state` holds something the store lacks.
bool MergeStoredToken(const TokenRecord& found, bool latest_copy,
                      const Clock& clock, TokenState& state, uint64_t term) {
  TokenState stored = FromTokenRecord(found, clock);
  const std::optional<Instant> stored_latest = stored.latest_intent;
  if (latest_copy) {
    // The leader's copy is the truth: it may have cleared the intent.
    state = std::move(stored);
    return false;
  }
  // Merging: every intent either side knows stays in force (it may be of a
  // request that revokes whichever value is kept).
  std::optional<Instant> intent = EarliestIntent(state.intent, stored.intent);
  std::optional<Instant> latest =
      LatestIntent(state.latest_intent, stored.latest_intent);
  bool store_lacks = false;
  if (stored.value == state.value) {
    state.generation = std::max(state.generation, stored.generation);
    state.epoch = std::max(state.epoch, stored.epoch);
    state.expires = std::min(state.expires, stored.expires);
  } else if (state.has_value() &&
             (!stored.has_value() || FetchedLater(state, stored, term))) {
    store_lacks = true;  // the store lost our later token
  } else {
    if (state.has_value() && !FetchedLater(stored, state, term)) {
      // Clocks and leases disagree on which came later: the store's value
      // stands (as the script keeps it), and our fetch, which WeChat may
      // have answered after the store's, counts as a request that revokes
      // it.
      intent = EarliestIntent(intent, state.fetched);
      latest = LatestIntent(latest, state.fetched);
    }
    state = std::move(stored);
  }
  state.intent = intent;
  state.latest_intent = latest;
  return store_lacks || Earlier(Micros(intent), Micros(found.intent)) ||
         Micros(latest) > Micros(stored_latest);
}

// Takes the store's counters into `mine`: counts only grow within a day,
// blocks only lengthen. True when `mine` holds something the store lacks.
bool MergeCounters(const AppCounters& stored, AppCounters& mine) {
  if (stored.day > mine.day) {
    mine = stored;
    return false;
  }
  if (stored.day < mine.day) return true;
  const bool store_lacks = mine.fetches > stored.fetches ||
                           mine.force_fetches > stored.force_fetches ||
                           mine.stable_forces > stored.stable_forces;
  mine.fetches = std::max(mine.fetches, stored.fetches);
  mine.force_fetches = std::max(mine.force_fetches, stored.force_fetches);
  mine.stable_forces = std::max(mine.stable_forces, stored.stable_forces);
  if (stored.quota_blocked_until &&
      (!mine.quota_blocked_until ||
       *mine.quota_blocked_until < *stored.quota_blocked_until)) {
    mine.quota_blocked_until = stored.quota_blocked_until;
  }
  if (stored.last_stable_force &&
      (!mine.last_stable_force ||
       *mine.last_stable_force < *stored.last_stable_force)) {
    mine.last_stable_force = stored.last_stable_force;
  }
  return store_lacks;
}

// The kept record of an app not configured here, merged with what a read
// (or its own last state) brought, as Adopt merges a configured app's:
// never an older value for a later one, never an intent forgotten, never
// a count lowered. `latest`: `found` is the leader's, taken as it is.
AppRecord MergeKept(const AppRecord& kept, const AppRecord& found, bool latest,
                    const Clock& clock) {
  if (latest) return found;
  AppRecord merged = found;
  AppCounters counters = CountersFromRecord(kept, clock);
  MergeCounters(CountersFromRecord(found, clock), counters);
  PutCounters(counters, merged);
  for (const TokenRecord& mine : kept.tokens) {
    auto theirs = std::find_if(
        merged.tokens.begin(), merged.tokens.end(),
        [&](const TokenRecord& token) { return token.kind == mine.kind; });
    if (theirs == merged.tokens.end()) {
      merged.tokens.push_back(mine);
      continue;
    }
    TokenState state = FromTokenRecord(mine, clock);
    MergeStoredToken(*theirs, /*latest=*/false, clock, state, /*term=*/0);
    *theirs = ToTokenRecord(mine.kind, state);
  }
  return merged;
}

// Notes that the store may hold `intent` (TokenRecord::seen_intents).
void NoteSeen(std::vector<SeenIntent>& seen, const SeenIntent& intent) {
  if (!seen.empty() && SameSeen(seen.back(), intent)) return;
  seen.push_back(intent);
  // Forgetting the oldest only makes a leader's write merge it as the
  // earliest instead of replacing it: conservative.
  constexpr size_t kMaxSeen = 8;
  if (seen.size() > kMaxSeen) seen.erase(seen.begin());
}

}  // namespace wxtoken::server
