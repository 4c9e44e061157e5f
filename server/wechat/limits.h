#ifndef WXTOKEN_SERVER_WECHAT_LIMITS_H_
#define WXTOKEN_SERVER_WECHAT_LIMITS_H_

#include <cstddef>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace wxtoken::server {

// The sizes and shapes of WeChat's protocol fields: the one place the
// protocol code, the config and the RPC edge take them from. WeChat's own
// values are far shorter; the limits keep garbage out of memory and logs.

// An AppID: 1..kMaxAppIdLength of [A-Za-z0-9_-].
inline constexpr size_t kMaxAppIdLength = 32;
// An access token or ticket. WeChat says to reserve 512 characters.
inline constexpr size_t kMaxTokenLength = 2048;
// A push: signature / msg_signature, timestamp (Unix seconds), nonce, and
// the base64 Encrypt field.
inline constexpr size_t kMaxSignatureLength = 128;
inline constexpr size_t kMaxTimestampLength = 20;
inline constexpr size_t kMaxPushNonceLength = 128;
inline constexpr size_t kMaxEncryptLength = 1 << 20;
// What a page signature (JS-SDK wx.config, card API) is computed over.
inline constexpr size_t kMaxPageUrlLength = 4096;
inline constexpr size_t kMaxPageNonceLength = 32;
inline constexpr size_t kMaxCardFieldLength = 128;

inline bool IsWellFormedAppId(absl::string_view app_id) {
  if (app_id.empty() || app_id.size() > kMaxAppIdLength) return false;
  for (char c : app_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_LIMITS_H_
