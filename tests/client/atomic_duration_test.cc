#include "client/src/atomic_duration.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace wxtoken::client_internal {
namespace {

// Exact round trips, down to Abseil's quarter nanoseconds, on both sides of
// zero and at the infinities: what a cache hit hands out is what was stored.
TEST(AtomicDurationTest, DurationsComeBackExactly) {
  const absl::Duration durations[] = {
      absl::ZeroDuration(),
      absl::Nanoseconds(1),
      absl::Nanoseconds(-1),
      absl::Nanoseconds(1) / 4,
      absl::Minutes(4) + absl::Nanoseconds(999999999),
      -absl::Seconds(3) - absl::Nanoseconds(250),
      absl::InfiniteDuration(),
      -absl::InfiniteDuration(),
  };
  for (absl::Duration duration : durations) {
    AtomicDuration stored;
    stored.Store(duration);
    EXPECT_EQ(stored.LoadDuration(), duration) << duration;
  }
}

TEST(AtomicDurationTest, TimesComeBackExactly) {
  const absl::Time times[] = {
      absl::UnixEpoch(),       absl::FromUnixNanos(1714000000123456789),
      absl::FromUnixNanos(-1), absl::InfiniteFuture(),
      absl::InfinitePast(),
  };
  for (absl::Time time : times) {
    AtomicDuration stored;
    stored.Store(time);
    EXPECT_EQ(stored.LoadTime(), time) << time;
  }
}

TEST(AtomicDurationTest, StartsAtZero) {
  const AtomicDuration stored;
  EXPECT_EQ(stored.LoadDuration(), absl::ZeroDuration());
  EXPECT_EQ(stored.LoadTime(), absl::UnixEpoch());
}

}  // namespace
}  // namespace wxtoken::client_internal
