#ifndef WXTOKEN_SERVER_TOKEN_REFRESH_POLICY_H_
#define WXTOKEN_SERVER_TOKEN_REFRESH_POLICY_H_

#include <cstdint>

#include "absl/time/time.h"

namespace wxtoken::server {

// Pure scheduling rules of the refresh worker (DESIGN.md "The refresh
// worker"), kept apart so each is tested on its own.

// WeChat's quotas reset at midnight Beijing time (UTC+8).
int64_t BeijingDay(absl::Time time);
absl::Time StartOfNextBeijingDay(absl::Time time);

// Exponential backoff with "equal jitter": after the n-th consecutive
// failure (n >= 1) wait d/2 + random01 * d/2 where d = min(max, initial *
// 2^(n-1)). Retries of many apps spread out, yet never come sooner than half
// the nominal delay.
absl::Duration BackoffDelay(int failures, absl::Duration initial,
                            absl::Duration max, double random01);

// Classic API: refresh `margin` before expiry. When the lifetime is shorter
// than twice the margin (a misconfigured margin, or a sandbox with short
// lifetimes) refresh at half the lifetime instead, so the worker never
// refreshes in a loop.
absl::Time ClassicRefreshTime(absl::Time sent, absl::Duration expires_in,
                              absl::Duration margin);

// stable_token API: WeChat issues the next token when `overlap` remains.
// Refresh when 4/5 of the overlap remains: inside WeChat's window even when
// the two clocks differ a little, and early enough that callers' max_cache
// stays below the remaining lifetime.
absl::Time StableRefreshTime(absl::Time expires_at, absl::Duration overlap);

// stable_token API: how long to wait before asking again when WeChat returned
// the value we already hold inside the window.
absl::Duration StableRecheckDelay(absl::Duration overlap);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_REFRESH_POLICY_H_
