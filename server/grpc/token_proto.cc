#include "server/grpc/token_proto.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace wxtoken::server {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::StatusOr<TokenKind> FromProtoKind(wxtoken::v1::TokenKind kind) {
  switch (kind) {
    case wxtoken::v1::TOKEN_KIND_UNSPECIFIED:
    case wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN:
      return TokenKind::kAccessToken;
    case wxtoken::v1::TOKEN_KIND_JSAPI_TICKET:
      return TokenKind::kJsapiTicket;
    case wxtoken::v1::TOKEN_KIND_WX_CARD_TICKET:
      return TokenKind::kWxCardTicket;
    case wxtoken::v1::TOKEN_KIND_AGENT_CONFIG_TICKET:
      return TokenKind::kAgentConfigTicket;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("kind: unknown value ", static_cast<int>(kind)));
  }
}

wxtoken::v1::TokenKind ToProtoKind(TokenKind kind) {
  switch (kind) {
    case TokenKind::kAccessToken:
      return wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN;
    case TokenKind::kJsapiTicket:
      return wxtoken::v1::TOKEN_KIND_JSAPI_TICKET;
    case TokenKind::kWxCardTicket:
      return wxtoken::v1::TOKEN_KIND_WX_CARD_TICKET;
    case TokenKind::kAgentConfigTicket:
      return wxtoken::v1::TOKEN_KIND_AGENT_CONFIG_TICKET;
    case TokenKind::kComponentVerifyTicket:
    case TokenKind::kSuiteTicket:
      break;  // never served
  }
  return wxtoken::v1::TOKEN_KIND_UNSPECIFIED;
}

wxtoken::v1::RefreshOutcome ToProtoOutcome(ForceOutcome outcome) {
  switch (outcome) {
    case ForceOutcome::kRefreshed:
      return wxtoken::v1::REFRESH_OUTCOME_REFRESHED;
    case ForceOutcome::kAlreadyNewer:
      return wxtoken::v1::REFRESH_OUTCOME_ALREADY_NEWER;
    case ForceOutcome::kCoalesced:
      return wxtoken::v1::REFRESH_OUTCOME_COALESCED;
  }
  return wxtoken::v1::REFRESH_OUTCOME_UNSPECIFIED;
}

void SetProtoDuration(absl::Duration duration,
                      google::protobuf::Duration* out) {
  // Truncated, so that seconds and nanos share the sign, as protobuf asks.
  const int64_t nanos = absl::ToInt64Nanoseconds(duration);
  out->set_seconds(nanos / kNanosPerSecond);
  out->set_nanos(static_cast<int32_t>(nanos % kNanosPerSecond));
}

void SetProtoTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  // Floored: nanos in [0, 1e9), as protobuf asks, also before 1970.
  const int64_t nanos = absl::ToUnixNanos(time);
  int64_t seconds = nanos / kNanosPerSecond;
  int64_t rest = nanos % kNanosPerSecond;
  if (rest < 0) {
    seconds -= 1;
    rest += kNanosPerSecond;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest));
}

google::protobuf::Duration ToProtoDuration(absl::Duration duration) {
  google::protobuf::Duration proto;
  SetProtoDuration(duration, &proto);
  return proto;
}

// Sets each field in place: TimeUtil's conversions return a message that is
// then copied in, which cost GetToken more than all its other fields.
void FillToken(Token served, wxtoken::v1::Token* token) {
  token->set_app_id(std::move(served.app_id));
  token->set_kind(ToProtoKind(served.kind));
  token->set_value(std::move(served.value));
  SetProtoTimestamp(served.expires_at, token->mutable_expires_at());
  SetProtoTimestamp(served.fetched_at, token->mutable_fetched_at());
  SetProtoDuration(served.max_cache, token->mutable_max_cache());
  SetProtoDuration(served.stale_if_error, token->mutable_stale_if_error());
  token->set_generation(served.generation);
}

}  // namespace wxtoken::server
