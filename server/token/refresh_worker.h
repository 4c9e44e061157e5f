#ifndef WXTOKEN_SERVER_TOKEN_REFRESH_WORKER_H_
#define WXTOKEN_SERVER_TOKEN_REFRESH_WORKER_H_

#include <atomic>
#include <thread>

#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/token/force_refresh.h"
#include "server/token/inbox.h"
#include "server/token/refresh_engine.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server {

// The one thread that talks to WeChat. It runs the RefreshEngine, the
// upstream client's event loop and whatever other threads post to the
// Inbox; gRPC handlers hand it ForceRefresh commands and are answered
// through the command's callback, on this thread. Thread-safe.
class RefreshWorker {
 public:
  // ForceRefresh commands waiting for the worker; past this a call is
  // answered RESOURCE_EXHAUSTED at once.
  static constexpr size_t kMaxQueuedCommands = 10000;

  // Everything must outlive the worker; the engine and the upstream client
  // must not be touched by other threads while it runs.
  RefreshWorker(RefreshEngine& engine, UpstreamClient& upstream, Inbox& inbox,
                const Clock& clock);
  ~RefreshWorker();  // Stop() if still running.

  void Start();

  // Queues a ForceRefresh for the worker thread.
  void Submit(ForceRefreshCommand command);

  // Runs `look` on the worker thread with the engine (ListOwners,
  // DescribeOwner); false when it will not run (shutting down, too many
  // waiting), and then nothing is queued.
  bool Inspect(std::function<void(const RefreshEngine&)> look);

  // Shutdown, first step: no request starts any more and waiting
  // ForceRefresh calls are answered UNAVAILABLE; requests in flight go on.
  // Returns at once.
  void BeginShutdown();

  // BeginShutdown(), then lets requests in flight finish and records their
  // answers, for at most `drain`; then stops the thread. A request still
  // unanswered then stays recorded as unanswered.
  void Stop(absl::Duration drain);

 private:
  void Run();

  // Constant after construction.
  RefreshEngine& engine_;
  UpstreamClient& upstream_;
  Inbox& inbox_;
  const Clock& clock_;

  std::thread thread_;
  std::atomic<bool> shutdown_requested_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<int64_t> drain_ms_{0};
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_REFRESH_WORKER_H_
