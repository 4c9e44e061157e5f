#include "server/wechat/jsapi_signature.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "server/wechat/signature.h"

namespace wxtoken::server {
namespace {

constexpr char kNonceAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr unsigned kNonceAlphabetSize = sizeof(kNonceAlphabet) - 1;
// Bytes at or above this are redrawn so every character is equally likely.
constexpr unsigned kNonceByteLimit =
    256 / kNonceAlphabetSize * kNonceAlphabetSize;

}  // namespace

std::string JsapiSignature(absl::string_view jsapi_ticket,
                           absl::string_view noncestr,
                           absl::string_view timestamp, absl::string_view url) {
  const absl::string_view page_url = url.substr(0, url.find('#'));
  return Sha1Hex(absl::StrCat("jsapi_ticket=", jsapi_ticket,
                              "&noncestr=", noncestr, "&timestamp=", timestamp,
                              "&url=", page_url));
}

std::string CardSignature(std::vector<absl::string_view> values) {
  return WeChatSignature(std::move(values));
}

std::string RandomNonce(size_t length) {
  std::string nonce;
  nonce.reserve(length);
  unsigned char buffer[64];
  while (nonce.size() < length) {
    if (RAND_bytes(buffer, sizeof(buffer)) != 1) std::abort();
    for (unsigned char byte : buffer) {
      if (byte >= kNonceByteLimit || nonce.size() == length) continue;
      nonce.push_back(kNonceAlphabet[byte % kNonceAlphabetSize]);
    }
  }
  return nonce;
}

}  // namespace wxtoken::server
