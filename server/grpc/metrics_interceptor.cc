#include "server/grpc/metrics_interceptor.h"

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

namespace wxtoken::server {
namespace {

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(grpc::experimental::ServerRpcInfo* info,
                     ServerMetrics* metrics,
                     const Swappable<CallerAuthorizer>* authorizer)
      : info_(info),
        method_(info->method()),
        metrics_(metrics),
        authorizer_(authorizer),
        start_(absl::Now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      // gRPC's codes are absl's codes.
      const auto code =
          static_cast<absl::StatusCode>(methods->GetSendStatus().error_code());
      metrics_->RecordRpc(
          method_, absl::StatusCodeToString(code),
          authorizer_->Get()->CallerLabel(*info_->server_context()),
          absl::Now() - start_);
      if (code != absl::StatusCode::kOk) {
        // Tells clients this error is wxtokend's answer, not a failure to
        // reach it (client libraries fall back only on the latter).
        methods->GetSendTrailingMetadata()->emplace(kErrorOriginKey,
                                                    kErrorOriginValue);
      }
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* const info_;
  // info_->method(): lives as long as the call, so as long as this.
  const absl::string_view method_;
  ServerMetrics* const metrics_;
  const Swappable<CallerAuthorizer>* const authorizer_;
  const absl::Time start_;
};

}  // namespace

grpc::experimental::Interceptor*
MetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new MetricsInterceptor(info, metrics_, authorizer_);
}

}  // namespace wxtoken::server
