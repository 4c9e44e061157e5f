#include "server/credential.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"

namespace wxtoken {

absl::string_view CredentialKindName(CredentialKind kind) {
  switch (kind) {
    case CredentialKind::kAccessToken:
      return "access_token";
    case CredentialKind::kJsapiTicket:
      return "jsapi_ticket";
    case CredentialKind::kWxCardTicket:
      return "wx_card_ticket";
  }
  return "unknown";
}

std::string Fingerprint(absl::string_view value) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(value.data()), value.size(),
         digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 4));
}

}  // namespace wxtoken
