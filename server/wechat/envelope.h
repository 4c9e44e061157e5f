#ifndef WXTOKEN_SERVER_WECHAT_ENVELOPE_H_
#define WXTOKEN_SERVER_WECHAT_ENVELOPE_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// The outer layer of a safe-mode push and of its reply: the envelope that
// carries `Encrypt` (WECHAT.md "Message encryption"). Pure and thread-safe.
namespace wxtoken::server {

// Largest POST body ParsePushEnvelope looks at. A safe-mode push is a few
// KiB; the bound caps the work a hostile body can cause.
inline constexpr size_t kMaxEnvelopeSize = 1 << 20;

struct PushEnvelope {
  std::string encrypt;                      // never empty
  std::optional<std::string> to_user_name;  // when the body has ToUserName
};

// Parses the POST body of a safe-mode push, in either data format WeChat
// offers (the first non-whitespace byte decides):
//   XML:  <xml><ToUserName><![CDATA[gh_…]]></ToUserName>
//         <Encrypt><![CDATA[…]]></Encrypt></xml>
//   JSON: {"ToUserName":"gh_…","Encrypt":"…"}
// XML is read by a strict extractor for this flat shape, not a general
// parser: UTF-8 text (no control characters but tab, CR and LF), `<xml>`
// holding only elements `<Name>text</Name>` separated by
// whitespace, each text either one CDATA section or plain characters without
// '<' or '&'. Declarations, DOCTYPE, entities, comments, attributes, nesting
// and self-closing tags are rejected, so nothing can expand. Other elements
// (e.g. AppId in third-party platform pushes) are allowed and ignored.
// JSON must be one object with at most 64 '{' and '[' bytes in all (a bound
// on nesting; see envelope.cc); other members are ignored. In both, a repeated
// Encrypt or ToUserName, a missing or empty Encrypt, or a non-string value
// for either is INVALID_ARGUMENT, as is a body over kMaxEnvelopeSize. Error
// messages start with "envelope: " and never quote the body.
absl::StatusOr<PushEnvelope> ParsePushEnvelope(absl::string_view body);

// The reply envelope, exactly as WeChat expects it:
// <xml><Encrypt><![CDATA[E]]></Encrypt><MsgSignature><![CDATA[S]]></MsgSignature><TimeStamp>T</TimeStamp><Nonce><![CDATA[N]]></Nonce></xml>
// The values are checked rather than escaped, so none can break out of its
// element: `encrypt` non-empty base64 of at most kMaxEncryptLength,
// `msg_signature` 40 hex digits, `timestamp` 1..kMaxTimestampLength decimal
// digits without a leading zero, `nonce` 1..kMaxPushNonceLength of
// [A-Za-z0-9_-] (limits from limits.h). INVALID_ARGUMENT naming the field
// otherwise.
absl::StatusOr<std::string> BuildReplyEnvelope(absl::string_view encrypt,
                                               absl::string_view msg_signature,
                                               absl::string_view timestamp,
                                               absl::string_view nonce);

// The same reply for apps whose data format is JSON; TimeStamp is a number:
// {"Encrypt":"E","MsgSignature":"S","TimeStamp":T,"Nonce":"N"}
absl::StatusOr<std::string> BuildJsonReplyEnvelope(
    absl::string_view encrypt, absl::string_view msg_signature,
    absl::string_view timestamp, absl::string_view nonce);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_ENVELOPE_H_
