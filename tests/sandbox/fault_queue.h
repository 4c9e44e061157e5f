#ifndef WXTOKEN_TESTS_SANDBOX_FAULT_QUEUE_H_
#define WXTOKEN_TESTS_SANDBOX_FAULT_QUEUE_H_

#include <cstddef>
#include <deque>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wxtoken::sandbox {

// The emulated endpoints a fault can hit: WeChat's, then WeCom's
// (/cgi-bin/gettoken, /cgi-bin/get_jsapi_ticket, /cgi-bin/ticket/get), then
// WeCom's service-provider ones (/cgi-bin/service/get_provider_token,
// get_suite_token, get_permanent_code, get_corp_token).
enum class Endpoint {
  kToken,
  kStableToken,
  kGetTicket,
  kWeComToken,
  kWeComCorpTicket,
  kWeComAgentTicket,
  kProviderToken,
  kSuiteToken,
  kPermanentCode,
  kSuiteCorpToken,
};

// A misbehaviour the tests ask for (POST /sandbox/fault).
struct Fault {
  enum class Kind {
    kErrcode,    // answer {"errcode":E,"errmsg":"injected"}
    kHttp500,    // HTTP 500
    kSlow,       // process normally, answer `delay` later
    kMalformed,  // HTTP 200 with a body that is not JSON
    kDrop,       // close the connection without an answer
    // process `delay` later and close the connection without an answer:
    // a request WeChat handled after the client gave up on it (counted on
    // arrival at /cgi-bin/token and /cgi-bin/gettoken, on processing
    // elsewhere)
    kLate,
  };
  Kind kind = Kind::kErrcode;
  int errcode = -1;                             // kErrcode
  absl::Duration delay = absl::ZeroDuration();  // kSlow, kLate
  std::optional<Endpoint> endpoint;             // nullopt: any endpoint
  int count = 1;  // requests left to hit; -1 = until cleared
};

// Builds a Fault from the query parameters of POST /sandbox/fault; empty
// strings mean the parameter was absent. INVALID_ARGUMENT names the bad one.
absl::StatusOr<Fault> ParseFault(absl::string_view kind,
                                 absl::string_view count,
                                 absl::string_view errcode,
                                 absl::string_view delay_ms,
                                 absl::string_view endpoint);

// Faults waiting for requests, in the order they were added. A request takes
// the first fault that matches its endpoint. Thread-safe.
class FaultQueue {
 public:
  void Add(Fault fault) ABSL_LOCKS_EXCLUDED(mu_);
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);
  // The fault for one request to `endpoint`, if any; uses up one of its count.
  std::optional<Fault> Take(Endpoint endpoint) ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::deque<Fault> faults_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_FAULT_QUEUE_H_
