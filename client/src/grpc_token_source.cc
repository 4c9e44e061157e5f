#include "client/src/grpc_token_source.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/src/grpc_token_watch.h"
#include "client/src/token_proto.h"

namespace wxtoken::client_internal {
namespace {

// One unary RPC answering a Token: `call(context, response)` runs it with the
// deadline set, and its outcome becomes a Token or a status.
template <class Response, class Call>
absl::StatusOr<Token> CallForToken(absl::string_view rpc,
                                   absl::Duration timeout, Call call) {
  Response response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  const grpc::Status status = call(&context, &response);
  if (!status.ok()) return FromGrpc(rpc, status, context, timeout);
  return TokenFromProto(rpc, response.has_token(), response.token());
}

}  // namespace

GrpcTokenSource::GrpcTokenSource(std::shared_ptr<grpc::Channel> channel,
                                 absl::Duration rpc_timeout,
                                 absl::Duration report_timeout)
    : rpc_timeout_(rpc_timeout),
      report_timeout_(report_timeout),
      stub_(wxtoken::v1::TokenController::NewStub(std::move(channel))) {}

absl::StatusOr<Token> GrpcTokenSource::GetToken(absl::string_view app_id,
                                                TokenKind kind) {
  wxtoken::v1::GetTokenRequest request;
  request.set_app_id(std::string(app_id));
  request.set_kind(ToProto(kind));
  using Response = wxtoken::v1::GetTokenResponse;
  return CallForToken<Response>(
      "wxtokend GetToken", rpc_timeout_,
      [&](grpc::ClientContext* context, Response* response) {
        return stub_->GetToken(context, request, response);
      });
}

absl::StatusOr<Token> GrpcTokenSource::ForceRefresh(
    absl::string_view app_id, TokenKind kind, absl::string_view stale_value,
    int errcode) {
  wxtoken::v1::ForceRefreshRequest request;
  request.set_app_id(std::string(app_id));
  request.set_kind(ToProto(kind));
  request.set_stale_value(std::string(stale_value));
  request.set_wechat_errcode(errcode);
  using Response = wxtoken::v1::ForceRefreshResponse;
  return CallForToken<Response>(
      "wxtokend ForceRefresh", report_timeout_,
      [&](grpc::ClientContext* context, Response* response) {
        return stub_->ForceRefresh(context, request, response);
      });
}

std::unique_ptr<TokenWatch> GrpcTokenSource::Watch(absl::string_view app_id,
                                                   TokenKind kind,
                                                   WatchHandlers handlers) {
  return std::make_unique<GrpcTokenWatch>(*stub_, std::string(app_id), kind,
                                          std::move(handlers));
}

}  // namespace wxtoken::client_internal
