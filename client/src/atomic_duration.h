#ifndef WXTOKEN_CLIENT_SRC_ATOMIC_DURATION_H_
#define WXTOKEN_CLIENT_SRC_ATOMIC_DURATION_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace wxtoken::client_internal {

// An absl::Duration (or an absl::Time, as its distance from the Unix epoch)
// in two relaxed atomics, the two words Abseil keeps it in: whole seconds
// and quarter nanoseconds. Loading one back is two moves, where the public
// conversions from a count of nanoseconds divide by 10^9; a cache hit loads
// four of them, and those divisions were an eighth of its instructions. The
// round trip is exact, infinities included. The two words are only
// consistent with each other under a lock around them, as PublishedToken's
// seqlock is: alone, a racing load may mix the words of two stores.
//
// absl::time_internal's accessors are the only way to the representation.
// Debian 12 pins Abseil 20220623; atomic_duration_test checks the round
// trip, so a release that changed them fails there, not in production.
class AtomicDuration {
 public:
  void Store(absl::Duration duration) {
    seconds_.store(absl::time_internal::GetRepHi(duration),
                   std::memory_order_relaxed);
    quarter_nanos_.store(absl::time_internal::GetRepLo(duration),
                         std::memory_order_relaxed);
  }
  void Store(absl::Time time) {
    Store(absl::time_internal::ToUnixDuration(time));
  }

  absl::Duration LoadDuration() const {
    return absl::time_internal::MakeDuration(
        seconds_.load(std::memory_order_relaxed),
        quarter_nanos_.load(std::memory_order_relaxed));
  }
  absl::Time LoadTime() const {
    return absl::time_internal::FromUnixDuration(LoadDuration());
  }

 private:
  std::atomic<int64_t> seconds_{0};
  std::atomic<uint32_t> quarter_nanos_{0};
};

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_ATOMIC_DURATION_H_
