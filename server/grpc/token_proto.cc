#include "server/grpc/token_proto.h"

#include <google/protobuf/util/time_util.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace wxtoken::server {

using google::protobuf::util::TimeUtil;

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

google::protobuf::Duration ToProtoDuration(absl::Duration duration) {
  return TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(duration));
}

void FillToken(Token served, wxtoken::v1::Token* token) {
  token->set_app_id(std::move(served.app_id));
  token->set_kind(ToProtoKind(served.kind));
  token->set_value(std::move(served.value));
  *token->mutable_expires_at() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(served.expires_at));
  *token->mutable_fetched_at() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(served.fetched_at));
  *token->mutable_max_cache() = ToProtoDuration(served.max_cache);
  *token->mutable_stale_if_error() = ToProtoDuration(served.stale_if_error);
  token->set_generation(served.generation);
}

}  // namespace wxtoken::server
