#include "server/token/token.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"

namespace wxtoken::server {

absl::string_view TokenKindName(TokenKind kind) {
  switch (kind) {
    case TokenKind::kAccessToken:
      return "access_token";
    case TokenKind::kJsapiTicket:
      return "jsapi_ticket";
    case TokenKind::kWxCardTicket:
      return "wx_card_ticket";
    case TokenKind::kComponentVerifyTicket:
      return "component_verify_ticket";
    case TokenKind::kAgentConfigTicket:
      return "agent_config_ticket";
    case TokenKind::kSuiteTicket:
      return "suite_ticket";
  }
  return "unknown";
}

std::optional<TokenKind> TokenKindFromName(absl::string_view name) {
  for (TokenKind kind : kAllTokenKinds) {
    if (TokenKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

absl::string_view TicketType(TokenKind kind) {
  switch (kind) {
    case TokenKind::kAccessToken:
      return "";
    case TokenKind::kJsapiTicket:
      return "jsapi";
    case TokenKind::kWxCardTicket:
      return "wx_card";
    case TokenKind::kComponentVerifyTicket:
    case TokenKind::kSuiteTicket:
      return "";
    case TokenKind::kAgentConfigTicket:
      return "agent_config";
  }
  return "";
}

std::optional<TokenKind> TicketKindFromType(absl::string_view type) {
  for (TokenKind kind : kAllTokenKinds) {
    if (IsTicket(kind) && TicketType(kind) == type) return kind;
  }
  return std::nullopt;
}

std::string Fingerprint(absl::string_view value) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(value.data()), value.size(),
         digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 4));
}

}  // namespace wxtoken::server
