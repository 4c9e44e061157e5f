#ifndef WXTOKEN_SERVER_REQUEST_VALIDATION_H_
#define WXTOKEN_SERVER_REQUEST_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace wxtoken {

// Shape checks for request fields, done before anything touches the token
// state. Each error is INVALID_ARGUMENT and its message starts with the field
// name, so a caller sees at once what was wrong.

// Longest accepted values. WeChat's values are far shorter; the limits only
// keep garbage out of memory and logs.
inline constexpr size_t kMaxAppIdLength = 32;
inline constexpr size_t kMaxTokenValueLength = 2048;
inline constexpr size_t kMaxSignatureLength = 128;
inline constexpr size_t kMaxTimestampLength = 20;
inline constexpr size_t kMaxNonceLength = 128;
inline constexpr size_t kMaxEncryptLength = 1 << 20;

// A WeChat AppID: 1..32 characters of [A-Za-z0-9_-].
absl::Status ValidateAppId(absl::string_view app_id);

absl::Status ValidateStaleValue(absl::string_view stale_value);

// signature, timestamp (decimal digits), nonce and encrypt of a push.
absl::Status ValidateSignatureFields(absl::string_view signature,
                                     absl::string_view timestamp,
                                     absl::string_view nonce,
                                     absl::string_view encrypt);

}  // namespace wxtoken

#endif  // WXTOKEN_SERVER_REQUEST_VALIDATION_H_
