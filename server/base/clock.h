#ifndef WXTOKEN_SERVER_BASE_CLOCK_H_
#define WXTOKEN_SERVER_BASE_CLOCK_H_

#include <time.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wxtoken::server {

// The only way domain code learns the time, so tests can drive it with a fake.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The real wall clock. clock_gettime directly: GetToken reads the clock on
// every call, and absl::Now() costs several times more in Debian's build.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override {
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return absl::TimeFromTimespec(now);
  }
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_BASE_CLOCK_H_
