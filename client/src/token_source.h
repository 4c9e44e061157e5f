#ifndef WXTOKEN_CLIENT_SRC_TOKEN_SOURCE_H_
#define WXTOKEN_CLIENT_SRC_TOKEN_SOURCE_H_

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "wxtoken/client.h"

namespace wxtoken::client_internal {

// The payload a TokenSource puts on a status when the controller gave no
// answer at all (not reached, or not in time), as opposed to an error the
// controller answered. Only then may the cache fall back to a value it holds.
inline constexpr absl::string_view kUnreachablePayload =
    "type.wxtoken.dev/unreachable";

inline absl::Status Unreachable(absl::Status status) {
  status.SetPayload(kUnreachablePayload, absl::Cord("1"));
  return status;
}
inline bool IsUnreachable(const absl::Status& status) {
  return status.GetPayload(kUnreachablePayload).has_value();
}

// A WatchToken end that says the controller will never stream to this
// client (it has no WatchToken, or does not grant it): polling is all that
// is left.
inline bool IsWatchRefused(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnimplemented ||
         status.code() == absl::StatusCode::kPermissionDenied ||
         status.code() == absl::StatusCode::kUnauthenticated;
}

// A WatchToken end after which asking again on a timer changes nothing:
// refused, or an app_id the controller does not know or will not take
// (NOT_FOUND, INVALID_ARGUMENT; a service may pass app_ids that came with
// its own requests). The entry may open another stream once the controller
// gives it a token.
inline bool IsWatchFinal(const absl::Status& status) {
  return IsWatchRefused(status) ||
         status.code() == absl::StatusCode::kNotFound ||
         status.code() == absl::StatusCode::kInvalidArgument;
}

// A WatchToken stream a TokenSource keeps open for one entry, reconnecting
// with jittered backoff when it ends. Destroying it ends it and waits until
// no handler runs any more.
class TokenWatch {
 public:
  virtual ~TokenWatch() = default;
  // The stream failed to renew the last value in time (a silent connection):
  // drop it and connect again.
  virtual void Restart() = 0;
};

// What a TokenWatch tells its entry, on the watch's own thread.
struct WatchHandlers {
  // A stream is about to be requested: its messages' stream_age counts
  // from no earlier than now.
  std::function<void()> on_open;
  // A message, as it arrives: the controller's current token, made
  // `stream_age` after the controller began the stream.
  std::function<void(Token token, absl::Duration stream_age)> on_token;
  // The stream ended with `status` (statuses as for GetToken). The watch
  // connects again, unless `final` (IsWatchFinal): then its thread ends
  // once this returns.
  std::function<void(const absl::Status& status, bool final)> on_end;
};

// The controller's token RPCs, as the cache sees them: the gRPC adapter
// implements it, and keeps gRPC and the generated proto out of the cache.
// Implementations are thread-safe and bound every call in time.
class TokenSource {
 public:
  virtual ~TokenSource() = default;

  // The controller's current token. A controller that cannot be reached in
  // time is UNAVAILABLE (never DEADLINE_EXCEEDED) and IsUnreachable().
  virtual absl::StatusOr<Token> GetToken(absl::string_view app_id,
                                         TokenKind kind) = 0;

  // ForceRefresh: `stale_value` was rejected by WeChat with `errcode`.
  // Statuses as for GetToken.
  virtual absl::StatusOr<Token> ForceRefresh(absl::string_view app_id,
                                             TokenKind kind,
                                             absl::string_view stale_value,
                                             int errcode) = 0;

  // WatchToken for (app_id, kind), kept open until the result is destroyed.
  virtual std::unique_ptr<TokenWatch> Watch(absl::string_view app_id,
                                            TokenKind kind,
                                            WatchHandlers handlers) = 0;
};

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_TOKEN_SOURCE_H_
