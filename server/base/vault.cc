#include "server/base/vault.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace wxtoken::server {
namespace {

constexpr size_t kKeySize = 32;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr absl::string_view kFormat = "v1";

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const unsigned char* Bytes(absl::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

std::string KeyId(absl::string_view key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(Bytes(key), key.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 4));
}

absl::Status Damaged(absl::string_view why) {
  return absl::DataLossError(absl::StrCat("sealed value: ", why));
}

}  // namespace

absl::StatusOr<Vault> Vault::FromKeyFile(absl::string_view contents) {
  std::vector<Key> keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::string key;
    if (!absl::Base64Unescape(line, &key) || key.size() != kKeySize) {
      OPENSSL_cleanse(key.data(), key.size());
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": expected ", kKeySize,
                       " random bytes in base64 (openssl rand -base64 32)"));
    }
    keys.push_back({KeyId(key), std::move(key)});
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        "no key: expected a line of 32 random bytes in base64 "
        "(openssl rand -base64 32)");
  }
  return Vault(std::move(keys));
}

std::string Vault::Seal(absl::string_view plaintext,
                        absl::string_view context) const {
  const Key& key = keys_.front();
  std::string out(kNonceSize + plaintext.size() + kTagSize, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int size = 0;
  // Only allocation can fail here: nothing to recover, as with new.
  if (RAND_bytes(bytes, kNonceSize) != 1 || ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         Bytes(key.bytes), bytes) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &size, Bytes(context),
                        static_cast<int>(context.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), bytes + kNonceSize, &size, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), bytes + kNonceSize + size, &size) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                          bytes + kNonceSize + plaintext.size()) != 1) {
    std::abort();
  }
  return absl::StrCat(kFormat, ":", key.id, ":", absl::Base64Escape(out));
}

absl::StatusOr<std::string> Vault::Open(absl::string_view sealed,
                                        absl::string_view context) const {
  const std::vector<absl::string_view> parts = absl::StrSplit(sealed, ':');
  if (parts.size() != 3 || parts[0] != kFormat) {
    return Damaged("not of the form v1:<key id>:<data>");
  }
  const Key* key = nullptr;
  for (const Key& k : keys_) {
    if (k.id == parts[1]) key = &k;
  }
  if (key == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sealed value: key ", parts[1],
        " is not in the vault key file (a key rolled out too early?)"));
  }
  std::string data;
  if (!absl::Base64Unescape(parts[2], &data) ||
      data.size() < kNonceSize + kTagSize) {
    return Damaged("its data is not base64 of a nonce, ciphertext and tag");
  }
  const size_t text_size = data.size() - kNonceSize - kTagSize;
  std::string plaintext(text_size, '\0');
  auto* in = reinterpret_cast<unsigned char*>(data.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int size = 0;
  const bool ok =
      ctx != nullptr &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         Bytes(key->bytes), in) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &size, Bytes(context),
                        static_cast<int>(context.size())) == 1 &&
      EVP_DecryptUpdate(
          ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &size,
          in + kNonceSize, static_cast<int>(text_size)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize,
                          in + kNonceSize + text_size) == 1 &&
      EVP_DecryptFinal_ex(
          ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + size,
          &size) == 1;
  if (!ok) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return Damaged(
        "it does not open with its key for this record (altered, or copied "
        "from another record)");
  }
  return plaintext;
}

}  // namespace wxtoken::server
