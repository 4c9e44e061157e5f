#include "server/token/refresh_policy.h"

#include <algorithm>
#include <cmath>

namespace wxtoken::server {
namespace {
constexpr int64_t kBeijingOffsetSeconds = 8 * 3600;
constexpr int64_t kSecondsPerDay = 24 * 3600;
}  // namespace

int64_t BeijingDay(absl::Time time) {
  const int64_t seconds = absl::ToUnixSeconds(time) + kBeijingOffsetSeconds;
  // Floor division, so times before 1970 still land on the right day.
  return seconds >= 0 ? seconds / kSecondsPerDay
                      : -((-seconds + kSecondsPerDay - 1) / kSecondsPerDay);
}

absl::Time StartOfNextBeijingDay(absl::Time time) {
  return absl::FromUnixSeconds((BeijingDay(time) + 1) * kSecondsPerDay -
                               kBeijingOffsetSeconds);
}

absl::Duration BackoffDelay(int failures, absl::Duration initial,
                            absl::Duration max, double random01) {
  absl::Duration nominal = initial;
  for (int i = 1; i < failures && nominal < max; ++i) nominal *= 2;
  nominal = std::min(nominal, max);
  random01 = std::clamp(random01, 0.0, 1.0);
  return nominal / 2 + nominal / 2 * random01;
}

absl::Time ClassicRefreshTime(absl::Time sent, absl::Duration expires_in,
                              absl::Duration margin) {
  if (expires_in < 2 * margin) return sent + expires_in / 2;
  return sent + expires_in - margin;
}

absl::Time StableRefreshTime(absl::Time expires_at, absl::Duration overlap) {
  return expires_at - overlap * 4 / 5;
}

absl::Duration StableRecheckDelay(absl::Duration overlap) {
  return overlap / 10;
}

}  // namespace wxtoken::server
