#include "client/src/token_proto.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/src/token_source.h"

namespace wxtoken::client_internal {
namespace {

absl::Time FromProto(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) +
         absl::Nanoseconds(time.nanos());
}

// Must match server/grpc/metrics_interceptor.h: wxtokend marks the errors
// it answers itself.
constexpr char kErrorOriginKey[] = "wxtoken-error-origin";

}  // namespace

wxtoken::v1::TokenKind ToProto(TokenKind kind) {
  switch (kind) {
    case TokenKind::kAccessToken:
      return wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN;
    case TokenKind::kJsapiTicket:
      return wxtoken::v1::TOKEN_KIND_JSAPI_TICKET;
    case TokenKind::kWxCardTicket:
      return wxtoken::v1::TOKEN_KIND_WX_CARD_TICKET;
    case TokenKind::kAgentConfigTicket:
      return wxtoken::v1::TOKEN_KIND_AGENT_CONFIG_TICKET;
  }
  return wxtoken::v1::TOKEN_KIND_UNSPECIFIED;
}

absl::Duration DurationFromProto(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) +
         absl::Nanoseconds(duration.nanos());
}

absl::StatusOr<Token> TokenFromProto(absl::string_view rpc, bool has_token,
                                     const wxtoken::v1::Token& proto) {
  if (!has_token || proto.value().empty()) {
    return absl::InternalError(absl::StrCat(rpc, ": answer without a token"));
  }
  Token token;
  token.value = proto.value();
  token.expires_at = FromProto(proto.expires_at());
  token.max_cache = DurationFromProto(proto.max_cache());
  // A controller older than the field: no certainty beyond max_cache.
  token.stale_if_error =
      proto.has_stale_if_error()
          ? std::max(token.max_cache, DurationFromProto(proto.stale_if_error()))
          : token.max_cache;
  token.generation = proto.generation();
  token.fetched_at = FromProto(proto.fetched_at());
  return token;
}

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

}  // namespace wxtoken::client_internal
