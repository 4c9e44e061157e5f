#include "server/grpc_service.h"

#include <google/protobuf/util/time_util.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/credential.h"
#include "server/request_validation.h"
#include "server/wechat/signature.h"

namespace wxtoken {
namespace {

using google::protobuf::util::TimeUtil;

absl::StatusOr<CredentialKind> ToCredentialKind(wxtoken::v1::TokenKind kind) {
  switch (kind) {
    case wxtoken::v1::TOKEN_KIND_UNSPECIFIED:
    case wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN:
      return CredentialKind::kAccessToken;
    case wxtoken::v1::TOKEN_KIND_JSAPI_TICKET:
      return CredentialKind::kJsapiTicket;
    case wxtoken::v1::TOKEN_KIND_WX_CARD_TICKET:
      return CredentialKind::kWxCardTicket;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("kind: unknown value ", static_cast<int>(kind)));
  }
}

wxtoken::v1::TokenKind ToProtoKind(CredentialKind kind) {
  switch (kind) {
    case CredentialKind::kAccessToken:
      return wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN;
    case CredentialKind::kJsapiTicket:
      return wxtoken::v1::TOKEN_KIND_JSAPI_TICKET;
    case CredentialKind::kWxCardTicket:
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

void FillToken(const ServedToken& served, wxtoken::v1::Token* token) {
  token->set_app_id(served.app_id);
  token->set_kind(ToProtoKind(served.kind));
  token->set_value(served.value);
  *token->mutable_expires_at() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(served.expires_at));
  *token->mutable_fetched_at() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(served.fetched_at));
  *token->mutable_max_cache() = TimeUtil::NanosecondsToDuration(
      absl::ToInt64Nanoseconds(served.max_cache));
  token->set_generation(served.generation);
}

// Validates app_id and kind, shared by GetToken and ForceRefresh.
absl::StatusOr<CredentialKind> ValidateTokenRequest(
    absl::string_view app_id, wxtoken::v1::TokenKind kind) {
  if (absl::Status s = ValidateAppId(app_id); !s.ok()) return s;
  return ToCredentialKind(kind);
}

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

TokenControllerService::TokenControllerService(
    const TokenTable& table, RefreshWorker& worker, const Clock& clock,
    absl::flat_hash_map<std::string, std::string> server_tokens)
    : table_(table),
      worker_(worker),
      clock_(clock),
      server_tokens_(std::move(server_tokens)) {}

grpc::ServerUnaryReactor* TokenControllerService::GetToken(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::GetTokenRequest* request,
    wxtoken::v1::GetTokenResponse* response) {
  absl::StatusOr<CredentialKind> kind =
      ValidateTokenRequest(request->app_id(), request->kind());
  if (!kind.ok()) return Finish(context, kind.status());
  absl::StatusOr<ServedToken> token =
      table_.Get(request->app_id(), *kind, clock_.Now());
  if (!token.ok()) return Finish(context, token.status());
  FillToken(*token, response->mutable_token());
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* TokenControllerService::ForceRefresh(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::ForceRefreshRequest* request,
    wxtoken::v1::ForceRefreshResponse* response) {
  absl::StatusOr<CredentialKind> kind =
      ValidateTokenRequest(request->app_id(), request->kind());
  if (!kind.ok()) return Finish(context, kind.status());
  if (absl::Status s = ValidateStaleValue(request->stale_value()); !s.ok()) {
    return Finish(context, s);
  }
  if (!table_.Has(request->app_id(), *kind)) {
    // Answer from here; the worker would say the same, one hop later.
    return Finish(context,
                  table_.Get(request->app_id(), *kind, clock_.Now()).status());
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ForceRefreshCommand command;
  command.app_id = request->app_id();
  command.kind = *kind;
  command.stale_value = request->stale_value();
  command.wechat_errcode = request->wechat_errcode();
  // Runs on the worker thread; gRPC allows Finish from any thread.
  command.done = [reactor, response](absl::StatusOr<ForceRefreshReply> reply) {
    if (!reply.ok()) {
      reactor->Finish(ToGrpcStatus(reply.status()));
      return;
    }
    FillToken(reply->token, response->mutable_token());
    response->set_outcome(ToProtoOutcome(reply->outcome));
    reactor->Finish(grpc::Status::OK);
  };
  worker_.Submit(std::move(command));
  return reactor;
}

grpc::ServerUnaryReactor* TokenControllerService::VerifySignature(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::VerifySignatureRequest* request,
    wxtoken::v1::VerifySignatureResponse* response) {
  if (absl::Status s = ValidateAppId(request->app_id()); !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s =
          ValidateSignatureFields(request->signature(), request->timestamp(),
                                  request->nonce(), request->encrypt());
      !s.ok()) {
    return Finish(context, s);
  }
  if (!table_.HasApp(request->app_id())) {
    return Finish(context,
                  absl::NotFoundError(absl::StrCat("app_id: unknown app \"",
                                                   request->app_id(), "\"")));
  }
  auto it = server_tokens_.find(request->app_id());
  if (it == server_tokens_.end()) {
    return Finish(context,
                  absl::FailedPreconditionError(absl::StrCat(
                      "app \"", request->app_id(),
                      "\" has no server_token configured (server_token_file "
                      "or server_token_env)")));
  }
  SignatureCheck check = VerifyPushSignature(
      it->second, request->signature(), request->timestamp(), request->nonce(),
      request->encrypt());
  response->set_valid(check.valid);
  response->set_reason(std::move(check.reason));
  return Finish(context, absl::OkStatus());
}

}  // namespace wxtoken
