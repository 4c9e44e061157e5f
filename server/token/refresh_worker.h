#ifndef WXTOKEN_SERVER_TOKEN_REFRESH_WORKER_H_
#define WXTOKEN_SERVER_TOKEN_REFRESH_WORKER_H_

#include <deque>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/base/clock.h"
#include "server/token/refresh_engine.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server {

// The one thread that talks to WeChat. It runs the RefreshEngine and the
// upstream client's event loop; gRPC handlers hand it ForceRefresh commands
// and are answered through the command's callback, on this thread.
// Thread-safe.
class RefreshWorker {
 public:
  // The engine and the upstream client must outlive the worker and must not
  // be touched by other threads while it runs.
  RefreshWorker(RefreshEngine& engine, UpstreamClient& upstream,
                const Clock& clock);
  ~RefreshWorker();  // Stops the thread if still running.

  void Start();

  // Queues a ForceRefresh for the worker thread.
  void Submit(ForceRefreshCommand command);

  // Answers every waiting command with UNAVAILABLE, stops and joins the
  // thread. Fetches still in flight are abandoned.
  void Stop();

 private:
  void Run();

  // Constant after construction.
  RefreshEngine& engine_;
  UpstreamClient& upstream_;
  const Clock& clock_;

  std::thread thread_;
  absl::Mutex mu_;
  std::deque<ForceRefreshCommand> commands_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_REFRESH_WORKER_H_
