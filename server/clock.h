#ifndef WXTOKEN_SERVER_CLOCK_H_
#define WXTOKEN_SERVER_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wxtoken {

// The only way domain code learns the time, so tests can drive it with a fake.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The real wall clock.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace wxtoken

#endif  // WXTOKEN_SERVER_CLOCK_H_
