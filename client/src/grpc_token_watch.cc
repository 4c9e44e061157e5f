#include "client/src/grpc_token_watch.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/random/random.h"
#include "client/src/token_proto.h"

namespace wxtoken::client_internal {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(200);
constexpr absl::Duration kMaxBackoff = absl::Seconds(10);
constexpr char kRpc[] = "wxtokend WatchToken";

}  // namespace

GrpcTokenWatch::GrpcTokenWatch(wxtoken::v1::TokenController::Stub& stub,
                               std::string app_id, TokenKind kind,
                               WatchHandlers handlers)
    : stub_(stub),
      app_id_(std::move(app_id)),
      kind_(kind),
      handlers_(std::move(handlers)),
      thread_([this] { Run(); }) {}

GrpcTokenWatch::~GrpcTokenWatch() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  thread_.join();
}

void GrpcTokenWatch::Restart() {
  absl::MutexLock lock(&mu_);
  if (context_ != nullptr) context_->TryCancel();
}

bool GrpcTokenWatch::Pause(absl::Duration backoff) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
  return !stopping_;
}

void GrpcTokenWatch::Run() {
  absl::BitGen jitter;
  absl::Duration backoff = kFirstBackoff;
  wxtoken::v1::WatchTokenRequest request;
  request.set_app_id(app_id_);
  request.set_kind(ToProto(kind_));
  while (true) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      context_ = &context;
    }
    handlers_.on_open();
    std::unique_ptr<grpc::ClientReader<wxtoken::v1::WatchTokenResponse>>
        reader = stub_.WatchToken(&context, request);
    wxtoken::v1::WatchTokenResponse response;
    while (reader->Read(&response)) {
      backoff = kFirstBackoff;
      absl::StatusOr<Token> token =
          TokenFromProto(kRpc, response.has_token(), response.token());
      if (token.ok()) {
        handlers_.on_token(*std::move(token),
                           DurationFromProto(response.stream_age()));
      }
    }
    const grpc::Status status = reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
      if (stopping_) return;
    }
    // No deadline on a stream: a DEADLINE_EXCEEDED is not ours to explain.
    const absl::Status ended =
        FromGrpc(kRpc, status, context, absl::ZeroDuration());
    const bool final = IsWatchFinal(ended);
    handlers_.on_end(ended, final);
    if (final) return;
    if (!Pause(backoff * absl::Uniform(jitter, 0.5, 1.0))) return;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace wxtoken::client_internal
