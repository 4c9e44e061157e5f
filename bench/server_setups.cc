// The empty call (grpc.health.v1 Health/Check, answered SERVING) served by
// one gRPC server setup, so bench/server_setups.sh can measure what each
// setup costs per call with h2load, without the rest of wxtokend:
//   --setup=callback   the callback API, as wxtokend serves (gRPC's own
//                      threads run the handlers)
//   --setup=async      the async completion-queue API: --threads
//                      completion queues, each polled by its own thread,
//                      as grpc_bench's cpp_grpc_mt does
//   --quota            with wxtokend's 256 MiB ResourceQuota
//   --metrics=family   callback, with an interceptor recording each call as
//                      wxtokend did before RpcSeries: prometheus-cpp's
//                      Family::Add per call for the counter and histogram
//   --metrics=series   the same through RpcSeries, as wxtokend records now
//   --metrics=empty    an interceptor that records nothing: its own cost
// Listens on 127.0.0.1 (a port picked free) and prints "port N" once ready;
// runs until stdin closes.
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/metrics/rpc_series.h"
#include "server/metrics/server_metrics.h"

ABSL_FLAG(std::string, setup, "callback", "callback or async");
ABSL_FLAG(int, threads, 2, "async: completion queues, one thread each");
ABSL_FLAG(bool, quota, false, "set wxtokend's 256 MiB ResourceQuota");
ABSL_FLAG(std::string, metrics, "",
          "callback: record each call (family, series) or only intercept it "
          "(empty)");

namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class CallbackHealth final : public Health::CallbackService {
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const HealthCheckRequest*,
                                  HealthCheckResponse* response) override {
    response->set_status(HealthCheckResponse::SERVING);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// One Check call of the async API: requested, answered, then replaced by
// the next request on the same queue.
class AsyncCheck {
 public:
  AsyncCheck(Health::AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), responder_(&context_) {
    service_->RequestCheck(&context_, &request_, &responder_, cq_, cq_, this);
  }
  // The queue delivered this call's next event.
  void Proceed(bool ok) {
    if (answered_ || !ok) {
      delete this;
      return;
    }
    new AsyncCheck(service_, cq_);
    response_.set_status(HealthCheckResponse::SERVING);
    answered_ = true;
    responder_.Finish(response_, grpc::Status::OK, this);
  }

 private:
  Health::AsyncService* const service_;
  grpc::ServerCompletionQueue* const cq_;
  grpc::ServerContext context_;
  HealthCheckRequest request_;
  HealthCheckResponse response_;
  grpc::ServerAsyncResponseWriter<HealthCheckResponse> responder_;
  bool answered_ = false;
};

// What each call's status and latency go to, as wxtokend's metrics do.
struct Metrics {
  explicit Metrics(const std::string& how) : how(how) {}
  void Record(const char* method, const std::string& code,
              absl::Duration latency) {
    if (how == "family") {
      requests.Add({{"method", method}, {"code", code}, {"caller", "any"}})
          .Increment();
      durations.Add({{"method", method}}, buckets)
          .Observe(absl::ToDoubleSeconds(latency));
    } else if (how == "series") {
      series.Record(method, code, "any", latency);
    }
  }
  const std::string how;
  const prometheus::Histogram::BucketBoundaries& buckets =
      wxtoken::server::RpcDurationBuckets();
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter().Name("requests_total").Register(registry);
  prometheus::Family<prometheus::Histogram>& durations =
      prometheus::BuildHistogram().Name("duration_seconds").Register(registry);
  wxtoken::server::RpcSeries series{&requests, &durations, buckets};
};

class RecordingInterceptor final : public grpc::experimental::Interceptor {
 public:
  RecordingInterceptor(grpc::experimental::ServerRpcInfo* info,
                       Metrics* metrics)
      : method_(info->method()), metrics_(metrics), start_(absl::Now()) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Record(method_,
                       absl::StatusCodeToString(static_cast<absl::StatusCode>(
                           methods->GetSendStatus().error_code())),
                       absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  const char* const method_;
  Metrics* const metrics_;
  const absl::Time start_;
};

class RecordingFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RecordingFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RecordingInterceptor(info, metrics_);
  }

 private:
  Metrics* const metrics_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string setup = absl::GetFlag(FLAGS_setup);
  if (setup != "callback" && setup != "async") {
    std::fprintf(stderr, "--setup must be callback or async\n");
    return 2;
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  grpc::ResourceQuota quota("bench");
  if (absl::GetFlag(FLAGS_quota)) {
    quota.Resize(256 * 1024 * 1024);
    builder.SetResourceQuota(quota);
  }
  const std::string metrics_how = absl::GetFlag(FLAGS_metrics);
  if (!metrics_how.empty() && metrics_how != "family" &&
      metrics_how != "series" && metrics_how != "empty") {
    std::fprintf(stderr, "--metrics must be family, series or empty\n");
    return 2;
  }
  Metrics metrics(metrics_how);
  if (!metrics_how.empty()) {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        factories;
    factories.push_back(std::make_unique<RecordingFactory>(&metrics));
    builder.experimental().SetInterceptorCreators(std::move(factories));
  }
  CallbackHealth callback;
  Health::AsyncService async;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  if (setup == "callback") {
    builder.RegisterService(&callback);
  } else {
    builder.RegisterService(&async);
    for (int i = 0; i < absl::GetFlag(FLAGS_threads); ++i) {
      queues.push_back(builder.AddCompletionQueue());
    }
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) return 1;
  std::vector<std::thread> pollers;
  for (auto& queue : queues) {
    // Enough outstanding requests that no call waits for one.
    for (int i = 0; i < 100; ++i) new AsyncCheck(&async, queue.get());
    pollers.emplace_back([cq = queue.get()] {
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) static_cast<AsyncCheck*>(tag)->Proceed(ok);
    });
  }
  std::printf("port %d\n", port);
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server->Shutdown();
  for (auto& queue : queues) queue->Shutdown();
  for (std::thread& poller : pollers) poller.join();
  return 0;
}
