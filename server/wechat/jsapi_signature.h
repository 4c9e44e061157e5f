#ifndef WXTOKEN_SERVER_WECHAT_JSAPI_SIGNATURE_H_
#define WXTOKEN_SERVER_WECHAT_JSAPI_SIGNATURE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

// Signatures a web page needs to call WeChat's JS-SDK (WECHAT.md "JS-SDK
// signature"), computed where the tickets are. Pure apart from RandomNonce;
// all thread-safe. Validating the shape of the values is the caller's job.
namespace wxtoken::server {

// sha1("jsapi_ticket=T&noncestr=N&timestamp=S&url=U") in lowercase hex, the
// values raw (not URL-escaped) and `url` cut at its first '#': the page's
// fragment never reaches the server, so WeChat signs without it.
std::string JsapiSignature(absl::string_view jsapi_ticket,
                           absl::string_view noncestr,
                           absl::string_view timestamp, absl::string_view url);

// wx_card signature: sha1 of the byte-wise sorted values concatenated
// (card_ticket, timestamp, card_id, nonce_str, and code / openid when the
// page passes them). The caller leaves out the values it does not pass.
std::string CardSignature(std::vector<absl::string_view> values);

// `length` characters of [A-Za-z0-9] from OpenSSL's CSPRNG, uniformly
// distributed (no modulo bias), for noncestr / nonce_str. Aborts if the
// CSPRNG fails: a predictable nonce is worse than no answer.
std::string RandomNonce(size_t length = 16);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_JSAPI_SIGNATURE_H_
