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

// An owner key (DESIGN.md "Owners"): whose token it is. An AppID-shaped part
// (an account, a platform, a WeCom suite), or two joined by one '/' (a
// platform's authorizer, a WeCom corp's app), at most kMaxOwnerKeyLength.
inline constexpr size_t kMaxOwnerKeyLength = 64;
inline constexpr absl::string_view kOwnerKeyShape =
    "one part, or two joined by '/', each 1 to 32 letters, digits, '_' or "
    "'-'";

inline bool IsWellFormedOwnerKey(absl::string_view key) {
  if (key.size() > kMaxOwnerKeyLength) return false;
  const size_t slash = key.find('/');
  if (slash == absl::string_view::npos) return IsWellFormedAppId(key);
  // A second '/' makes the second part malformed.
  return IsWellFormedAppId(key.substr(0, slash)) &&
         IsWellFormedAppId(key.substr(slash + 1));
}

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_LIMITS_H_
