#include "server/messages/push_messages.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/wechat/envelope.h"
#include "server/wechat/jsapi_signature.h"

namespace wxtoken::server {

absl::StatusOr<PushMessages> PushMessages::Create(const Config& config,
                                                  const Clock& clock) {
  PushMessages messages(clock, config.max_timestamp_skew);
  std::vector<std::string> provider_corps;
  for (const AppConfig& app : config.apps) {
    if (app.api == AppConfig::Api::kWeComProvider) {
      provider_corps.push_back(app.app_id.substr(0, app.app_id.find('/')));
    }
  }
  for (size_t i = 0; i < config.apps.size(); ++i) {
    const AppConfig& app = config.apps[i];
    AppKeys keys;
    keys.receive_id = app.api == AppConfig::Api::kWeCom
                          ? app.app_id.substr(0, app.app_id.find('/'))
                          : app.app_id;
    if (app.api == AppConfig::Api::kWeComSuite) {
      keys.url_check_receive_ids = provider_corps;
    }
    keys.server_token = app.server_token;
    const std::pair<const std::string*, std::optional<MessageKey>*> sources[] =
        {{&app.encoding_aes_key, &keys.current},
         {&app.previous_encoding_aes_key, &keys.previous}};
    for (const auto& [text, key] : sources) {
      if (text->empty()) continue;
      absl::StatusOr<MessageKey> parsed = MessageKey::FromEncodingAesKey(*text);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("apps[", i, "]: ",
                         key == &keys.current ? "encoding_aes_key"
                                              : "previous_encoding_aes_key",
                         ": not a usable EncodingAESKey"));
      }
      *key = *std::move(parsed);
    }
    messages.apps_.emplace(app.app_id, std::move(keys));
  }
  return messages;
}

absl::StatusOr<const PushMessages::AppKeys*> PushMessages::Find(
    absl::string_view app_id) const {
  auto it = apps_.find(app_id);
  if (it == apps_.end()) {
    return absl::NotFoundError(
        absl::StrCat("app_id: unknown app \"", app_id, "\""));
  }
  return &it->second;
}

absl::StatusOr<const PushMessages::AppKeys*> PushMessages::FindWithServerToken(
    absl::string_view app_id) const {
  absl::StatusOr<const AppKeys*> keys = Find(app_id);
  if (keys.ok() && (*keys)->server_token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("app \"", app_id,
                     "\" has no server_token configured (server_token_file or "
                     "server_token_env)"));
  }
  return keys;
}

std::string PushMessages::SkewProblem(absl::string_view timestamp) const {
  if (max_skew_ == absl::ZeroDuration()) return "";
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(timestamp, &seconds)) return "timestamp: not a number";
  const absl::Duration skew = absl::FromUnixSeconds(seconds) - clock_->Now();
  if (absl::AbsDuration(skew) <= max_skew_) return "";
  return absl::StrCat("timestamp: ", absl::FormatDuration(skew),
                      " from the server's clock (max_timestamp_skew is ",
                      absl::FormatDuration(max_skew_), ")");
}

absl::StatusOr<SignatureCheck> PushMessages::Verify(
    absl::string_view app_id, absl::string_view signature,
    absl::string_view timestamp, absl::string_view nonce,
    absl::string_view encrypt) const {
  absl::StatusOr<const AppKeys*> keys = FindWithServerToken(app_id);
  if (!keys.ok()) return keys.status();
  SignatureCheck check = VerifyPushSignature((*keys)->server_token, signature,
                                             timestamp, nonce, encrypt);
  if (check.valid) {
    if (std::string problem = SkewProblem(timestamp); !problem.empty()) {
      return SignatureCheck{false, std::move(problem)};
    }
  }
  return check;
}

absl::StatusOr<PushMessages::Decrypted> PushMessages::Decrypt(
    absl::string_view app_id, absl::string_view msg_signature,
    absl::string_view timestamp, absl::string_view nonce,
    absl::string_view body) const {
  absl::StatusOr<const AppKeys*> keys = FindWithKey(app_id);
  if (!keys.ok()) return keys.status();
  absl::StatusOr<PushEnvelope> envelope = ParsePushEnvelope(body);
  if (!envelope.ok()) return envelope.status();
  absl::StatusOr<DecryptedMessage> message =
      Open(**keys, msg_signature, timestamp, nonce, envelope->encrypt);
  if (!message.ok()) return message.status();
  return Decrypted{std::move(message->message), message->key,
                   std::move(envelope->to_user_name)};
}

absl::StatusOr<PushMessages::Decrypted> PushMessages::DecryptEchoStr(
    absl::string_view app_id, absl::string_view msg_signature,
    absl::string_view timestamp, absl::string_view nonce,
    absl::string_view echostr) const {
  absl::StatusOr<const AppKeys*> keys = FindWithKey(app_id);
  if (!keys.ok()) return keys.status();
  absl::StatusOr<DecryptedMessage> message =
      Open(**keys, msg_signature, timestamp, nonce, echostr);
  for (const std::string& receive_id : (*keys)->url_check_receive_ids) {
    if (message.ok()) break;
    AppKeys provider = **keys;
    provider.receive_id = receive_id;
    absl::StatusOr<DecryptedMessage> again =
        Open(provider, msg_signature, timestamp, nonce, echostr);
    if (again.ok()) message = std::move(again);
  }
  if (!message.ok()) return message.status();
  return Decrypted{std::move(message->message), message->key, std::nullopt};
}

absl::StatusOr<const PushMessages::AppKeys*> PushMessages::FindWithKey(
    absl::string_view app_id) const {
  absl::StatusOr<const AppKeys*> keys = FindWithServerToken(app_id);
  if (keys.ok() && !(*keys)->current) {
    return absl::FailedPreconditionError(absl::StrCat(
        "app \"", app_id, "\" has no encoding_aes_key configured"));
  }
  return keys;
}

absl::StatusOr<DecryptedMessage> PushMessages::Open(
    const AppKeys& keys, absl::string_view msg_signature,
    absl::string_view timestamp, absl::string_view nonce,
    absl::string_view encrypt) const {
  // The signature covers the ciphertext: check it before decrypting, so a
  // forged one never reaches the cipher.
  SignatureCheck check = VerifyPushSignature(keys.server_token, msg_signature,
                                             timestamp, nonce, encrypt);
  if (!check.valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("msg_signature: ", check.reason));
  }
  if (std::string problem = SkewProblem(timestamp); !problem.empty()) {
    return absl::InvalidArgumentError(problem);
  }
  const MessageKey* previous = keys.previous ? &*keys.previous : nullptr;
  return DecryptWithEither(*keys.current, previous, keys.receive_id, encrypt);
}

absl::StatusOr<PushMessages::Reply> PushMessages::EncryptReply(
    absl::string_view app_id, absl::string_view plaintext,
    absl::string_view timestamp, absl::string_view nonce, WhichKey key,
    Format format) const {
  absl::StatusOr<const AppKeys*> keys = FindWithServerToken(app_id);
  if (!keys.ok()) return keys.status();
  const std::optional<MessageKey>& message_key =
      key == WhichKey::kCurrent ? (*keys)->current : (*keys)->previous;
  if (!message_key) {
    return absl::FailedPreconditionError(
        absl::StrCat("app \"", app_id, "\" has no ",
                     key == WhichKey::kCurrent ? "encoding_aes_key"
                                               : "previous_encoding_aes_key",
                     " configured"));
  }
  Reply reply;
  reply.timestamp = timestamp.empty()
                        ? absl::StrCat(absl::ToUnixSeconds(clock_->Now()))
                        : std::string(timestamp);
  reply.nonce = nonce.empty() ? RandomNonce() : std::string(nonce);
  absl::StatusOr<std::string> encrypt =
      EncryptMessage(*message_key, (*keys)->receive_id, plaintext);
  if (!encrypt.ok()) return encrypt.status();
  reply.encrypt = *std::move(encrypt);
  reply.msg_signature = WeChatSignature(
      {(*keys)->server_token, reply.timestamp, reply.nonce, reply.encrypt});
  absl::StatusOr<std::string> envelope =
      format == Format::kXml
          ? BuildReplyEnvelope(reply.encrypt, reply.msg_signature,
                               reply.timestamp, reply.nonce)
          : BuildJsonReplyEnvelope(reply.encrypt, reply.msg_signature,
                                   reply.timestamp, reply.nonce);
  if (!envelope.ok()) return envelope.status();
  reply.envelope = *std::move(envelope);
  return reply;
}

}  // namespace wxtoken::server
