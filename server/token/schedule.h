#ifndef WXTOKEN_SERVER_TOKEN_SCHEDULE_H_
#define WXTOKEN_SERVER_TOKEN_SCHEDULE_H_

#include <set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "server/base/clock.h"

namespace wxtoken::server {

// When each of a set of items is next due, earliest first: O(log n) to set,
// clear or pop, so the engine's loop costs the same for 10 apps or 10,000.
// An item is due at most once at a time. Not thread-safe.
template <class T>
class Schedule {
 public:
  // Makes `item` due at `at`, replacing any earlier setting.
  // SteadyTime::InfiniteFuture() clears it.
  void Set(T* item, SteadyTime at) {
    Clear(item);
    if (at == SteadyTime::InfiniteFuture()) return;
    queue_.emplace(at, item);
    when_[item] = at;
  }
  void Clear(T* item) {
    auto it = when_.find(item);
    if (it == when_.end()) return;
    queue_.erase({it->second, item});
    when_.erase(it);
  }
  // When `item` is due, or InfiniteFuture() when it is not.
  SteadyTime When(const T* item) const {
    auto it = when_.find(const_cast<T*>(item));
    return it == when_.end() ? SteadyTime::InfiniteFuture() : it->second;
  }

  // The earliest due time, or InfiniteFuture() when nothing is due.
  SteadyTime Next() const {
    return queue_.empty() ? SteadyTime::InfiniteFuture()
                          : queue_.begin()->first;
  }
  // The earliest item if it is due at `now` (removed), else nullptr.
  T* PopDue(SteadyTime now) {
    if (queue_.empty() || queue_.begin()->first > now) return nullptr;
    T* item = queue_.begin()->second;
    Clear(item);
    return item;
  }

 private:
  std::set<std::pair<SteadyTime, T*>> queue_;
  absl::flat_hash_map<T*, SteadyTime> when_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_SCHEDULE_H_
