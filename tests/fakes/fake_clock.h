#ifndef WXTOKEN_TESTS_FAKES_FAKE_CLOCK_H_
#define WXTOKEN_TESTS_FAKES_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/base/clock.h"

namespace wxtoken::server::testing {

// Clocks that move only when told to. AdvanceTime moves both, as time does;
// StepWall moves only the wall clock, as an operator or NTP does.
// Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1714000000))
      : wall_(start), steady_(SteadyTime::FromSinceBoot(absl::Hours(1000))) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return wall_;
  }
  SteadyTime SteadyNow() const override {
    absl::MutexLock lock(&mu_);
    return steady_;
  }
  void AdvanceTime(absl::Duration duration) {
    absl::MutexLock lock(&mu_);
    wall_ += duration;
    steady_ += duration;
  }
  // Moves both clocks to `time` on the wall clock.
  void SetTime(absl::Time time) { AdvanceTime(time - Now()); }
  void StepWall(absl::Duration step) {
    absl::MutexLock lock(&mu_);
    wall_ += step;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time wall_ ABSL_GUARDED_BY(mu_);
  SteadyTime steady_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::server::testing

#endif  // WXTOKEN_TESTS_FAKES_FAKE_CLOCK_H_
