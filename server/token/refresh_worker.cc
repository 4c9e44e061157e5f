#include "server/token/refresh_worker.h"

#include <algorithm>
#include <utility>

namespace wxtoken::server {
namespace {
// An upper bound on one wait, so a wall-clock jump is noticed within a second.
constexpr absl::Duration kMaxWait = absl::Seconds(1);
}  // namespace

RefreshWorker::RefreshWorker(RefreshEngine& engine, UpstreamClient& upstream,
                             const Clock& clock)
    : engine_(engine), upstream_(upstream), clock_(clock) {}

RefreshWorker::~RefreshWorker() { Stop(); }

void RefreshWorker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void RefreshWorker::Submit(ForceRefreshCommand command) {
  bool accepted;
  {
    absl::MutexLock lock(&mu_);
    accepted = !stopping_;
    if (accepted) commands_.push_back(std::move(command));
  }
  if (!accepted) {
    command.done(absl::UnavailableError("wxtokend is shutting down"));
    return;
  }
  upstream_.Wakeup();
}

void RefreshWorker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  upstream_.Wakeup();
  if (thread_.joinable()) thread_.join();
}

void RefreshWorker::Run() {
  engine_.Start();
  while (true) {
    std::deque<ForceRefreshCommand> commands;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      commands.swap(commands_);
      stopping = stopping_;
    }
    if (stopping) {
      const absl::Status status =
          absl::UnavailableError("wxtokend is shutting down");
      for (ForceRefreshCommand& command : commands) command.done(status);
      engine_.FailAllWaiters(status);
      return;
    }
    for (ForceRefreshCommand& command : commands) {
      engine_.ForceRefresh(std::move(command));
    }
    engine_.RunDue();
    const absl::Duration wait = std::clamp(engine_.NextWakeup() - clock_.Now(),
                                           absl::ZeroDuration(), kMaxWait);
    upstream_.Poll(wait);
  }
}

}  // namespace wxtoken::server
