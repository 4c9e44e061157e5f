#ifndef WXTOKEN_SERVER_GRPC_TOKEN_SERVICE_H_
#define WXTOKEN_SERVER_GRPC_TOKEN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"
#include "server/base/clock.h"
#include "server/base/swappable.h"
#include "server/grpc/arena_messages.h"
#include "server/grpc/caller_authorizer.h"
#include "server/grpc/leader_forwarder.h"
#include "server/grpc/metrics_interceptor.h"
#include "server/messages/page_signatures.h"
#include "server/messages/platform_push.h"
#include "server/messages/push_messages.h"
#include "server/metrics/server_metrics.h"
#include "server/token/refresh_worker.h"
#include "server/token/token_table.h"
#include "server/token/token_watch_hub.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

namespace wxtoken::server {

// The gRPC face of wxtokend: a thin adapter that validates requests, reads
// the TokenTable for GetToken, hands ForceRefresh to the refresh worker and
// WatchToken streams to the TokenWatchHub, and
// leaves signatures and message crypto to PushMessages and PageSigner. Handlers
// never block and never do upstream I/O. Thread-safe.
class TokenControllerService final
    : public wxtoken::v1::TokenController::CallbackService {
 public:
  // All references must outlive the service. `forwarder`: replicas only
  // (nullptr: this replica answers every ForceRefresh itself).
  TokenControllerService(const TokenTable& table, RefreshWorker& worker,
                         TokenWatchHub& watch_hub,
                         const Swappable<PushMessages>& push_messages,
                         const PageSigner& page_signer, const Clock& clock,
                         const Swappable<CallerAuthorizer>& authorizer,
                         ServerMetrics& metrics,
                         LeaderForwarder* forwarder = nullptr,
                         PlatformPushIntake* platform_pushes = nullptr);

  grpc::ServerUnaryReactor* GetToken(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::GetTokenRequest* request,
      wxtoken::v1::GetTokenResponse* response) override;

  grpc::ServerUnaryReactor* ForceRefresh(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::ForceRefreshRequest* request,
      wxtoken::v1::ForceRefreshResponse* response) override;

  grpc::ServerWriteReactor<wxtoken::v1::WatchTokenResponse>* WatchToken(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::WatchTokenRequest* request) override;

  grpc::ServerUnaryReactor* VerifySignature(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::VerifySignatureRequest* request,
      wxtoken::v1::VerifySignatureResponse* response) override;

  grpc::ServerUnaryReactor* SignJsapi(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::SignJsapiRequest* request,
      wxtoken::v1::SignJsapiResponse* response) override;

  grpc::ServerUnaryReactor* SignCard(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::SignCardRequest* request,
      wxtoken::v1::SignCardResponse* response) override;

  grpc::ServerUnaryReactor* DecryptMessage(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::DecryptMessageRequest* request,
      wxtoken::v1::DecryptMessageResponse* response) override;

  grpc::ServerUnaryReactor* EncryptReply(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::EncryptReplyRequest* request,
      wxtoken::v1::EncryptReplyResponse* response) override;

  grpc::ServerUnaryReactor* SubmitPlatformPush(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::SubmitPlatformPushRequest* request,
      wxtoken::v1::SubmitPlatformPushResponse* response) override;

  // Operations (token_service_owners.cc): answered from the worker
  // thread, which holds every owner's state.
  grpc::ServerUnaryReactor* ListOwners(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::ListOwnersRequest* request,
      wxtoken::v1::ListOwnersResponse* response) override;

  grpc::ServerUnaryReactor* DescribeOwner(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::DescribeOwnerRequest* request,
      wxtoken::v1::DescribeOwnerResponse* response) override;

 private:
  // A unary call answered at once with `status`.
  static grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                          const grpc::Status& status);
  static grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                          const absl::Status& status);

  // GetToken's answer: OK with `response` filled, or the error to send.
  absl::Status ServeGetToken(const grpc::CallbackServerContext& context,
                             const wxtoken::v1::GetTokenRequest& request,
                             wxtoken::v1::GetTokenResponse* response) const;

  // Whether the caller may call `method` on `app_id` (a well-formed one);
  // the calls DESIGN.md "Security" audits are logged with the caller.
  absl::Status Authorize(const grpc::CallbackServerContext& context,
                         absl::string_view method, absl::string_view app_id,
                         bool audited) const;

  // Constant after construction.
  const TokenTable& table_;
  RefreshWorker& worker_;
  TokenWatchHub& watch_hub_;
  // Replaced by config reloads (server tokens, keys, callers).
  const Swappable<PushMessages>& push_messages_;
  const PageSigner& page_signer_;
  const Clock& clock_;
  const Swappable<CallerAuthorizer>& authorizer_;
  // GetToken records its own calls (SelfRecordedCall); the interceptor
  // records the others.
  ServerMetrics& metrics_;
  LeaderForwarder* const forwarder_;
  PlatformPushIntake* const platform_pushes_;  // null: no platforms
  // GetToken's messages, on one arena a call.
  ArenaMessages<wxtoken::v1::GetTokenRequest, wxtoken::v1::GetTokenResponse>
      get_token_messages_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_TOKEN_SERVICE_H_
