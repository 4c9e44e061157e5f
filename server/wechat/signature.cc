#include "server/wechat/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>

namespace wxtoken::server {
namespace {

constexpr size_t kSha1HexLength = 40;

std::string ToLowerHex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0x0F];
  }
  return out;
}

// Lowercases `s` if it is exactly 40 hex digits; returns false otherwise.
// The signature is public input, so branching on it leaks nothing.
bool NormalizeHexSignature(absl::string_view s, std::string* out) {
  if (s.size() != kSha1HexLength) return false;
  out->assign(s.data(), s.size());
  for (char& c : *out) {
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string Sha1Hex(absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_size = 0;
  if (EVP_Digest(data.data(), data.size(), md, &md_size, EVP_sha1(), nullptr) !=
      1) {
    // Only on allocation failure or a FIPS provider without SHA-1; a wrong
    // digest would make every check fail open or closed silently, so stop.
    std::abort();
  }
  return ToLowerHex(md, md_size);
}

std::string WeChatSignature(std::vector<absl::string_view> parts) {
  // absl::string_view compares through char_traits<char>, which orders bytes
  // as unsigned char: the byte-wise sort WeChat uses.
  std::sort(parts.begin(), parts.end());
  std::string joined;
  size_t size = 0;
  for (absl::string_view part : parts) size += part.size();
  joined.reserve(size);
  for (absl::string_view part : parts) joined.append(part.data(), part.size());
  return Sha1Hex(joined);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

SignatureCheck VerifyPushSignature(absl::string_view server_token,
                                   absl::string_view signature,
                                   absl::string_view timestamp,
                                   absl::string_view nonce,
                                   absl::string_view encrypt) {
  const bool safe_mode = !encrypt.empty();
  const char* const name = safe_mode ? "msg_signature" : "signature";
  if (server_token.empty()) {
    return {false, "no server token configured"};
  }
  std::string given;
  if (!NormalizeHexSignature(signature, &given)) {
    return {false, std::string(name) + " is not 40 hex digits"};
  }
  const std::string expected =
      safe_mode ? WeChatSignature({server_token, timestamp, nonce, encrypt})
                : WeChatSignature({server_token, timestamp, nonce});
  if (!ConstantTimeEquals(given, expected)) {
    return {false, std::string(name) + " mismatch"};
  }
  return {true, ""};
}

}  // namespace wxtoken::server
