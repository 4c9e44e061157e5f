#include "server/token/watch_cursor.h"

#include <algorithm>

namespace wxtoken::server {

WatchCursor::Action WatchCursor::Next(const absl::StatusOr<Token>& current,
                                      bool resend) {
  if (!current.ok()) {
    // Before the first value (a controller just started) the stream waits
    // for it rather than send its callers into a reconnect loop; a token
    // that stopped being servable, or never will be, ends the stream.
    const bool first_not_yet_fetched =
        !holds_ && current.status().code() == absl::StatusCode::kUnavailable;
    return first_not_yet_fetched ? Action::kNothing : Action::kEnd;
  }
  bool send;
  if (!started_) {
    started_ = true;
    // A caller that holds the current generation hears of the next change
    // only, measured from what is current now.
    send = known_generation_ == 0 || current->generation != known_generation_;
  } else {
    // A resend renews a message's max_cache; with none sent there is none.
    send = current->generation != generation_ ||
           current->expires_at < expires_at_ || (resend && sent_);
  }
  generation_ = current->generation;
  expires_at_ = std::min(expires_at_, current->expires_at);
  holds_ = true;
  if (!send) return Action::kNothing;
  sent_ = true;
  expires_at_ = current->expires_at;
  return Action::kSend;
}

}  // namespace wxtoken::server
