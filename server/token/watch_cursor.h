#ifndef WXTOKEN_SERVER_TOKEN_WATCH_CURSOR_H_
#define WXTOKEN_SERVER_TOKEN_WATCH_CURSOR_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/token/token.h"

namespace wxtoken::server {

// What one WatchToken stream has told its caller, and so what it must tell
// next (DESIGN.md "API", WatchToken): a message when the generation changes
// or the validity shrinks, or when the last message is due again; the end,
// with GetToken's status, when the token stops being servable. A stream
// that has sent nothing waits out UNAVAILABLE (no value fetched yet) for
// the first value. Pure; not thread-safe.
class WatchCursor {
 public:
  enum class Action { kNothing, kSend, kEnd };

  // `known_generation`: what the caller already holds (0: nothing). When it
  // is current, the first message is the next change.
  explicit WatchCursor(uint64_t known_generation)
      : known_generation_(known_generation) {}

  // What to do given the table's answer now; `resend`: the last message
  // nears the end of its max_cache. kSend counts `current` as sent.
  Action Next(const absl::StatusOr<Token>& current, bool resend);

 private:
  const uint64_t known_generation_;
  bool started_ = false;  // Next() was called
  bool sent_ = false;     // a message was sent
  // The caller holds a value: one sent, or the known generation.
  bool holds_ = false;
  // What the caller holds: the last message's, or the known generation's
  // at the start; a shorter validity than this is news.
  uint64_t generation_ = 0;
  absl::Time expires_at_ = absl::InfiniteFuture();
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_WATCH_CURSOR_H_
