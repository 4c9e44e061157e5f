#ifndef WXTOKEN_SERVER_GRPC_TOKEN_PROTO_H_
#define WXTOKEN_SERVER_GRPC_TOKEN_PROTO_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/token/observers.h"
#include "server/token/token.h"
#include "wxtoken/v1/token_controller.pb.h"

namespace wxtoken::server {

// The one mapping between the domain's values and wxtoken.v1's messages.

// absl's status codes are gRPC's codes.
grpc::Status ToGrpcStatus(const absl::Status& status);

// UNSPECIFIED is the access token; an unknown value is INVALID_ARGUMENT.
absl::StatusOr<TokenKind> FromProtoKind(wxtoken::v1::TokenKind kind);
wxtoken::v1::TokenKind ToProtoKind(TokenKind kind);
wxtoken::v1::RefreshOutcome ToProtoOutcome(ForceOutcome outcome);

google::protobuf::Duration ToProtoDuration(absl::Duration duration);
// The same, in place.
void SetProtoDuration(absl::Duration duration, google::protobuf::Duration* out);
void SetProtoTimestamp(absl::Time time, google::protobuf::Timestamp* out);

// Moves the strings: GetToken copies the value once, out of the table.
void FillToken(Token token, wxtoken::v1::Token* proto);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_TOKEN_PROTO_H_
