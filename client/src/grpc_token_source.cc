#include "client/src/grpc_token_source.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace wxtoken::client_internal {
namespace {

absl::Time FromProto(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) +
         absl::Nanoseconds(time.nanos());
}

absl::Duration FromProto(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) +
         absl::Nanoseconds(duration.nanos());
}

wxtoken::v1::TokenKind ToProto(TokenKind kind) {
  switch (kind) {
    case TokenKind::kAccessToken:
      return wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN;
    case TokenKind::kJsapiTicket:
      return wxtoken::v1::TOKEN_KIND_JSAPI_TICKET;
    case TokenKind::kWxCardTicket:
      return wxtoken::v1::TOKEN_KIND_WX_CARD_TICKET;
  }
  return wxtoken::v1::TOKEN_KIND_UNSPECIFIED;
}

// The entry fills in app_id and kind: it asked for them.
absl::StatusOr<Token> FromProto(absl::string_view rpc, bool has_token,
                                const wxtoken::v1::Token& proto) {
  if (!has_token || proto.value().empty()) {
    return absl::InternalError(absl::StrCat(rpc, ": answer without a token"));
  }
  Token token;
  token.value = proto.value();
  token.expires_at = FromProto(proto.expires_at());
  token.max_cache = FromProto(proto.max_cache());
  // A controller older than the field: no certainty beyond max_cache.
  token.stale_if_error =
      proto.has_stale_if_error()
          ? std::max(token.max_cache, FromProto(proto.stale_if_error()))
          : token.max_cache;
  token.generation = proto.generation();
  token.fetched_at = FromProto(proto.fetched_at());
  return token;
}

// Must match server/grpc/metrics_interceptor.h: wxtokend marks the errors
// it answers itself.
constexpr char kErrorOriginKey[] = "wxtoken-error-origin";

absl::Status FromGrpc(absl::string_view rpc, const grpc::Status& status,
                      const grpc::ClientContext& context,
                      absl::Duration rpc_timeout) {
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // Slow or unreachable is the same to a caller: no answer in time.
    return Unreachable(absl::UnavailableError(
        absl::StrCat(rpc, ": no answer within ",
                     absl::FormatDuration(rpc_timeout), " (deadline)")));
  }
  absl::Status converted(static_cast<absl::StatusCode>(status.error_code()),
                         absl::StrCat(rpc, ": ", status.error_message()));
  const auto& trailers = context.GetServerTrailingMetadata();
  if (trailers.find(kErrorOriginKey) == trailers.end()) {
    return Unreachable(std::move(converted));
  }
  return converted;
}

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
  return FromProto(rpc, response.has_token(), response.token());
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

}  // namespace wxtoken::client_internal
