#ifndef WXTOKEN_SERVER_STORE_REDIS_RECORDS_H_
#define WXTOKEN_SERVER_STORE_REDIS_RECORDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/token/state_store.h"

namespace wxtoken::server {

// AppRecords as the Redis store keeps them (store/redis_scripts.h): the
// arguments of the write script, and back from a hash's fields. Times are
// Unix microseconds. Pure; thread-safe.

// kWrite's arguments from "kinds n" on.
std::vector<std::string> RedisWriteArgs(const AppRecord& record);

// The record of `app_id` from HGETALL's field, value, field, value... list.
// INVALID_ARGUMENT naming the field for anything that is not ours.
absl::StatusOr<AppRecord> RedisRecord(const std::string& app_id,
                                      const std::vector<std::string>& fields);

// One token of kWrite's answer: {value, generation, fetched_at, expires_at,
// intent, epoch} as stored.
absl::StatusOr<TokenRecord> RedisStoredToken(
    TokenKind kind, const std::vector<std::string>& fields);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_STORE_REDIS_RECORDS_H_
