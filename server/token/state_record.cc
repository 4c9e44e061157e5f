#include "server/token/state_record.h"

#include <algorithm>
#include <optional>

namespace wxtoken::server {
namespace {

std::optional<absl::Time> WallOf(const std::optional<Instant>& instant) {
  if (!instant) return std::nullopt;
  return instant->wall;
}

std::optional<Instant> InstantOf(const std::optional<absl::Time>& wall,
                                 const Clock& clock) {
  if (!wall) return std::nullopt;
  return clock.FromWall(*wall);
}

}  // namespace

TokenRecord ToTokenRecord(TokenKind kind, const TokenState& state) {
  TokenRecord record;
  record.kind = kind;
  record.value = state.value;
  record.generation = state.generation;
  record.epoch = state.epoch;
  record.fetched_at = state.fetched.wall;
  record.expires_at = state.expires.wall;
  record.intent = WallOf(state.intent);
  if (state.intent) {
    record.latest_intent = WallOf(state.latest_intent.value_or(*state.intent));
  }
  return record;
}

TokenState FromTokenRecord(const TokenRecord& record, const Clock& clock) {
  TokenState state;
  state.value = record.value;
  state.generation = record.generation;
  state.epoch = record.epoch;
  state.fetched = clock.FromWall(record.fetched_at);
  state.expires = clock.FromWall(record.expires_at);
  state.intent = InstantOf(record.intent, clock);
  if (state.intent) {
    // A record of a version that kept only the earliest: a later request
    // may have gone out unrecorded until that version stopped, no later
    // than now.
    state.latest_intent = record.latest_intent
                              ? clock.FromWall(*record.latest_intent)
                              : std::max(*state.intent, clock.InstantNow());
  }
  return state;
}

void PutCounters(const AppCounters& counters, AppRecord& record) {
  record.day = counters.day;
  record.fetches = counters.fetches;
  record.force_fetches = counters.force_fetches;
  record.stable_forces = counters.stable_forces;
  record.last_stable_force = WallOf(counters.last_stable_force);
  record.quota_blocked_until = WallOf(counters.quota_blocked_until);
}

AppCounters CountersFromRecord(const AppRecord& record, const Clock& clock) {
  AppCounters counters;
  counters.day = record.day;
  counters.fetches = record.fetches;
  counters.force_fetches = record.force_fetches;
  counters.stable_forces = record.stable_forces;
  counters.last_stable_force = InstantOf(record.last_stable_force, clock);
  counters.quota_blocked_until = InstantOf(record.quota_blocked_until, clock);
  return counters;
}

}  // namespace wxtoken::server
