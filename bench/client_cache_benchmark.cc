// wxtoken::Client's cached GetToken: the cost a backend pays per WeChat call.
// An in-process controller answers the first RPC with a long max_cache; every
// measured call is then a cache hit. Run with 1 and 2 threads: the hit path
// takes no global lock, so the per-call time should not grow with threads.
#include <benchmark/benchmark.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <memory>

#include "wxtoken/client.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

namespace {

constexpr char kApp[] = "wxbench00000000001";

// Answers GetToken with one value that may be cached for an hour.
class CachedController final
    : public wxtoken::v1::TokenController::CallbackService {
  grpc::ServerUnaryReactor* GetToken(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::GetTokenRequest* request,
      wxtoken::v1::GetTokenResponse* response) override {
    using google::protobuf::util::TimeUtil;
    wxtoken::v1::Token* token = response->mutable_token();
    token->set_app_id(request->app_id());
    token->set_kind(wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN);
    token->set_value(std::string(150, 'T'));
    token->set_generation(1);
    *token->mutable_max_cache() = TimeUtil::SecondsToDuration(3600);
    *token->mutable_expires_at() = TimeUtil::SecondsToTimestamp(
        TimeUtil::GetCurrentTime().seconds() + 7200);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

struct Fixture {
  Fixture() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    wxtoken::ClientOptions options;
    options.target = "127.0.0.1:" + std::to_string(port);
    auto created = wxtoken::Client::Create(options);
    if (!created.ok() || !(*created)->GetToken(kApp).ok()) std::abort();
    client = *std::move(created);
  }
  CachedController service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<wxtoken::Client> client;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void BM_CachedGetToken(benchmark::State& state) {
  wxtoken::Client& client = *Shared().client;
  for (auto _ : state) {
    auto token = client.GetToken(kApp);
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_CachedGetToken)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
