#ifndef WXTOKEN_SERVER_GRPC_METRICS_INTERCEPTOR_H_
#define WXTOKEN_SERVER_GRPC_METRICS_INTERCEPTOR_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/base/swappable.h"
#include "server/grpc/caller_authorizer.h"
#include "server/metrics/server_metrics.h"

namespace wxtoken::server {

// Trailing metadata on every error status wxtokend itself sends, so that a
// client can tell "wxtokend answered UNAVAILABLE" from "wxtokend could not
// be reached". Part of the client contract: client/src uses the same words.
inline constexpr char kErrorOriginKey[] = "wxtoken-error-origin";
inline constexpr char kErrorOriginValue[] = "wxtokend";

// The method whose handler records its own calls (SelfRecordedCall), and
// that the interceptor skips: GetToken, the hot one. gRPC's interceptor
// machinery cost it more than its whole handler (about 9,000 instructions a
// call, bench/call_instructions.sh).
inline constexpr char kSelfRecordedMethod[] =
    "/wxtoken.v1.TokenController/GetToken";

// What the interceptor does for one call, done by the handler of
// kSelfRecordedMethod: made when the handler starts; Finish just before the
// handler finishes the call.
class SelfRecordedCall {
 public:
  // Both must outlive the call.
  SelfRecordedCall(ServerMetrics* metrics,
                   const Swappable<CallerAuthorizer>* authorizer)
      : metrics_(metrics), authorizer_(authorizer), start_(absl::Now()) {}

  // Records the call's `status`, and marks an error with kErrorOriginKey.
  void Finish(grpc::CallbackServerContext* context,
              const grpc::Status& status) const;

 private:
  ServerMetrics* const metrics_;
  const Swappable<CallerAuthorizer>* const authorizer_;
  const absl::Time start_;
};

// Records every RPC the server answers (ours and grpc.health.v1 alike) into
// ServerMetrics: method, status code, caller and latency; and marks error
// statuses with kErrorOriginKey. One interceptor per RPC, except for
// kSelfRecordedMethod.
class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // Both must outlive the server.
  MetricsInterceptorFactory(ServerMetrics* metrics,
                            const Swappable<CallerAuthorizer>* authorizer)
      : metrics_(metrics), authorizer_(authorizer) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  ServerMetrics* const metrics_;
  const Swappable<CallerAuthorizer>* const authorizer_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_METRICS_INTERCEPTOR_H_
