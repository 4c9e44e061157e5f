#ifndef WXTOKEN_SERVER_GRPC_LEADER_FORWARDER_H_
#define WXTOKEN_SERVER_GRPC_LEADER_FORWARDER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/grpc/caller_authorizer.h"
#include "server/messages/platform_push.h"
#include "server/store/redis_state_store.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

namespace wxtoken::server {

// Sends a ForceRefresh that reached a follower on to the leader's
// advertised address (DESIGN.md "Replicas"), with the caller's deadline and
// cancellation, so callers spread over every replica still cause one fetch.
// Thread-safe.
class LeaderForwarder {
 public:
  // `on_forwarded` is told the gRPC code of each forwarded call's answer;
  // `credentials` are the replicas' own (PeerCredentials).
  LeaderForwarder(const LeaderDirectory& directory,
                  std::shared_ptr<grpc::ChannelCredentials> credentials,
                  std::function<void(grpc::StatusCode)> on_forwarded);

  // Whether this replica should forward the call instead of answering it.
  bool ShouldForward(const grpc::CallbackServerContext& context) const;

  // Forwards the call; the reactor finishes it with the leader's answer, or
  // UNAVAILABLE naming why no leader could answer (nothing was fetched).
  grpc::ServerUnaryReactor* Forward(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::ForceRefreshRequest* request,
      wxtoken::v1::ForceRefreshResponse* response);

  // A GetToken of an idle authorizer whose token expired here: the
  // leader fetches it for its use (DESIGN.md "Third-party platforms") and
  // answers within the caller's deadline.
  grpc::ServerUnaryReactor* ForwardGetToken(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::GetTokenRequest* request,
      wxtoken::v1::GetTokenResponse* response);

  // Whether this replica passes platform pushes on (it does not lead).
  bool ShouldForwardPushes() const { return !directory_.IsLeader(); }
  // Passes a platform push that reached this follower on to the leader's
  // SubmitPlatformPush, which checks it again and stores what it carries;
  // `done` gets the leader's answer, or UNAVAILABLE naming why none came
  // (WeChat then pushes again).
  void ForwardPlatformPush(const PlatformPush& push,
                           PlatformPushIntake::Done done);

  // Metadata marking a call a replica passed on: never passed on again.
  static bool WasForwarded(const grpc::CallbackServerContext& context);

 private:
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* ForwardCall(
      grpc::CallbackServerContext* context,
      void (wxtoken::v1::TokenController::Stub::async::*call)(
          grpc::ClientContext*, const Request*, Response*,
          std::function<void(grpc::Status)>),
      const Request* request, Response* response);
  std::shared_ptr<wxtoken::v1::TokenController::Stub> StubFor(
      const std::string& address);

  const LeaderDirectory& directory_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const std::function<void(grpc::StatusCode)> on_forwarded_;
  absl::Mutex mu_;
  // The channel to the leader address last forwarded to; a new address
  // replaces it (calls in flight keep theirs), so addresses of leaders long
  // gone (pod IPs) hold no channel.
  std::string address_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<wxtoken::v1::TokenController::Stub> stub_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_LEADER_FORWARDER_H_
