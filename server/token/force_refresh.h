#ifndef WXTOKEN_SERVER_TOKEN_FORCE_REFRESH_H_
#define WXTOKEN_SERVER_TOKEN_FORCE_REFRESH_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/token/observers.h"
#include "server/token/token.h"

namespace wxtoken::server {

struct ForceRefreshReply {
  Token token;
  ForceOutcome outcome = ForceOutcome::kRefreshed;
};

using ForceRefreshCallback =
    std::function<void(absl::StatusOr<ForceRefreshReply>)>;

// One ForceRefresh call handed to the refresh worker (DESIGN.md
// "ForceRefresh"). `done` runs exactly once, on the worker thread, unless
// the call was cancelled first: then the engine drops it unanswered.
struct ForceRefreshCommand {
  std::string app_id;
  TokenKind kind = TokenKind::kAccessToken;
  std::string stale_value;  // empty: whatever is current is bad
  int wechat_errcode = 0;
  // GetToken of an idle authorizer: its caller holds no value, so any
  // servable one answers it, nothing is reported bad. (Its GetToken may
  // have raced the fetch another caller caused: that value is the answer,
  // not a reason for another fetch.)
  bool wants_any = false;
  ForceRefreshCallback done;
  // Set by the caller's side when the caller gave up (deadline, cancel);
  // null when it cannot happen.
  std::shared_ptr<const std::atomic<bool>> cancelled;

  bool IsCancelled() const {
    return cancelled != nullptr && cancelled->load(std::memory_order_acquire);
  }
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_FORCE_REFRESH_H_
