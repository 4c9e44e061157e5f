#ifndef WXTOKEN_SERVER_GRPC_FORCE_REFRESH_REACTOR_H_
#define WXTOKEN_SERVER_GRPC_FORCE_REFRESH_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>

#include "server/token/force_refresh.h"
#include "wxtoken/v1/token_controller.pb.h"

namespace wxtoken::server {

// One ForceRefresh RPC waiting on the refresh worker. It is finished exactly
// once: by the worker's answer, or at once when the caller gives up
// (deadline, cancel, disconnect), which also tells the worker to drop the
// call, so a flood of abandoned calls holds no memory. Deletes itself when
// gRPC is done with it.
class ForceRefreshReactor final : public grpc::ServerUnaryReactor {
 public:
  // Fills the RPC's response (gRPC's, which outlives the reactor) from the
  // worker's answer.
  using Fill = std::function<void(ForceRefreshReply reply)>;
  explicit ForceRefreshReactor(Fill fill);
  // A ForceRefresh RPC's.
  static ForceRefreshReactor* ForResponse(
      wxtoken::v1::ForceRefreshResponse* response);
  // GetToken's, when it waits for an idle authorizer's fetch.
  static ForceRefreshReactor* ForResponse(
      wxtoken::v1::GetTokenResponse* response);

  // The command's `done` and `cancelled`, filled in. Call once.
  void Bind(ForceRefreshCommand& command);

  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  const Fill fill_;
  // Set by whichever of the answer and the cancellation comes first; the
  // other then leaves the RPC alone. Shared with the worker, which may hold
  // the callback after the reactor is gone.
  const std::shared_ptr<std::atomic<bool>> settled_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_FORCE_REFRESH_REACTOR_H_
