#include "server/grpc/metrics_interceptor.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

namespace wxtoken::server {
namespace {

// One finished call, as the interceptor and SelfRecordedCall both record it.
void RecordCall(ServerMetrics* metrics,
                const Swappable<CallerAuthorizer>* authorizer,
                const grpc::ServerContextBase& context,
                absl::string_view method, grpc::StatusCode code,
                absl::Time start) {
  // gRPC's codes are absl's codes.
  metrics->RecordRpc(
      method, absl::StatusCodeToString(static_cast<absl::StatusCode>(code)),
      authorizer->Get()->CallerLabel(context), absl::Now() - start);
}

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
      const grpc::StatusCode code = methods->GetSendStatus().error_code();
      RecordCall(metrics_, authorizer_, *info_->server_context(), method_, code,
                 start_);
      if (code != grpc::StatusCode::OK) {
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

void SelfRecordedCall::Finish(grpc::CallbackServerContext* context,
                              const grpc::Status& status) const {
  RecordCall(metrics_, authorizer_, *context, kSelfRecordedMethod,
             status.error_code(), start_);
  if (!status.ok()) {
    context->AddTrailingMetadata(kErrorOriginKey, kErrorOriginValue);
  }
}

grpc::experimental::Interceptor*
MetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  // gRPC then runs the call without the interceptor machinery at all.
  if (absl::string_view(info->method()) == kSelfRecordedMethod) return nullptr;
  return new MetricsInterceptor(info, metrics_, authorizer_);
}

}  // namespace wxtoken::server
