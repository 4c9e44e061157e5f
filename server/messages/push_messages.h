#ifndef WXTOKEN_SERVER_MESSAGES_PUSH_MESSAGES_H_
#define WXTOKEN_SERVER_MESSAGES_PUSH_MESSAGES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/config/config.h"
#include "server/wechat/message_crypto.h"
#include "server/wechat/signature.h"

namespace wxtoken::server {

// What WeChat pushes to an app's server URL, checked and opened with the
// app's server token and EncodingAESKeys, which never leave wxtokend.
// Immutable after Create(); thread-safe.
class PushMessages {
 public:
  struct Decrypted {
    std::string plaintext;
    WhichKey key = WhichKey::kCurrent;  // the reply must use the same one
    std::optional<std::string> to_user_name;
  };
  struct Reply {
    std::string envelope;  // the body to answer WeChat with
    std::string encrypt;
    std::string msg_signature;
    std::string timestamp;
    std::string nonce;
  };
  enum class Format { kXml, kJson };

  // Derives every app's keys. Fails (naming the config key, never the value)
  // when an EncodingAESKey cannot be used.
  static absl::StatusOr<PushMessages> Create(const Config& config,
                                             const Clock& clock);

  // The plain-mode signature, or msg_signature when `encrypt` is set.
  // NOT_FOUND for an unknown app; FAILED_PRECONDITION when it has no server
  // token. A wrong signature or a timestamp outside max_timestamp_skew is
  // valid=false with a reason.
  absl::StatusOr<SignatureCheck> Verify(absl::string_view app_id,
                                        absl::string_view signature,
                                        absl::string_view timestamp,
                                        absl::string_view nonce,
                                        absl::string_view encrypt) const;

  // A safe-mode push: parses `body` (XML or JSON envelope), verifies
  // msg_signature, decrypts with the current or previous key and checks the
  // appid. A bad envelope, signature or ciphertext is INVALID_ARGUMENT with
  // the reason; FAILED_PRECONDITION when the app has no key or server token.
  absl::StatusOr<Decrypted> Decrypt(absl::string_view app_id,
                                    absl::string_view msg_signature,
                                    absl::string_view timestamp,
                                    absl::string_view nonce,
                                    absl::string_view body) const;

  // WeCom's callback URL check (a GET): `echostr` is the ciphertext itself,
  // signed as a push's Encrypt is; its plaintext is what to answer. Errors
  // as Decrypt's.
  absl::StatusOr<Decrypted> DecryptEchoStr(absl::string_view app_id,
                                           absl::string_view msg_signature,
                                           absl::string_view timestamp,
                                           absl::string_view nonce,
                                           absl::string_view echostr) const;

  // Encrypts and signs a reply. An empty `timestamp` means now, an empty
  // `nonce` a random one. `key` kPrevious needs a previous key configured.
  absl::StatusOr<Reply> EncryptReply(absl::string_view app_id,
                                     absl::string_view plaintext,
                                     absl::string_view timestamp,
                                     absl::string_view nonce, WhichKey key,
                                     Format format) const;

 private:
  struct AppKeys {
    // What its encrypted messages end with: the app_id, a WeCom app's
    // corp_id.
    std::string receive_id;
    // A WeCom suite's URL check may also end with a provider's corp_id
    // (reports differ on which WeCom uses); its signature authenticates it
    // whichever it is.
    std::vector<std::string> url_check_receive_ids;
    std::string server_token;  // "" when not configured
    std::optional<MessageKey> current;
    std::optional<MessageKey> previous;
  };

  PushMessages(const Clock& clock, absl::Duration max_skew)
      : clock_(&clock), max_skew_(max_skew) {}

  absl::StatusOr<const AppKeys*> Find(absl::string_view app_id) const;
  absl::StatusOr<const AppKeys*> FindWithServerToken(
      absl::string_view app_id) const;
  // ... with an encoding_aes_key too.
  absl::StatusOr<const AppKeys*> FindWithKey(absl::string_view app_id) const;
  // Checks msg_signature over `encrypt` and the timestamp's skew, then
  // decrypts with the current or previous key for the app's receive id.
  absl::StatusOr<DecryptedMessage> Open(const AppKeys& keys,
                                        absl::string_view msg_signature,
                                        absl::string_view timestamp,
                                        absl::string_view nonce,
                                        absl::string_view encrypt) const;
  // "" when `timestamp` is within max_timestamp_skew (or the check is off).
  std::string SkewProblem(absl::string_view timestamp) const;

  const Clock* clock_;
  absl::Duration max_skew_;
  absl::flat_hash_map<std::string, AppKeys> apps_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_MESSAGES_PUSH_MESSAGES_H_
