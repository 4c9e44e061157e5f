#include "server/messages/page_signatures.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/wechat/jsapi_signature.h"
#include "server/wechat/limits.h"

namespace wxtoken::server {
namespace {

absl::Status CheckUrl(absl::string_view url) {
  if (url.empty()) return absl::InvalidArgumentError("url: must not be empty");
  if (url.size() > kMaxPageUrlLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("url: too long (at most ", kMaxPageUrlLength, " bytes)"));
  }
  if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) {
    return absl::InvalidArgumentError(
        "url: must start with http:// or https://");
  }
  return absl::OkStatus();
}

absl::Status CheckCardField(absl::string_view field, absl::string_view value,
                            bool required) {
  if (required && value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must not be empty"));
  }
  if (value.size() > kMaxCardFieldLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": too long (at most ", kMaxCardFieldLength, " bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PageSigner::Signed> PageSigner::Prepare(
    absl::string_view nonce_field, absl::string_view nonce,
    int64_t timestamp) const {
  if (timestamp < 0) {
    return absl::InvalidArgumentError("timestamp: must not be negative");
  }
  if (nonce.size() > kMaxPageNonceLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(nonce_field, ": too long (at most ", kMaxPageNonceLength,
                     " characters)"));
  }
  for (char c : nonce) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat(nonce_field, ": only letters and digits are allowed"));
    }
  }
  Signed result;
  result.nonce = nonce.empty() ? RandomNonce() : std::string(nonce);
  result.timestamp =
      timestamp == 0 ? absl::ToUnixSeconds(clock_.Now()) : timestamp;
  return result;
}

absl::StatusOr<PageSigner::Signed> PageSigner::SignJsapi(
    absl::string_view app_id, absl::string_view url, absl::string_view noncestr,
    int64_t timestamp, TokenKind kind) const {
  if (absl::Status s = CheckUrl(url); !s.ok()) return s;
  absl::StatusOr<Signed> result = Prepare("noncestr", noncestr, timestamp);
  if (!result.ok()) return result;
  absl::StatusOr<Token> ticket = table_.Get(app_id, kind, clock_.SteadyNow());
  if (!ticket.ok()) return ticket.status();
  result->signature = JsapiSignature(ticket->value, result->nonce,
                                     absl::StrCat(result->timestamp), url);
  return result;
}

absl::StatusOr<PageSigner::Signed> PageSigner::SignCard(
    absl::string_view app_id, absl::string_view card_id, absl::string_view code,
    absl::string_view openid, absl::string_view nonce_str,
    int64_t timestamp) const {
  for (absl::Status s : {CheckCardField("card_id", card_id, true),
                         CheckCardField("code", code, false),
                         CheckCardField("openid", openid, false)}) {
    if (!s.ok()) return s;
  }
  absl::StatusOr<Signed> result = Prepare("nonce_str", nonce_str, timestamp);
  if (!result.ok()) return result;
  absl::StatusOr<Token> ticket =
      table_.Get(app_id, TokenKind::kWxCardTicket, clock_.SteadyNow());
  if (!ticket.ok()) return ticket.status();
  const std::string timestamp_text = absl::StrCat(result->timestamp);
  std::vector<absl::string_view> values = {ticket->value, timestamp_text,
                                           card_id, result->nonce};
  if (!code.empty()) values.push_back(code);
  if (!openid.empty()) values.push_back(openid);
  result->signature = CardSignature(std::move(values));
  return result;
}

}  // namespace wxtoken::server
