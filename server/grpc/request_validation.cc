#include "server/grpc/request_validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace wxtoken::server {
namespace {

absl::Status CheckLength(absl::string_view field, absl::string_view value,
                         size_t max) {
  if (value.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": too long (", value.size(), " bytes, at most ", max, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckNotEmpty(absl::string_view field, absl::string_view value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must not be empty"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateAppId(absl::string_view app_id) {
  if (absl::Status s = CheckNotEmpty("app_id", app_id); !s.ok()) return s;
  if (absl::Status s = CheckLength("app_id", app_id, kMaxOwnerKeyLength);
      !s.ok()) {
    return s;
  }
  if (!IsWellFormedOwnerKey(app_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("app_id: an owner key is ", kOwnerKeyShape));
  }
  return absl::OkStatus();
}

absl::Status ValidateStaleValue(absl::string_view stale_value) {
  return CheckLength("stale_value", stale_value, kMaxTokenLength);
}

absl::Status ValidateSignatureFields(absl::string_view signature,
                                     absl::string_view timestamp,
                                     absl::string_view nonce,
                                     absl::string_view encrypt) {
  const std::pair<absl::string_view, absl::string_view> required[] = {
      {"signature", signature}, {"timestamp", timestamp}, {"nonce", nonce}};
  for (const auto& [field, value] : required) {
    if (absl::Status s = CheckNotEmpty(field, value); !s.ok()) return s;
  }
  for (absl::Status s :
       {CheckLength("signature", signature, kMaxSignatureLength),
        CheckLength("timestamp", timestamp, kMaxTimestampLength),
        CheckLength("nonce", nonce, kMaxPushNonceLength),
        CheckLength("encrypt", encrypt, kMaxEncryptLength)}) {
    if (!s.ok()) return s;
  }
  for (char c : timestamp) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          "timestamp: must be decimal digits (Unix seconds)");
    }
  }
  return absl::OkStatus();
}

}  // namespace wxtoken::server
