#include "tests/sandbox/sliding_window.h"

#include <algorithm>
#include <cstdint>

#include "absl/time/time.h"

namespace wxtoken::sandbox {

void SlidingWindow::Add(absl::Time now) {
  while (!events_.empty() && events_.front() <= now - width_) {
    events_.pop_front();
  }
  // Kept sorted even if the wall clock steps back a little.
  events_.insert(std::upper_bound(events_.begin(), events_.end(), now), now);
  // A window holds the most events when it ends at one of them.
  peak_ = std::max(peak_, static_cast<int64_t>(events_.size()));
}

int64_t SlidingWindow::Count(absl::Time now) const {
  const absl::Time start = now - width_;
  auto first = std::partition_point(
      events_.begin(), events_.end(),
      [start](absl::Time event) { return event <= start; });
  auto end = std::partition_point(
      first, events_.end(), [now](absl::Time event) { return event <= now; });
  return static_cast<int64_t>(end - first);
}

}  // namespace wxtoken::sandbox
