#ifndef WXTOKEN_TESTS_FAKES_FAKE_CLOCK_H_
#define WXTOKEN_TESTS_FAKES_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/base/clock.h"

namespace wxtoken::server::testing {

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1714000000))
      : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void SetTime(absl::Time time) {
    absl::MutexLock lock(&mu_);
    now_ = time;
  }
  void AdvanceTime(absl::Duration duration) {
    absl::MutexLock lock(&mu_);
    now_ += duration;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::server::testing

#endif  // WXTOKEN_TESTS_FAKES_FAKE_CLOCK_H_
