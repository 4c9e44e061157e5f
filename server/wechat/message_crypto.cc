#include "server/wechat/message_crypto.h"

#include <google/protobuf/stubs/common.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace wxtoken::server {
namespace {

constexpr size_t kLengthFieldSize = 4;
constexpr size_t kHeaderSize = kMessageRandomSize + kLengthFieldSize;
// The most ciphertext whose base64 fits in kMaxEncryptLength.
constexpr size_t kMaxCiphertextSize = kMaxEncryptLength / 4 * 3;
static_assert(kHeaderSize + kMaxMessageLength + kMaxAppIdLength +
                      kMessagePadBlock <=
                  kMaxCiphertextSize,
              "every message EncryptMessage accepts must fit");

absl::Status Invalid(absl::string_view reason) {
  return absl::InvalidArgumentError(reason);
}

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '+' || c == '/';
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

// AES-256-CBC over whole blocks, without the cipher's own padding: WeChat
// pads to 32 bytes itself. Fails only when OpenSSL cannot allocate.
absl::StatusOr<std::string> AesCbc(bool encrypt, const MessageKey& key,
                                   absl::string_view in) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  std::string out(in.size(), '\0');
  int update_size = 0;
  int final_size = 0;
  auto* out_bytes = reinterpret_cast<unsigned char*>(out.data());
  const bool ok =
      ctx != nullptr &&
      EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.key().data(),
                        key.iv(), encrypt ? 1 : 0) == 1 &&
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) == 1 &&
      EVP_CipherUpdate(ctx.get(), out_bytes, &update_size,
                       reinterpret_cast<const unsigned char*>(in.data()),
                       static_cast<int>(in.size())) == 1 &&
      EVP_CipherFinal_ex(ctx.get(), out_bytes + update_size, &final_size) ==
          1 &&
      static_cast<size_t>(update_size) + static_cast<size_t>(final_size) ==
          in.size();
  if (!ok) return absl::InternalError("encrypt: AES-256-CBC failed");
  return out;
}

void AppendBigEndian32(uint32_t value, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xFF));
  }
}

uint32_t ReadBigEndian32(absl::string_view bytes) {
  uint32_t value = 0;
  for (size_t i = 0; i < kLengthFieldSize; ++i) {
    value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return value;
}

}  // namespace

absl::StatusOr<MessageKey> MessageKey::FromEncodingAesKey(
    absl::string_view encoding_aes_key) {
  if (encoding_aes_key.size() != kEncodingAesKeyLength) {
    return Invalid("EncodingAESKey: must be 43 characters");
  }
  for (char c : encoding_aes_key) {
    if (!IsBase64Char(c)) {
      return Invalid(
          "EncodingAESKey: only base64 characters (A-Z a-z 0-9 + /) are "
          "allowed");
    }
  }
  std::string decoded;
  const bool ok =
      absl::Base64Unescape(absl::StrCat(encoding_aes_key, "="), &decoded) &&
      decoded.size() == kMessageKeySize;
  MessageKey key;
  if (ok) std::copy(decoded.begin(), decoded.end(), key.key_.begin());
  OPENSSL_cleanse(decoded.data(), decoded.size());
  // Unreachable for 43 checked characters; kept so a change in absl's
  // decoder cannot hand out a short key.
  if (!ok) return Invalid("EncodingAESKey: does not decode to 32 bytes");
  return key;
}

MessageKey::~MessageKey() { OPENSSL_cleanse(key_.data(), key_.size()); }

absl::StatusOr<std::string> EncryptBlocks(const MessageKey& key,
                                          absl::string_view blocks) {
  if (blocks.empty() || blocks.size() % kMessagePadBlock != 0) {
    return Invalid("blocks: not a multiple of 32 bytes");
  }
  if (blocks.size() > kMaxCiphertextSize) return Invalid("blocks: too long");
  absl::StatusOr<std::string> ciphertext = AesCbc(true, key, blocks);
  if (!ciphertext.ok()) return ciphertext.status();
  return absl::Base64Escape(*ciphertext);
}

absl::StatusOr<std::string> DecryptBlocks(const MessageKey& key,
                                          absl::string_view encrypt_base64) {
  if (encrypt_base64.empty()) return Invalid("encrypt: empty");
  if (encrypt_base64.size() > kMaxEncryptLength) {
    return Invalid("encrypt: too long");
  }
  // absl's decoder skips whitespace, tolerates missing '=' and ignores
  // trailing bits; re-encoding rejects all of those.
  std::string ciphertext;
  if (!absl::Base64Unescape(encrypt_base64, &ciphertext) ||
      absl::Base64Escape(ciphertext) != encrypt_base64) {
    return Invalid("encrypt: not canonical base64");
  }
  if (ciphertext.empty() || ciphertext.size() % kMessagePadBlock != 0) {
    return Invalid("encrypt: not a multiple of 32 bytes");
  }
  return AesCbc(false, key, ciphertext);
}

absl::StatusOr<std::string> EncryptMessage(const MessageKey& key,
                                           absl::string_view app_id,
                                           absl::string_view message,
                                           absl::string_view random16) {
  if (random16.size() != kMessageRandomSize) {
    return Invalid("random prefix: must be 16 bytes");
  }
  if (app_id.empty()) return Invalid("app_id: must not be empty");
  if (app_id.size() > kMaxAppIdLength) return Invalid("app_id: too long");
  if (message.size() > kMaxMessageLength) return Invalid("message: too long");
  const size_t content_size = kHeaderSize + message.size() + app_id.size();
  // 1..32, never 0: a content already a multiple of 32 gets a whole block.
  const size_t pad = kMessagePadBlock - content_size % kMessagePadBlock;
  std::string blocks;
  blocks.reserve(content_size + pad);
  blocks.append(random16.data(), random16.size());
  AppendBigEndian32(static_cast<uint32_t>(message.size()), &blocks);
  blocks.append(message.data(), message.size());
  blocks.append(app_id.data(), app_id.size());
  blocks.append(pad, static_cast<char>(pad));
  return EncryptBlocks(key, blocks);
}

absl::StatusOr<std::string> EncryptMessage(const MessageKey& key,
                                           absl::string_view app_id,
                                           absl::string_view message) {
  unsigned char random[kMessageRandomSize];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("random prefix: RAND_bytes failed");
  }
  return EncryptMessage(
      key, app_id, message,
      absl::string_view(reinterpret_cast<const char*>(random), sizeof(random)));
}

absl::StatusOr<OpenedMessage> OpenMessage(const MessageKey& key,
                                          absl::string_view encrypt_base64) {
  absl::StatusOr<std::string> plaintext = DecryptBlocks(key, encrypt_base64);
  if (!plaintext.ok()) return plaintext.status();
  const absl::string_view padded = *plaintext;
  const uint8_t pad = static_cast<uint8_t>(padded.back());
  if (pad == 0 || pad > kMessagePadBlock) {
    return Invalid("encrypt: bad padding");
  }
  for (size_t i = padded.size() - pad; i < padded.size(); ++i) {
    if (static_cast<uint8_t>(padded[i]) != pad) {
      return Invalid("encrypt: bad padding");
    }
  }
  const absl::string_view content = padded.substr(0, padded.size() - pad);
  if (content.size() < kHeaderSize) {
    return Invalid("encrypt: shorter than the random prefix and length");
  }
  const uint32_t message_size =
      ReadBigEndian32(content.substr(kMessageRandomSize));
  const absl::string_view rest = content.substr(kHeaderSize);
  if (message_size > rest.size()) {
    return Invalid("encrypt: message length runs past the end");
  }
  OpenedMessage opened;
  opened.random = std::string(content.substr(0, kMessageRandomSize));
  opened.message = std::string(rest.substr(0, message_size));
  opened.app_id = std::string(rest.substr(message_size));
  return opened;
}

bool IsUtf8(absl::string_view text) {
  return google::protobuf::internal::IsStructurallyValidUTF8(text.data(),
                                                             text.size());
}

absl::StatusOr<std::string> DecryptMessage(const MessageKey& key,
                                           absl::string_view expected_app_id,
                                           absl::string_view encrypt_base64) {
  // An empty expected app_id would accept plaintexts that carry none.
  if (expected_app_id.empty()) return Invalid("expected app_id is empty");
  absl::StatusOr<OpenedMessage> opened = OpenMessage(key, encrypt_base64);
  if (!opened.ok()) return opened.status();
  if (opened->app_id != expected_app_id) {
    return Invalid("encrypt: app_id does not match");
  }
  // A push is XML or JSON text. Bytes that are not UTF-8 are not WeChat's,
  // and could not travel in the RPC's string field.
  if (!IsUtf8(opened->message)) {
    return Invalid("encrypt: the decrypted message is not UTF-8");
  }
  return std::move(opened->message);
}

absl::StatusOr<DecryptedMessage> DecryptWithEither(
    const MessageKey& current, const MessageKey* previous,
    absl::string_view expected_app_id, absl::string_view encrypt_base64) {
  absl::StatusOr<std::string> with_current =
      DecryptMessage(current, expected_app_id, encrypt_base64);
  if (with_current.ok()) {
    return DecryptedMessage{std::move(*with_current), WhichKey::kCurrent};
  }
  if (previous == nullptr) return with_current.status();
  absl::StatusOr<std::string> with_previous =
      DecryptMessage(*previous, expected_app_id, encrypt_base64);
  if (with_previous.ok()) {
    return DecryptedMessage{std::move(*with_previous), WhichKey::kPrevious};
  }
  // Errors found before the key is used (base64, length) are the same for
  // both keys: say them once.
  if (with_current.status() == with_previous.status()) {
    return with_current.status();
  }
  return Invalid(
      absl::StrCat(with_current.status().message(), " with the current key; ",
                   with_previous.status().message(), " with the previous key"));
}

}  // namespace wxtoken::server
