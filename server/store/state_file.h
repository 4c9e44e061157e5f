#ifndef WXTOKEN_SERVER_STORE_STATE_FILE_H_
#define WXTOKEN_SERVER_STORE_STATE_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/token/state_store.h"

namespace wxtoken::server {

// The embedded store's file format: one JSON document per app,
// {"format": "wxtoken-state-v2", "app_id": ..., "tokens": [...], ...}.
// Times are RFC 3339 UTC; 64-bit numbers are strings (JSON numbers are
// doubles). Pure; thread-safe.
std::string EncodeAppRecord(const AppRecord& record);

// INVALID_ARGUMENT saying what is wrong for anything that is not a complete
// v2 record (the first version's per-token files included: they lack the
// intent, so trusting them could serve a revoked token).
absl::StatusOr<AppRecord> DecodeAppRecord(absl::string_view text);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_STORE_STATE_FILE_H_
