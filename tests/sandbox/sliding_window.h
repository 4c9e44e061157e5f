#ifndef WXTOKEN_TESTS_SANDBOX_SLIDING_WINDOW_H_
#define WXTOKEN_TESTS_SANDBOX_SLIDING_WINDOW_H_

#include <cstdint>
#include <deque>

#include "absl/time/time.h"

namespace wxtoken::sandbox {

// Events in the last `width` (WeCom's hourly limits): how many fall in the
// window ending now, and the most any window ever held. Memory is one
// entry per event inside the window. Not thread-safe: its owner locks.
class SlidingWindow {
 public:
  explicit SlidingWindow(absl::Duration width) : width_(width) {}

  // Records one event at `now`.
  void Add(absl::Time now);
  // Events in (now - width, now].
  int64_t Count(absl::Time now) const;
  // The most events any window of `width` held so far.
  int64_t peak() const { return peak_; }

 private:
  absl::Duration width_;
  std::deque<absl::Time> events_;
  int64_t peak_ = 0;
};

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_SLIDING_WINDOW_H_
