#ifndef WXTOKEN_SERVER_GRPC_REQUEST_VALIDATION_H_
#define WXTOKEN_SERVER_GRPC_REQUEST_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/wechat/limits.h"

namespace wxtoken::server {

// Shape checks for request fields, done before anything touches the token
// state. Each error is INVALID_ARGUMENT and its message starts with the field
// name, so a caller sees at once what was wrong.

// An owner key in the app_id field (IsWellFormedOwnerKey), with a message
// saying what is wrong.
absl::Status ValidateAppId(absl::string_view app_id);

absl::Status ValidateStaleValue(absl::string_view stale_value);

// signature, timestamp (decimal digits), nonce and encrypt of a push.
absl::Status ValidateSignatureFields(absl::string_view signature,
                                     absl::string_view timestamp,
                                     absl::string_view nonce,
                                     absl::string_view encrypt);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_REQUEST_VALIDATION_H_
