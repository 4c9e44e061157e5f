#include "server/grpc/force_refresh_reactor.h"

#include <utility>

#include "server/grpc/token_proto.h"

namespace wxtoken::server {

ForceRefreshReactor::ForceRefreshReactor(Fill fill)
    : fill_(std::move(fill)),
      settled_(std::make_shared<std::atomic<bool>>(false)) {}

ForceRefreshReactor* ForceRefreshReactor::ForResponse(
    wxtoken::v1::ForceRefreshResponse* response) {
  return new ForceRefreshReactor([response](ForceRefreshReply reply) {
    FillToken(std::move(reply.token), response->mutable_token());
    response->set_outcome(ToProtoOutcome(reply.outcome));
  });
}

ForceRefreshReactor* ForceRefreshReactor::ForResponse(
    wxtoken::v1::GetTokenResponse* response) {
  return new ForceRefreshReactor([response](ForceRefreshReply reply) {
    FillToken(std::move(reply.token), response->mutable_token());
  });
}

void ForceRefreshReactor::Bind(ForceRefreshCommand& command) {
  command.cancelled = settled_;
  // Runs on the worker thread (or at once, when the worker refuses the
  // call); gRPC allows Finish from any thread. Until Finish, gRPC keeps
  // the reactor and the response alive.
  command.done = [this,
                  settled = settled_](absl::StatusOr<ForceRefreshReply> reply) {
    if (settled->exchange(true, std::memory_order_acq_rel)) return;
    if (!reply.ok()) {
      Finish(ToGrpcStatus(reply.status()));
      return;
    }
    fill_(*std::move(reply));
    Finish(grpc::Status::OK);
  };
}

void ForceRefreshReactor::OnCancel() {
  if (settled_->exchange(true, std::memory_order_acq_rel)) return;
  Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                      "the caller cancelled the ForceRefresh"));
}

}  // namespace wxtoken::server
