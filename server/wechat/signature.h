#ifndef WXTOKEN_SERVER_WECHAT_SIGNATURE_H_
#define WXTOKEN_SERVER_WECHAT_SIGNATURE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace wxtoken::server {

// Lowercase hex SHA-1 of `data` (40 characters). Thread-safe.
std::string Sha1Hex(absl::string_view data);

// WeChat's signature scheme: lowercase hex SHA-1 of the parts sorted
// byte-wise and concatenated with no separator (server URL signature,
// msg_signature, wx_card signature). Thread-safe.
std::string WeChatSignature(std::vector<absl::string_view> parts);

// Compares in time that depends only on the lengths, never on the contents,
// so a caller probing a signature learns nothing from response times.
// Different lengths are unequal.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

struct SignatureCheck {
  bool valid = false;
  // Why it is invalid ("" when valid). Never holds the server token or the
  // expected signature.
  std::string reason;
};

// Checks a push from WeChat to our server URL. Without `encrypt` (plain
// mode), `signature` must be sha1(sort(server_token, timestamp, nonce)); with
// `encrypt` (safe mode) it is the msg_signature,
// sha1(sort(server_token, timestamp, nonce, encrypt)). Hex digits compare
// case-insensitively and in constant time. An empty `server_token` is never
// valid: anyone could compute signatures for it. Validating the shape of
// timestamp and nonce is the caller's job. Thread-safe.
SignatureCheck VerifyPushSignature(absl::string_view server_token,
                                   absl::string_view signature,
                                   absl::string_view timestamp,
                                   absl::string_view nonce,
                                   absl::string_view encrypt);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_SIGNATURE_H_
