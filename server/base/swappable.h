#ifndef WXTOKEN_SERVER_BASE_SWAPPABLE_H_
#define WXTOKEN_SERVER_BASE_SWAPPABLE_H_

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace wxtoken::server {

// An immutable T that a config reload replaces while readers use it: a
// reader holds what Get() returned for as long as it needs it, so a Set()
// meanwhile never changes or frees it under the reader. Thread-safe.
template <class T>
class Swappable {
 public:
  explicit Swappable(std::shared_ptr<const T> value)
      : value_(std::move(value)) {}

  std::shared_ptr<const T> Get() const {
    absl::ReaderMutexLock lock(&mu_);
    return value_;
  }
  void Set(std::shared_ptr<const T> value) {
    absl::MutexLock lock(&mu_);
    value_.swap(value);
    // The old value is released outside the lock, by `value`'s destructor
    // (or by the last reader still holding it).
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const T> value_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_BASE_SWAPPABLE_H_
