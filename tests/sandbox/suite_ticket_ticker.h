#ifndef WXTOKEN_TESTS_SANDBOX_SUITE_TICKET_TICKER_H_
#define WXTOKEN_TESTS_SANDBOX_SUITE_TICKET_TICKER_H_

#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wxtoken::sandbox {

// WeCom's clock for suite_tickets: it pushes each suite a new one about
// every 10 minutes, with no call from the provider (WECHAT.md). Each suite
// is pushed as soon as it has somewhere to be pushed to, then every
// `interval`; a suite without a target waits, and is pushed at once when it
// gets one. Thread-safe.
class SuiteTicketTicker {
 public:
  using HasTargetFunction = std::function<bool(const std::string& suite_id)>;
  // Mints and pushes one ticket (PushSuiteTicket).
  using PushFunction = std::function<void(const std::string& suite_id)>;
  using NowFunction = std::function<absl::Time()>;

  SuiteTicketTicker(std::vector<std::string> suite_ids, absl::Duration interval,
                    HasTargetFunction has_target, PushFunction push,
                    NowFunction now);
  ~SuiteTicketTicker();

  SuiteTicketTicker(const SuiteTicketTicker&) = delete;
  SuiteTicketTicker& operator=(const SuiteTicketTicker&) = delete;

  // Pushes every suite due at `now`. The thread calls it; tests call it
  // with a fake time and no thread.
  void RunOnce(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_, push_mu_);
  // Calls RunOnce on a background thread every kPoll until Stop().
  void Start() ABSL_LOCKS_EXCLUDED(mu_);
  // Joins the thread (after a push in flight ends). Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::vector<std::string> suite_ids_;
  const absl::Duration interval_;
  const HasTargetFunction has_target_;
  const PushFunction push_;
  const NowFunction now_;

  // Held across a round of pushes, so two rounds never push one suite
  // twice for one due time.
  absl::Mutex push_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  std::map<std::string, absl::Time> next_due_ ABSL_GUARDED_BY(push_mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_SUITE_TICKET_TICKER_H_
