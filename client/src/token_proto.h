#ifndef WXTOKEN_CLIENT_SRC_TOKEN_PROTO_H_
#define WXTOKEN_CLIENT_SRC_TOKEN_PROTO_H_

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "wxtoken/client.h"
#include "wxtoken/v1/token_controller.pb.h"

namespace wxtoken::client_internal {

// The client's one mapping between wxtoken.v1's messages and its own types.

wxtoken::v1::TokenKind ToProto(TokenKind kind);

absl::Duration DurationFromProto(const google::protobuf::Duration& duration);

// A Token without app_id and kind (the entry that asked fills them in);
// INTERNAL when the answer carries no value.
absl::StatusOr<Token> TokenFromProto(absl::string_view rpc, bool has_token,
                                     const wxtoken::v1::Token& proto);

// The RPC's failure as the cache sees it: a missed deadline (`rpc_timeout`)
// is UNAVAILABLE, other codes are kept with `rpc` in front of the message,
// and a status without wxtokend's error mark in its trailers did not come
// from wxtokend: IsUnreachable().
absl::Status FromGrpc(absl::string_view rpc, const grpc::Status& status,
                      const grpc::ClientContext& context,
                      absl::Duration rpc_timeout);

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_TOKEN_PROTO_H_
