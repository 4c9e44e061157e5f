#ifndef WXTOKEN_SERVER_TOKEN_STATE_RECORD_H_
#define WXTOKEN_SERVER_TOKEN_STATE_RECORD_H_

#include "server/base/clock.h"
#include "server/token/refresh_policy.h"
#include "server/token/state_store.h"

namespace wxtoken::server {

// Between the engine's state (Instants: both clocks) and what the store
// keeps (wall times only). A stored wall time comes back placed on this
// process's steady clock as far from now as it is on the wall clock.
// Pure, but for reading `clock`. A record that names an earliest intent but
// no latest (written by an earlier version) comes back with now as the
// latest: conservative.

TokenRecord ToTokenRecord(TokenKind kind, const TokenState& state);
TokenState FromTokenRecord(const TokenRecord& record, const Clock& clock);

// The app's counters go into / come out of `record` (its tokens aside).
void PutCounters(const AppCounters& counters, AppRecord& record);
AppCounters CountersFromRecord(const AppRecord& record, const Clock& clock);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_STATE_RECORD_H_
