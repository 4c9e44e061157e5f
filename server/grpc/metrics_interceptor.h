#ifndef WXTOKEN_SERVER_GRPC_METRICS_INTERCEPTOR_H_
#define WXTOKEN_SERVER_GRPC_METRICS_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include "server/base/swappable.h"
#include "server/grpc/caller_authorizer.h"
#include "server/metrics/server_metrics.h"

namespace wxtoken::server {

// Trailing metadata on every error status wxtokend itself sends, so that a
// client can tell "wxtokend answered UNAVAILABLE" from "wxtokend could not
// be reached". Part of the client contract: client/src uses the same words.
inline constexpr char kErrorOriginKey[] = "wxtoken-error-origin";
inline constexpr char kErrorOriginValue[] = "wxtokend";

// Records every RPC the server answers (ours and grpc.health.v1 alike) into
// ServerMetrics: method, status code, caller and latency; and marks error
// statuses with kErrorOriginKey. One interceptor per RPC.
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
