#include "tests/sandbox/suite_ticket_ticker.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wxtoken::sandbox {
namespace {

// How soon a suite that just got a target is pushed; short enough that a
// test waiting for its first ticket does not notice.
constexpr absl::Duration kPoll = absl::Milliseconds(100);

}  // namespace

SuiteTicketTicker::SuiteTicketTicker(std::vector<std::string> suite_ids,
                                     absl::Duration interval,
                                     HasTargetFunction has_target,
                                     PushFunction push, NowFunction now)
    : suite_ids_(std::move(suite_ids)),
      interval_(interval),
      has_target_(std::move(has_target)),
      push_(std::move(push)),
      now_(std::move(now)) {}

SuiteTicketTicker::~SuiteTicketTicker() { Stop(); }

void SuiteTicketTicker::RunOnce(absl::Time now) {
  absl::MutexLock lock(&push_mu_);
  for (const std::string& suite_id : suite_ids_) {
    // A suite without a target is due at once when it gets one.
    if (!has_target_(suite_id)) continue;
    auto it = next_due_.try_emplace(suite_id, now).first;
    if (now < it->second) continue;
    it->second = now + interval_;
    push_(suite_id);
  }
}

void SuiteTicketTicker::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock wait(&mu_);
        if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), kPoll)) return;
      }
      RunOnce(now_());
    }
  });
}

void SuiteTicketTicker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace wxtoken::sandbox
