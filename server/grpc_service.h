#ifndef WXTOKEN_SERVER_GRPC_SERVICE_H_
#define WXTOKEN_SERVER_GRPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "server/clock.h"
#include "server/refresh_worker.h"
#include "server/token_table.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

namespace wxtoken {

// The one mapping from our absl::Status to gRPC's status (same codes).
grpc::Status ToGrpcStatus(const absl::Status& status);

// The gRPC face of wxtokend: a thin adapter that validates requests, reads
// the TokenTable for GetToken, hands ForceRefresh to the refresh worker and
// checks signatures. Handlers never block and never do upstream I/O.
// Thread-safe.
class TokenControllerService final
    : public wxtoken::v1::TokenController::CallbackService {
 public:
  // `server_tokens` maps app_id to its server token (apps without one are
  // absent). All references must outlive the service.
  TokenControllerService(
      const TokenTable& table, RefreshWorker& worker, const Clock& clock,
      absl::flat_hash_map<std::string, std::string> server_tokens);

  grpc::ServerUnaryReactor* GetToken(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::GetTokenRequest* request,
      wxtoken::v1::GetTokenResponse* response) override;

  grpc::ServerUnaryReactor* ForceRefresh(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::ForceRefreshRequest* request,
      wxtoken::v1::ForceRefreshResponse* response) override;

  grpc::ServerUnaryReactor* VerifySignature(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::VerifySignatureRequest* request,
      wxtoken::v1::VerifySignatureResponse* response) override;

 private:
  // Constant after construction.
  const TokenTable& table_;
  RefreshWorker& worker_;
  const Clock& clock_;
  const absl::flat_hash_map<std::string, std::string> server_tokens_;
};

}  // namespace wxtoken

#endif  // WXTOKEN_SERVER_GRPC_SERVICE_H_
