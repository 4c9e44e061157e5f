#ifndef WXTOKEN_TESTS_FAKES_FAKE_UPSTREAM_H_
#define WXTOKEN_TESTS_FAKES_FAKE_UPSTREAM_H_

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server::testing {

// An upstream whose requests stay in flight until the test answers them,
// oldest first. Single-threaded, like the worker that drives the real one.
class FakeUpstream final : public UpstreamClient {
 public:
  struct Call {
    FetchRequest request;
    Callback done;
  };

  // Values it issues are `prefix` followed by a count.
  explicit FakeUpstream(size_t bases = 1, std::string prefix = "token-")
      : bases_(bases), prefix_(std::move(prefix)) {}

  void Start(FetchRequest request, Callback done) override {
    started_.push_back(request);
    in_flight_.push_back({std::move(request), std::move(done)});
  }
  size_t BaseCount(FetchApi) const override { return bases_; }
  void Poll(absl::Duration) override {}
  void Wakeup() override {}
  int InFlight() const override { return static_cast<int>(in_flight_.size()); }

  // Every request ever started, in order.
  const std::vector<FetchRequest>& started() const { return started_; }
  // The oldest request in flight.
  const FetchRequest& front() const { return in_flight_.front().request; }

  // Answers the oldest request in flight with `result`.
  void Complete(FetchResult result) {
    Call call = std::move(in_flight_.front());
    in_flight_.pop_front();
    call.done(std::move(result));
  }
  // Answers the newest request in flight with `result` (answers that
  // overtake older ones).
  void CompleteNewest(FetchResult result) {
    Call call = std::move(in_flight_.back());
    in_flight_.pop_back();
    call.done(std::move(result));
  }
  // ... with a fresh value `prefix`N.
  std::string Succeed(absl::Duration expires_in = absl::Seconds(7200)) {
    std::string value = absl::StrCat(prefix_, ++issued_);
    SucceedWith(value, expires_in);
    return value;
  }
  void SucceedWith(const std::string& value, absl::Duration expires_in) {
    FetchResult result;
    result.value = value;
    result.expires_in = expires_in;
    Complete(std::move(result));
  }
  // ... with a failure; `maybe_issued` as for a timeout or a 5xx.
  void Fail(FailureClass failure, int errcode, bool maybe_issued = false) {
    Complete(Failure(failure, errcode, maybe_issued));
  }
  void TimeOut() { Fail(FailureClass::kTransient, 0, /*maybe_issued=*/true); }
  // A whitelist error naming the address WeChat saw.
  void FailFromIp(int errcode, const std::string& ip) {
    FetchResult result = Failure(FailureClass::kPermanent, errcode, false);
    result.egress_ip = ip;
    Complete(std::move(result));
  }

 private:
  static FetchResult Failure(FailureClass failure, int errcode,
                             bool maybe_issued) {
    FetchResult result;
    result.failure = failure;
    result.errcode = errcode;
    result.maybe_issued = maybe_issued;
    result.detail = absl::StrCat("injected errcode ", errcode);
    return result;
  }

  const size_t bases_;
  const std::string prefix_;
  std::deque<Call> in_flight_;
  std::vector<FetchRequest> started_;
  int issued_ = 0;
};

}  // namespace wxtoken::server::testing

#endif  // WXTOKEN_TESTS_FAKES_FAKE_UPSTREAM_H_
