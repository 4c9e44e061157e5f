#include "server/token/refresh_worker.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"

namespace wxtoken::server {
namespace {
// An upper bound on one wait, so that nothing depends on a wakeup alone.
constexpr absl::Duration kMaxWait = absl::Seconds(1);
}  // namespace

RefreshWorker::RefreshWorker(RefreshEngine& engine, UpstreamClient& upstream,
                             Inbox& inbox, const Clock& clock)
    : engine_(engine), upstream_(upstream), inbox_(inbox), clock_(clock) {}

RefreshWorker::~RefreshWorker() { Stop(absl::ZeroDuration()); }

void RefreshWorker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void RefreshWorker::Submit(ForceRefreshCommand command) {
  auto shared = std::make_shared<ForceRefreshCommand>(std::move(command));
  const bool queued =
      !shutdown_requested_.load() &&
      inbox_.TryPost(
          [this, shared] { engine_.ForceRefresh(std::move(*shared)); },
          kMaxQueuedCommands);
  if (!queued) {
    shared->done(shutdown_requested_.load()
                     ? absl::UnavailableError("wxtokend is shutting down")
                     : absl::ResourceExhaustedError(
                           "too many ForceRefresh calls are waiting; retry "
                           "later"));
  }
}

bool RefreshWorker::Inspect(std::function<void(const RefreshEngine&)> look) {
  return !shutdown_requested_.load() &&
         inbox_.TryPost([this, look = std::move(look)] { look(engine_); },
                        kMaxQueuedCommands);
}

void RefreshWorker::BeginShutdown() {
  shutdown_requested_.store(true);
  upstream_.Wakeup();
}

void RefreshWorker::Stop(absl::Duration drain) {
  if (!thread_.joinable()) return;
  drain_ms_.store(absl::ToInt64Milliseconds(drain));
  stop_requested_.store(true);
  BeginShutdown();
  thread_.join();
}

void RefreshWorker::Run() {
  engine_.Start();
  bool shutting_down = false;
  bool draining = false;
  SteadyTime drain_deadline = SteadyTime::InfiniteFuture();
  while (true) {
    for (Inbox::Task& task : inbox_.Take()) task();
    if (!shutting_down && shutdown_requested_.load()) {
      shutting_down = true;
      engine_.BeginShutdown();
    }
    if (!draining && stop_requested_.load()) {
      draining = true;
      drain_deadline =
          clock_.SteadyNow() + absl::Milliseconds(drain_ms_.load());
    }
    if (draining &&
        (engine_.Quiescent() || clock_.SteadyNow() >= drain_deadline)) {
      // Whatever arrived meanwhile is answered (the engine refuses new
      // work now) rather than left waiting.
      for (Inbox::Task& task : inbox_.Take()) task();
      return;
    }
    engine_.RunDue();
    const SteadyTime until = std::min(engine_.NextWakeup(), drain_deadline);
    const absl::Duration wait =
        std::clamp(until - clock_.SteadyNow(), absl::ZeroDuration(), kMaxWait);
    upstream_.Poll(wait);
  }
}

}  // namespace wxtoken::server
