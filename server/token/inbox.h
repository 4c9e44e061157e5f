#ifndef WXTOKEN_SERVER_TOKEN_INBOX_H_
#define WXTOKEN_SERVER_TOKEN_INBOX_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace wxtoken::server {

// Work handed to the refresh worker's thread from other threads: gRPC
// handlers' ForceRefresh calls and the state store's write completions.
// Posting wakes the worker (through `wake`, which must be thread-safe).
// Thread-safe.
class Inbox {
 public:
  using Task = std::function<void()>;

  explicit Inbox(std::function<void()> wake) : wake_(std::move(wake)) {}
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  // Always queues `task`: for work whose amount the worker bounds itself.
  void Post(Task task) {
    {
      absl::MutexLock lock(&mu_);
      tasks_.push_back(std::move(task));
    }
    wake_();
  }

  // Queues `task` unless `limit` tasks posted this way are waiting already:
  // for work that arrives from outside, so a flood is refused rather than
  // queued. The worker's own tasks (Post) do not count: a list pass's
  // thousands of write completions must not turn a ForceRefresh away.
  bool TryPost(Task task, size_t limit) {
    {
      absl::MutexLock lock(&mu_);
      if (outside_ >= limit) return false;
      tasks_.push_back(std::move(task));
      ++outside_;
    }
    wake_();
    return true;
  }

  // Everything queued so far, in order, for the worker thread to run.
  std::deque<Task> Take() {
    std::deque<Task> tasks;
    absl::MutexLock lock(&mu_);
    tasks.swap(tasks_);
    outside_ = 0;
    return tasks;
  }

 private:
  const std::function<void()> wake_;
  absl::Mutex mu_;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mu_);
  size_t outside_ ABSL_GUARDED_BY(mu_) = 0;  // of tasks_, from TryPost
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_INBOX_H_
