#ifndef WXTOKEN_SERVER_TOKEN_TOKEN_H_
#define WXTOKEN_SERVER_TOKEN_TOKEN_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wxtoken::server {

// Which token of an app: wxtoken.v1.TokenKind without tying the domain code
// to the generated protobuf types.
//
// kComponentVerifyTicket and kSuiteTicket are internal: a platform's
// component_verify_ticket and a WeCom suite's suite_ticket, which WeChat
// and WeCom push and the platform's or suite's token is fetched with. They
// are stored like tokens but never served (the proto has no kind for them).
enum class TokenKind {
  kAccessToken = 0,
  kJsapiTicket = 1,
  kWxCardTicket = 2,
  kComponentVerifyTicket = 3,
  kAgentConfigTicket = 4,  // a WeCom app's own ticket (wx.agentConfig)
  kSuiteTicket = 5,
};
inline constexpr int kTokenKindCount = 6;
inline constexpr TokenKind kAllTokenKinds[] = {
    TokenKind::kAccessToken,       TokenKind::kJsapiTicket,
    TokenKind::kWxCardTicket,      TokenKind::kComponentVerifyTicket,
    TokenKind::kAgentConfigTicket, TokenKind::kSuiteTicket};

// A ticket fetched with its owner's access token (getticket; WeCom's
// get_jsapi_ticket and ticket/get).
inline bool IsTicket(TokenKind kind) {
  return kind == TokenKind::kJsapiTicket || kind == TokenKind::kWxCardTicket ||
         kind == TokenKind::kAgentConfigTicket;
}
// A credential WeChat pushes to us and that cannot be fetched.
inline bool IsPushed(TokenKind kind) {
  return kind == TokenKind::kComponentVerifyTicket ||
         kind == TokenKind::kSuiteTicket;
}

// "access_token", "jsapi_ticket", "wx_card_ticket", …: for logs, metrics
// and state files.
absl::string_view TokenKindName(TokenKind kind);
std::optional<TokenKind> TokenKindFromName(absl::string_view name);

// A ticket's `type` in WeChat's getticket API (WeCom's ticket/get) and in
// the config's `tickets` lists: "jsapi", "wx_card" or "agent_config" (""
// for the access token).
absl::string_view TicketType(TokenKind kind);
std::optional<TokenKind> TicketKindFromType(absl::string_view type);

// What GetToken hands out: a value and how long the caller may keep it.
struct Token {
  std::string app_id;
  TokenKind kind = TokenKind::kAccessToken;
  std::string value;
  absl::Time fetched_at;
  // The conservative end of the value's life: its own expiry, or earlier when
  // a request we sent may already have started WeChat's revocation countdown.
  absl::Time expires_at;
  absl::Duration max_cache;
  // How long the value is certainly valid if the caller cannot ask again:
  // min(expires_at - now, overlap). At least max_cache.
  absl::Duration stale_if_error;
  uint64_t generation = 0;
};

// A short, stable, non-reversible fingerprint of a secret value for logs:
// the first 8 hex digits of its SHA-256.
std::string Fingerprint(absl::string_view value);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_TOKEN_H_
