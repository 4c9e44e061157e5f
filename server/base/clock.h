#ifndef WXTOKEN_SERVER_BASE_CLOCK_H_
#define WXTOKEN_SERVER_BASE_CLOCK_H_

#include <time.h>

#include <compare>
#include <ostream>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wxtoken::server {

// A point on the monotonic clock: it never steps, and means nothing outside
// this process. Timers, deadlines, backoff and how long a token may still be
// served are all measured with it, so a wall-clock step cannot make a token
// servable longer.
class SteadyTime {
 public:
  constexpr SteadyTime() = default;
  static constexpr SteadyTime FromSinceBoot(absl::Duration since_boot) {
    return SteadyTime(since_boot);
  }
  static constexpr SteadyTime InfinitePast() {
    return SteadyTime(-absl::InfiniteDuration());
  }
  static constexpr SteadyTime InfiniteFuture() {
    return SteadyTime(absl::InfiniteDuration());
  }

  SteadyTime& operator+=(absl::Duration d) {
    since_boot_ += d;
    return *this;
  }
  friend SteadyTime operator+(SteadyTime t, absl::Duration d) { return t += d; }
  friend SteadyTime operator-(SteadyTime t, absl::Duration d) {
    return t += -d;
  }
  friend absl::Duration operator-(SteadyTime a, SteadyTime b) {
    return a.since_boot_ - b.since_boot_;
  }
  friend bool operator==(SteadyTime a, SteadyTime b) {
    return a.since_boot_ == b.since_boot_;
  }
  friend std::weak_ordering operator<=>(SteadyTime a, SteadyTime b) {
    if (a.since_boot_ < b.since_boot_) return std::weak_ordering::less;
    if (b.since_boot_ < a.since_boot_) return std::weak_ordering::greater;
    return std::weak_ordering::equivalent;
  }
  // "steady+1000h0m30s", for logs and test failures.
  friend std::ostream& operator<<(std::ostream& out, SteadyTime t) {
    return out << "steady+" << absl::FormatDuration(t.since_boot_);
  }

 private:
  constexpr explicit SteadyTime(absl::Duration since_boot)
      : since_boot_(since_boot) {}
  absl::Duration since_boot_;
};

// One moment read off both clocks. Whatever the refresh worker records (when
// a request was sent, until when a token is valid) is an Instant: `steady`
// decides, `wall` is what is stored and told to callers. Ordered by `steady`.
struct Instant {
  absl::Time wall;
  SteadyTime steady;

  friend Instant operator+(Instant t, absl::Duration d) {
    return {t.wall + d, t.steady + d};
  }
  friend Instant operator-(Instant t, absl::Duration d) {
    return {t.wall - d, t.steady - d};
  }
  friend absl::Duration operator-(Instant a, Instant b) {
    return a.steady - b.steady;
  }
  friend bool operator==(Instant a, Instant b) { return a.steady == b.steady; }
  friend std::weak_ordering operator<=>(Instant a, Instant b) {
    return a.steady <=> b.steady;
  }
  friend std::ostream& operator<<(std::ostream& out, Instant t) {
    return out << absl::FormatTime(t.wall) << " (" << t.steady << ")";
  }
};

// The only way domain code learns the time, so tests can drive it with a fake.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // The wall clock: for what is stored, logged or sent to callers.
  virtual absl::Time Now() const = 0;
  // The monotonic clock: for every decision about time.
  virtual SteadyTime SteadyNow() const = 0;

  Instant InstantNow() const { return {Now(), SteadyNow()}; }
  // The Instant of a wall time read from somewhere else (a state file, a
  // peer): placed on the steady clock as far from now as it is from now on
  // the wall clock.
  Instant FromWall(absl::Time wall) const {
    const Instant now = InstantNow();
    return {wall, now.steady + (wall - now.wall)};
  }
};

// The real clocks. clock_gettime directly: GetToken reads the steady clock on
// every call, and absl::Now() costs several times more in Debian's build.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override {
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return absl::TimeFromTimespec(now);
  }
  SteadyTime SteadyNow() const override {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return SteadyTime::FromSinceBoot(absl::DurationFromTimespec(now));
  }
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_BASE_CLOCK_H_
