#ifndef WXTOKEN_TESTS_FAKES_FAKE_UPSTREAM_H_
#define WXTOKEN_TESTS_FAKES_FAKE_UPSTREAM_H_

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server::testing {

// An upstream whose fetches stay in flight until the test completes them.
// Single-threaded, like the worker that drives the real one.
class FakeUpstream final : public UpstreamClient {
 public:
  struct Call {
    FetchRequest request;
    Callback done;
  };

  void Start(FetchRequest request, Callback done) override {
    started_.push_back(request);
    in_flight_.push_back({std::move(request), std::move(done)});
  }
  void Poll(absl::Duration) override {}
  void Wakeup() override {}
  int InFlight() const override { return static_cast<int>(in_flight_.size()); }

  // Every request ever started, in order.
  const std::vector<FetchRequest>& started() const { return started_; }

  // Completes the oldest in-flight fetch with `result`.
  void Complete(FetchResult result) {
    Call call = std::move(in_flight_.front());
    in_flight_.pop_front();
    call.done(std::move(result));
  }
  // Completes the oldest in-flight fetch with a fresh token "token-N".
  std::string Succeed(absl::Duration expires_in = absl::Seconds(7200)) {
    FetchResult result;
    result.value = absl::StrCat("token-", ++issued_);
    result.expires_in = expires_in;
    std::string value = result.value;
    Complete(std::move(result));
    return value;
  }
  // Completes the oldest in-flight fetch with the given value.
  void SucceedWith(const std::string& value, absl::Duration expires_in) {
    FetchResult result;
    result.value = value;
    result.expires_in = expires_in;
    Complete(std::move(result));
  }
  void Fail(FailureClass failure, int errcode, bool maybe_issued = false) {
    FetchResult result;
    result.failure = failure;
    result.errcode = errcode;
    result.maybe_issued = maybe_issued;
    result.detail = absl::StrCat("injected errcode ", errcode);
    Complete(std::move(result));
  }

 private:
  std::deque<Call> in_flight_;
  std::vector<FetchRequest> started_;
  int issued_ = 0;
};

}  // namespace wxtoken::server::testing

#endif  // WXTOKEN_TESTS_FAKES_FAKE_UPSTREAM_H_
