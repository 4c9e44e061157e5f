#include "server/grpc/leader_forwarder.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

namespace wxtoken::server {
namespace {

// One forwarded call: the client side of it lives as long as the server
// side, and the server side finishes once, with the client side's answer.
class ForwardReactor final : public grpc::ServerUnaryReactor {
 public:
  ForwardReactor(grpc::CallbackServerContext* context,
                 std::function<void(grpc::StatusCode)> on_forwarded)
      // The leader gets the caller's deadline, and a cancellation.
      : client_(grpc::ClientContext::FromCallbackServerContext(*context)),
        on_forwarded_(std::move(on_forwarded)) {
    client_->AddMetadata(kForwardedKey, "1");
  }

  // `call` is the stub's method (ForceRefresh, GetToken). `response` is
  // gRPC's and outlives the reactor: the leader's answer goes straight
  // into it.
  template <typename Request, typename Response>
  void Start(std::shared_ptr<wxtoken::v1::TokenController::Stub> stub,
             void (wxtoken::v1::TokenController::Stub::async::*call)(
                 grpc::ClientContext*, const Request*, Response*,
                 std::function<void(grpc::Status)>),
             const Request& request, Response* response, std::string leader) {
    stub_ = std::move(stub);
    leader_ = std::move(leader);
    (stub_->async()->*call)(
        client_.get(), &request, response, [this](grpc::Status status) {
          on_forwarded_(status.error_code());
          if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
              status.error_message().empty()) {
            status = grpc::Status(
                grpc::StatusCode::UNAVAILABLE,
                absl::StrCat("the leader at ", leader_, " is unreachable"));
          }
          Finish(status);
        });
  }

  // The client call then ends CANCELLED and finishes the RPC.
  void OnCancel() override { client_->TryCancel(); }
  void OnDone() override { delete this; }

 private:
  const std::unique_ptr<grpc::ClientContext> client_;
  const std::function<void(grpc::StatusCode)> on_forwarded_;
  // Kept for the call, whichever channel the forwarder holds meanwhile.
  std::shared_ptr<wxtoken::v1::TokenController::Stub> stub_;
  std::string leader_;
};

}  // namespace

LeaderForwarder::LeaderForwarder(
    const LeaderDirectory& directory,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    std::function<void(grpc::StatusCode)> on_forwarded)
    : directory_(directory),
      credentials_(std::move(credentials)),
      on_forwarded_(std::move(on_forwarded)) {}

bool LeaderForwarder::ShouldForward(
    const grpc::CallbackServerContext& context) const {
  if (directory_.IsLeader()) return false;
  // Forwarded once already: answered here (the engine refuses it when this
  // replica is no leader), never passed on in a loop.
  return context.client_metadata().find(kForwardedKey) ==
         context.client_metadata().end();
}

std::shared_ptr<wxtoken::v1::TokenController::Stub> LeaderForwarder::StubFor(
    const std::string& address) {
  absl::MutexLock lock(&mu_);
  if (stub_ == nullptr || address_ != address) {
    address_ = address;
    stub_ = wxtoken::v1::TokenController::NewStub(
        grpc::CreateChannel(address, credentials_));
  }
  return stub_;
}

bool LeaderForwarder::WasForwarded(const grpc::CallbackServerContext& context) {
  return context.client_metadata().find(kForwardedKey) !=
         context.client_metadata().end();
}

void LeaderForwarder::ForwardPlatformPush(const PlatformPush& push,
                                          PlatformPushIntake::Done done) {
  const std::string leader = directory_.LeaderAddress();
  if (leader.empty()) {
    on_forwarded_(grpc::StatusCode::UNAVAILABLE);
    done(absl::UnavailableError(
        "no replica holds the leader lease (or it advertises no address); "
        "nothing was stored"));
    return;
  }
  // One forwarded push: alive until its callback has run.
  struct Call {
    grpc::ClientContext context;
    wxtoken::v1::SubmitPlatformPushRequest request;
    wxtoken::v1::SubmitPlatformPushResponse response;
    std::shared_ptr<wxtoken::v1::TokenController::Stub> stub;
  };
  auto call = std::make_shared<Call>();
  call->context.AddMetadata(kForwardedKey, "1");
  // Inside WeChat's 5 s for the whole push.
  call->context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(4));
  call->request.set_component_app_id(push.component_app_id);
  call->request.set_msg_signature(push.msg_signature);
  call->request.set_timestamp(push.timestamp);
  call->request.set_nonce(push.nonce);
  call->request.set_body(push.body);
  call->stub = StubFor(leader);
  Call& started = *call;
  started.stub->async()->SubmitPlatformPush(
      &started.context, &started.request, &started.response,
      [this, call = std::move(call), done = std::move(done),
       leader](grpc::Status status) {
        on_forwarded_(status.error_code());
        std::string message = status.error_message();
        if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
            message.empty()) {
          message = absl::StrCat("the leader at ", leader, " is unreachable");
        }
        done(absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          message));
      });
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* LeaderForwarder::ForwardCall(
    grpc::CallbackServerContext* context,
    void (wxtoken::v1::TokenController::Stub::async::*call)(
        grpc::ClientContext*, const Request*, Response*,
        std::function<void(grpc::Status)>),
    const Request* request, Response* response) {
  const std::string leader = directory_.LeaderAddress();
  if (leader.empty()) {
    on_forwarded_(grpc::StatusCode::UNAVAILABLE);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        "no replica holds the leader lease (or it advertises no address); "
        "nothing was fetched, ask again"));
    return reactor;
  }
  auto* reactor = new ForwardReactor(context, on_forwarded_);
  reactor->Start(StubFor(leader), call, *request, response, leader);
  return reactor;
}

grpc::ServerUnaryReactor* LeaderForwarder::Forward(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::ForceRefreshRequest* request,
    wxtoken::v1::ForceRefreshResponse* response) {
  return ForwardCall(context,
                     &wxtoken::v1::TokenController::Stub::async::ForceRefresh,
                     request, response);
}

grpc::ServerUnaryReactor* LeaderForwarder::ForwardGetToken(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::GetTokenRequest* request,
    wxtoken::v1::GetTokenResponse* response) {
  return ForwardCall(context,
                     &wxtoken::v1::TokenController::Stub::async::GetToken,
                     request, response);
}

}  // namespace wxtoken::server
