#ifndef WXTOKEN_CLIENT_SRC_GRPC_TOKEN_SOURCE_H_
#define WXTOKEN_CLIENT_SRC_GRPC_TOKEN_SOURCE_H_

#include <grpcpp/channel.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/src/token_source.h"
#include "wxtoken/client.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

namespace wxtoken::client_internal {

// TokenSource over wxtoken.v1.TokenController: the only file that knows the
// generated proto. GetToken carries a deadline of `rpc_timeout`,
// ForceRefresh one of `report_timeout`. A missed deadline becomes
// UNAVAILABLE; other statuses keep their gRPC code with the RPC's name in
// front of the controller's message. A status without wxtokend's error
// mark in its trailers did not come from wxtokend: IsUnreachable().
// Watch() keeps one stream, on one thread, per entry. Thread-safe.
class GrpcTokenSource final : public TokenSource {
 public:
  GrpcTokenSource(std::shared_ptr<grpc::Channel> channel,
                  absl::Duration rpc_timeout, absl::Duration report_timeout);

  absl::StatusOr<Token> GetToken(absl::string_view app_id,
                                 TokenKind kind) override;
  absl::StatusOr<Token> ForceRefresh(absl::string_view app_id, TokenKind kind,
                                     absl::string_view stale_value,
                                     int errcode) override;
  std::unique_ptr<TokenWatch> Watch(absl::string_view app_id, TokenKind kind,
                                    WatchHandlers handlers) override;

 private:
  const absl::Duration rpc_timeout_;
  const absl::Duration report_timeout_;
  const std::unique_ptr<wxtoken::v1::TokenController::Stub> stub_;
};

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_GRPC_TOKEN_SOURCE_H_
