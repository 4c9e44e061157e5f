#ifndef WXTOKEN_SERVER_WECHAT_MESSAGE_CRYPTO_H_
#define WXTOKEN_SERVER_WECHAT_MESSAGE_CRYPTO_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/wechat/limits.h"

// WeChat's safe-mode message encryption (WECHAT.md "Message encryption"):
// AES-256-CBC with IV = key[0:16] over
//   16 random bytes ‖ 4-byte big-endian length ‖ message ‖ app_id ‖ pad,
// padded PKCS#7-style to a multiple of 32 bytes (pad values 1..32), and the
// ciphertext base64-encoded as `Encrypt`.
//
// There is no MAC: CBC ciphertexts are malleable, and a tampered `Encrypt`
// can decrypt to a different message that passes every check here. Callers
// MUST verify msg_signature (VerifyPushSignature in signature.h) over the
// `Encrypt` string before trusting DecryptMessage's result. The distinct
// error reasons (bad padding, bad length, foreign app_id) are meant for logs
// and authenticated callers; reflecting them to an unauthenticated party
// without the signature check first would make a padding oracle.
//
// All functions are pure apart from the RAND_bytes overload, and
// thread-safe. No error message ever holds a key, a plaintext or a message.
namespace wxtoken::server {

inline constexpr size_t kEncodingAesKeyLength = 43;
inline constexpr size_t kMessageKeySize = 32;
inline constexpr size_t kMessageRandomSize = 16;
// WeChat pads to 32 bytes, not to the AES block size of 16.
inline constexpr size_t kMessagePadBlock = 32;
// Longest message EncryptMessage takes. WeChat's messages are a few KiB; the
// bound keeps every `Encrypt` we make within kMaxEncryptLength
// (limits.h), the longest one we decode.
inline constexpr size_t kMaxMessageLength = 512 * 1024;

// The AES key derived from an app's EncodingAESKey. Copyable; the key bytes
// are wiped when an instance is destroyed.
class MessageKey {
 public:
  // `encoding_aes_key` must be 43 characters of the base64 alphabet; it
  // decodes (with "=" appended) to the 32-byte AES key. The two bits the
  // 43rd character carries past the 32 bytes are ignored, as WeChat's own
  // samples do: WeChat generates keys whose last character has them set.
  static absl::StatusOr<MessageKey> FromEncodingAesKey(
      absl::string_view encoding_aes_key);

  MessageKey(const MessageKey&) = default;
  MessageKey& operator=(const MessageKey&) = default;
  ~MessageKey();

  const std::array<uint8_t, kMessageKeySize>& key() const { return key_; }
  // WeChat's IV is the first 16 bytes of the key.
  const uint8_t* iv() const { return key_.data(); }

 private:
  MessageKey() = default;

  std::array<uint8_t, kMessageKeySize> key_{};
};

// The fields of a decrypted plaintext, before the app_id is checked.
struct OpenedMessage {
  std::string random;  // kMessageRandomSize bytes
  std::string message;
  std::string app_id;
};

// Encrypts `message` for `app_id` with the given 16-byte random prefix and
// returns `Encrypt` (base64). INVALID_ARGUMENT when `random16` is not 16
// bytes, `app_id` is empty or longer than kMaxAppIdLength, or `message` is
// longer than kMaxMessageLength.
absl::StatusOr<std::string> EncryptMessage(const MessageKey& key,
                                           absl::string_view app_id,
                                           absl::string_view message,
                                           absl::string_view random16);

// As above with a random prefix from OpenSSL's CSPRNG; INTERNAL when it
// fails.
absl::StatusOr<std::string> EncryptMessage(const MessageKey& key,
                                           absl::string_view app_id,
                                           absl::string_view message);

// Whether `text` is well-formed UTF-8.
bool IsUtf8(absl::string_view text);

// Decrypts `Encrypt` and returns the message when the trailing app_id is
// `expected_app_id`. Every rejection is INVALID_ARGUMENT with its own reason:
// "encrypt: empty", "encrypt: too long", "encrypt: not canonical base64",
// "encrypt: not a multiple of 32 bytes", "encrypt: bad padding",
// "encrypt: shorter than the random prefix and length",
// "encrypt: message length runs past the end",
// "encrypt: app_id does not match", "encrypt: the decrypted message is not
// UTF-8" (and "expected app_id is empty").
// Base64 must be canonical (standard alphabet, '=' padding, no whitespace,
// zero trailing bits) so that exactly one `Encrypt` string - the one
// msg_signature covers - maps to each ciphertext.
absl::StatusOr<std::string> DecryptMessage(const MessageKey& key,
                                           absl::string_view expected_app_id,
                                           absl::string_view encrypt_base64);

// The decryption steps of DecryptMessage without the app_id check. Fuzzers
// and tests use it to see the random prefix and re-encrypt.
absl::StatusOr<OpenedMessage> OpenMessage(const MessageKey& key,
                                          absl::string_view encrypt_base64);

// The cipher layer alone, for tests and fuzzers that build malformed
// plaintexts: AES-256-CBC without padding over `blocks` (a multiple of 32
// bytes, at most kMaxEncryptLength) and base64, or back. EncryptMessage and
// OpenMessage are the framing around these.
absl::StatusOr<std::string> EncryptBlocks(const MessageKey& key,
                                          absl::string_view blocks);
absl::StatusOr<std::string> DecryptBlocks(const MessageKey& key,
                                          absl::string_view encrypt_base64);

// Which of an app's keys decrypted a push; the reply must use the same one.
enum class WhichKey { kCurrent, kPrevious };

struct DecryptedMessage {
  std::string message;
  WhichKey key = WhichKey::kCurrent;
};

// Key rotation: tries `current`, then `previous` when it is not null. When
// both fail the error names both reasons (or one, when they agree).
absl::StatusOr<DecryptedMessage> DecryptWithEither(
    const MessageKey& current, const MessageKey* previous,
    absl::string_view expected_app_id, absl::string_view encrypt_base64);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_MESSAGE_CRYPTO_H_
