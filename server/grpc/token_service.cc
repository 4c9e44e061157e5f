#include "server/grpc/token_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/grpc/force_refresh_reactor.h"
#include "server/grpc/request_validation.h"
#include "server/grpc/token_proto.h"
#include "server/grpc/watch_token_reactor.h"
#include "server/token/refresh_policy.h"
#include "server/token/token.h"
#include "server/wechat/message_crypto.h"

namespace wxtoken::server {
namespace {

// Validates app_id and kind, shared by GetToken and ForceRefresh.
absl::StatusOr<TokenKind> ValidateTokenRequest(absl::string_view app_id,
                                               wxtoken::v1::TokenKind kind) {
  if (absl::Status s = ValidateAppId(app_id); !s.ok()) return s;
  return FromProtoKind(kind);
}

// A platform's authorizer ("<component_app_id>/<authorizer_app_id>"),
// known here or not yet; not a configured WeCom app ("<corp_id>/<agent>").
bool IsAuthorizerKey(const TokenTable& table, absl::string_view app_id) {
  return app_id.find('/') != absl::string_view::npos &&
         (table.IsDiscovered(app_id) || !table.HasApp(app_id));
}

}  // namespace

grpc::ServerUnaryReactor* TokenControllerService::Finish(
    grpc::CallbackServerContext* context, const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* TokenControllerService::Finish(
    grpc::CallbackServerContext* context, const absl::Status& status) {
  return Finish(context, ToGrpcStatus(status));
}

TokenControllerService::TokenControllerService(
    const TokenTable& table, RefreshWorker& worker, TokenWatchHub& watch_hub,
    const Swappable<PushMessages>& push_messages, const PageSigner& page_signer,
    const Clock& clock, const Swappable<CallerAuthorizer>& authorizer,
    ServerMetrics& metrics, LeaderForwarder* forwarder,
    PlatformPushIntake* platform_pushes)
    : table_(table),
      worker_(worker),
      watch_hub_(watch_hub),
      push_messages_(push_messages),
      page_signer_(page_signer),
      clock_(clock),
      authorizer_(authorizer),
      metrics_(metrics),
      forwarder_(forwarder),
      platform_pushes_(platform_pushes) {
  SetMessageAllocatorFor_GetToken(&get_token_messages_);
}

absl::Status TokenControllerService::Authorize(
    const grpc::CallbackServerContext& context, absl::string_view method,
    absl::string_view app_id, bool audited) const {
  absl::Status allowed = authorizer_.Get()->Check(context, method, app_id);
  if (allowed.ok() && audited) {
    // Who spent quota, read a push or spoke for the account.
    Log(LogLevel::kInfo, "audit",
        {{"method", std::string(method)},
         {"app_id", std::string(app_id)},
         {"caller", CallerAuthorizer::Describe(context)},
         {"peer", context.peer()}});
  }
  return allowed;
}

grpc::ServerUnaryReactor* TokenControllerService::GetToken(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::GetTokenRequest* request,
    wxtoken::v1::GetTokenResponse* response) {
  const SelfRecordedCall recorded(&metrics_, &authorizer_);
  const absl::Status served = ServeGetToken(*context, *request, response);
  if (served.code() == absl::StatusCode::kUnavailable &&
      IsAuthorizerKey(table_, request->app_id()) && forwarder_ != nullptr &&
      forwarder_->ShouldForward(*context)) {
    // Only the leader fetches: it answers once it has (below).
    recorded.Finish(context, grpc::Status::OK);
    return forwarder_->ForwardGetToken(context, request, response);
  }
  if (served.code() == absl::StatusCode::kUnavailable &&
      IsAuthorizerKey(table_, request->app_id()) &&
      (forwarder_ == nullptr || !forwarder_->ShouldForwardPushes())) {
    // An idle authorizer's token was left to expire: this call waits,
    // within its deadline, for the one fetch its use causes (coalesced
    // with any other). The one exception to GetToken never waiting.
    recorded.Finish(context, grpc::Status::OK);
    auto* reactor = ForceRefreshReactor::ForResponse(response);
    ForceRefreshCommand command;
    command.app_id = request->app_id();
    command.kind =
        FromProtoKind(request->kind()).value_or(TokenKind::kAccessToken);
    command.wechat_errcode = 0;
    command.wants_any = true;
    reactor->Bind(command);
    worker_.Submit(std::move(command));
    return reactor;
  }
  const grpc::Status status = ToGrpcStatus(served);
  recorded.Finish(context, status);
  return Finish(context, status);
}

absl::Status TokenControllerService::ServeGetToken(
    const grpc::CallbackServerContext& context,
    const wxtoken::v1::GetTokenRequest& request,
    wxtoken::v1::GetTokenResponse* response) const {
  absl::StatusOr<TokenKind> kind =
      ValidateTokenRequest(request.app_id(), request.kind());
  if (!kind.ok()) return kind.status();
  if (absl::Status s = Authorize(context, "GetToken", request.app_id(),
                                 /*audited=*/false);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Token> token =
      table_.Get(request.app_id(), *kind, clock_.SteadyNow());
  if (!token.ok()) return token.status();
  FillToken(*std::move(token), response->mutable_token());
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* TokenControllerService::ForceRefresh(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::ForceRefreshRequest* request,
    wxtoken::v1::ForceRefreshResponse* response) {
  // DESIGN.md's order: malformed fields and a wechat_errcode that is not a
  // token error, then an unknown app; the rest is the worker's.
  absl::StatusOr<TokenKind> kind =
      ValidateTokenRequest(request->app_id(), request->kind());
  if (!kind.ok()) return Finish(context, kind.status());
  if (absl::Status s = ValidateStaleValue(request->stale_value()); !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = ValidateForceErrcode(request->wechat_errcode());
      !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = Authorize(*context, "ForceRefresh", request->app_id(),
                                 /*audited=*/true);
      !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = table_.CheckKnown(request->app_id(), *kind); !s.ok()) {
    return Finish(context, s);
  }
  // Only the leader fetches; what reaches a follower goes on to it.
  if (forwarder_ != nullptr && forwarder_->ShouldForward(*context)) {
    return forwarder_->Forward(context, request, response);
  }
  auto* reactor = ForceRefreshReactor::ForResponse(response);
  ForceRefreshCommand command;
  command.app_id = request->app_id();
  command.kind = *kind;
  command.stale_value = request->stale_value();
  command.wechat_errcode = request->wechat_errcode();
  reactor->Bind(command);
  worker_.Submit(std::move(command));
  return reactor;
}

grpc::ServerWriteReactor<wxtoken::v1::WatchTokenResponse>*
TokenControllerService::WatchToken(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::WatchTokenRequest* request) {
  absl::StatusOr<TokenKind> kind =
      ValidateTokenRequest(request->app_id(), request->kind());
  if (!kind.ok()) return WatchTokenReactor::Refuse(kind.status());
  if (absl::Status s = Authorize(*context, "WatchToken", request->app_id(),
                                 /*audited=*/false);
      !s.ok()) {
    return WatchTokenReactor::Refuse(s);
  }
  return WatchTokenReactor::Start(
      watch_hub_, table_, clock_, request->app_id(), *kind,
      request->known_generation(), [this, context, app_id = request->app_id()] {
        return Authorize(*context, "WatchToken", app_id, /*audited=*/false);
      });
}

grpc::ServerUnaryReactor* TokenControllerService::VerifySignature(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::VerifySignatureRequest* request,
    wxtoken::v1::VerifySignatureResponse* response) {
  if (absl::Status s = ValidateAppId(request->app_id()); !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = Authorize(*context, "VerifySignature", request->app_id(),
                                 /*audited=*/false);
      !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s =
          ValidateSignatureFields(request->signature(), request->timestamp(),
                                  request->nonce(), request->encrypt());
      !s.ok()) {
    return Finish(context, s);
  }
  absl::StatusOr<SignatureCheck> check = push_messages_.Get()->Verify(
      request->app_id(), request->signature(), request->timestamp(),
      request->nonce(), request->encrypt());
  if (!check.ok()) return Finish(context, check.status());
  response->set_valid(check->valid);
  response->set_reason(std::move(check->reason));
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* TokenControllerService::SignJsapi(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::SignJsapiRequest* request,
    wxtoken::v1::SignJsapiResponse* response) {
  if (absl::Status s = ValidateAppId(request->app_id()); !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = Authorize(*context, "SignJsapi", request->app_id(),
                                 /*audited=*/true);
      !s.ok()) {
    return Finish(context, s);
  }
  const std::string& app_id = request->app_id();
  // Only configured WeCom apps have a '/' and are not authorizers.
  const size_t slash = app_id.find('/');
  const bool wecom =
      slash != std::string::npos && !IsAuthorizerKey(table_, app_id);
  if (request->agent_config() && !wecom) {
    return Finish(context,
                  absl::InvalidArgumentError(absl::StrCat(
                      "agent_config: only a WeCom app (\"<corp_id>/<agent>\") "
                      "has an agent_config ticket, not \"",
                      app_id, "\"")));
  }
  absl::StatusOr<PageSigner::Signed> signed_page = page_signer_.SignJsapi(
      app_id, request->url(), request->noncestr(), request->timestamp(),
      request->agent_config() ? TokenKind::kAgentConfigTicket
                              : TokenKind::kJsapiTicket);
  if (!signed_page.ok()) return Finish(context, signed_page.status());
  response->set_app_id(wecom ? app_id.substr(0, slash) : app_id);
  if (request->agent_config()) response->set_agent_id(app_id.substr(slash + 1));
  response->set_timestamp(signed_page->timestamp);
  response->set_noncestr(std::move(signed_page->nonce));
  response->set_signature(std::move(signed_page->signature));
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* TokenControllerService::SignCard(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::SignCardRequest* request,
    wxtoken::v1::SignCardResponse* response) {
  if (absl::Status s = ValidateAppId(request->app_id()); !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = Authorize(*context, "SignCard", request->app_id(),
                                 /*audited=*/true);
      !s.ok()) {
    return Finish(context, s);
  }
  absl::StatusOr<PageSigner::Signed> signed_card = page_signer_.SignCard(
      request->app_id(), request->card_id(), request->code(), request->openid(),
      request->nonce_str(), request->timestamp());
  if (!signed_card.ok()) return Finish(context, signed_card.status());
  response->set_timestamp(signed_card->timestamp);
  response->set_nonce_str(std::move(signed_card->nonce));
  response->set_signature(std::move(signed_card->signature));
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* TokenControllerService::DecryptMessage(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::DecryptMessageRequest* request,
    wxtoken::v1::DecryptMessageResponse* response) {
  if (absl::Status s = ValidateAppId(request->app_id()); !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = Authorize(*context, "DecryptMessage", request->app_id(),
                                 /*audited=*/true);
      !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = ValidateSignatureFields(
          request->msg_signature(), request->timestamp(), request->nonce(), "");
      !s.ok()) {
    return Finish(context, s);
  }
  if (!request->echostr().empty() && !request->body().empty()) {
    return Finish(context, absl::InvalidArgumentError(
                               "echostr: a URL check (echostr) has no body; "
                               "give one of body and echostr"));
  }
  const auto messages = push_messages_.Get();
  absl::StatusOr<PushMessages::Decrypted> message =
      request->echostr().empty()
          ? messages->Decrypt(request->app_id(), request->msg_signature(),
                              request->timestamp(), request->nonce(),
                              request->body())
          : messages->DecryptEchoStr(
                request->app_id(), request->msg_signature(),
                request->timestamp(), request->nonce(), request->echostr());
  if (!message.ok()) return Finish(context, message.status());
  response->set_plaintext(std::move(message->plaintext));
  response->set_key(message->key == WhichKey::kCurrent
                        ? wxtoken::v1::MESSAGE_KEY_CURRENT
                        : wxtoken::v1::MESSAGE_KEY_PREVIOUS);
  response->set_to_user_name(message->to_user_name.value_or(""));
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* TokenControllerService::EncryptReply(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::EncryptReplyRequest* request,
    wxtoken::v1::EncryptReplyResponse* response) {
  if (absl::Status s = ValidateAppId(request->app_id()); !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = Authorize(*context, "EncryptReply", request->app_id(),
                                 /*audited=*/true);
      !s.ok()) {
    return Finish(context, s);
  }
  absl::StatusOr<PushMessages::Reply> reply =
      push_messages_.Get()->EncryptReply(
          request->app_id(), request->plaintext(), request->timestamp(),
          request->nonce(),
          request->key() == wxtoken::v1::MESSAGE_KEY_PREVIOUS
              ? WhichKey::kPrevious
              : WhichKey::kCurrent,
          request->format() == wxtoken::v1::REPLY_FORMAT_JSON
              ? PushMessages::Format::kJson
              : PushMessages::Format::kXml);
  if (!reply.ok()) return Finish(context, reply.status());
  response->set_envelope(std::move(reply->envelope));
  response->set_encrypt(std::move(reply->encrypt));
  response->set_msg_signature(std::move(reply->msg_signature));
  response->set_timestamp(std::move(reply->timestamp));
  response->set_nonce(std::move(reply->nonce));
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* TokenControllerService::SubmitPlatformPush(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::SubmitPlatformPushRequest* request,
    wxtoken::v1::SubmitPlatformPushResponse* response) {
  if (absl::Status s = ValidateAppId(request->component_app_id()); !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s =
          Authorize(*context, "SubmitPlatformPush", request->component_app_id(),
                    /*audited=*/false);
      !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = ValidateSignatureFields(
          request->msg_signature(), request->timestamp(), request->nonce(), "");
      !s.ok()) {
    return Finish(context, s);
  }
  if (platform_pushes_ == nullptr) {
    return Finish(context,
                  absl::NotFoundError(absl::StrCat(
                      "component_app_id: no platform or suite \"",
                      request->component_app_id(), "\" is configured")));
  }
  PlatformPush push;
  push.component_app_id = request->component_app_id();
  push.msg_signature = request->msg_signature();
  push.timestamp = request->timestamp();
  push.nonce = request->nonce();
  push.body = request->body();
  // Answered once durable, on the worker's thread.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  platform_pushes_->Submit(
      std::move(push),
      [reactor, response](absl::Status status) {
        if (status.ok()) response->set_reply("success");
        reactor->Finish(ToGrpcStatus(status));
      },
      /*may_forward=*/!LeaderForwarder::WasForwarded(*context));
  return reactor;
}

}  // namespace wxtoken::server
