#ifndef WXTOKEN_TESTS_E2E_TOKEN_LOAD_H_
#define WXTOKEN_TESTS_E2E_TOKEN_LOAD_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

namespace wxtoken::testing {

// GetToken calls in a loop from a few threads, as a service under load
// would make them, retrying UNAVAILABLE once (what a well-behaved gRPC
// client does) and counting the final status of each call. Bounded: it
// stops after `max_calls` or `max_time`, whichever comes first.
class TokenLoad {
 public:
  struct Options {
    int threads = 2;
    int max_calls = 200000;
    absl::Duration max_time = absl::Minutes(3);
    absl::Duration pause = absl::Milliseconds(2);  // between a thread's calls
  };

  // Starts the threads; every call goes through `channel`.
  TokenLoad(std::shared_ptr<grpc::Channel> channel, std::string app_id,
            Options options);
  ~TokenLoad();

  // Stops the threads; returns the count of calls by final status code
  // name ("OK", "CANCELLED", ...).
  std::map<std::string, int> Stop();
  // The message of the first call that ended with `code`, for a failure
  // report.
  std::string FirstMessage(const std::string& code);

  // A channel to every address, round-robin, that skips a server whose
  // health ("" service) is not SERVING (gRPC's client-side health
  // checking): what a Kubernetes Service gives a client, at call level.
  static std::shared_ptr<grpc::Channel> BalancedChannel(
      const std::vector<std::string>& addresses);

 private:
  void Run();

  const std::string app_id_;
  const Options options_;
  std::unique_ptr<wxtoken::v1::TokenController::Stub> stub_;
  std::atomic<bool> stop_{false};
  std::atomic<int> calls_{0};
  absl::Time deadline_;
  absl::Mutex mu_;
  std::map<std::string, int> codes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> messages_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace wxtoken::testing

#endif  // WXTOKEN_TESTS_E2E_TOKEN_LOAD_H_
