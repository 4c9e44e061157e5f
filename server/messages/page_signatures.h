#ifndef WXTOKEN_SERVER_MESSAGES_PAGE_SIGNATURES_H_
#define WXTOKEN_SERVER_MESSAGES_PAGE_SIGNATURES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/base/clock.h"
#include "server/token/token_table.h"

namespace wxtoken::server {

// Signs what a web page needs for WeChat's JS-SDK (jsapi ticket) and card
// API (wx_card ticket), so the tickets never leave wxtokend. Reads the
// tickets from the TokenTable like GetToken does. Thread-safe.
class PageSigner {
 public:
  struct Signed {
    int64_t timestamp = 0;  // Unix seconds
    std::string nonce;
    std::string signature;
  };

  // Both must outlive the signer.
  PageSigner(const TokenTable& table, const Clock& clock)
      : table_(table), clock_(clock) {}

  // wx.config's signature for the page at `url` (its #fragment ignored).
  // An empty `noncestr` is drawn from a CSPRNG; a zero `timestamp` is now.
  // INVALID_ARGUMENT naming the field for a bad url, noncestr or timestamp;
  // NOT_FOUND when the app has no jsapi ticket configured; the ticket's
  // status (e.g. UNAVAILABLE) when none is valid. `kind` kAgentConfigTicket:
  // wx.agentConfig's, signed the same way with a WeCom app's own ticket.
  absl::StatusOr<Signed> SignJsapi(
      absl::string_view app_id, absl::string_view url,
      absl::string_view noncestr, int64_t timestamp,
      TokenKind kind = TokenKind::kJsapiTicket) const;

  // The card signature over card_id and, when given, code and openid.
  absl::StatusOr<Signed> SignCard(absl::string_view app_id,
                                  absl::string_view card_id,
                                  absl::string_view code,
                                  absl::string_view openid,
                                  absl::string_view nonce_str,
                                  int64_t timestamp) const;

 private:
  // The nonce to use (given, or random) and the timestamp (given, or now).
  absl::StatusOr<Signed> Prepare(absl::string_view nonce_field,
                                 absl::string_view nonce,
                                 int64_t timestamp) const;

  const TokenTable& table_;
  const Clock& clock_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_MESSAGES_PAGE_SIGNATURES_H_
