// Fuzzes safe-mode decryption with WECHAT.md's two keys. The first input byte
// picks what the rest is:
//   0: the Encrypt string itself (base64 and length checks);
//   1: raw ciphertext, base64-encoded here (AES noise into the framing);
//   2: the plaintext, zero-extended to whole 32-byte blocks and encrypted
//      here, so libFuzzer steers the pad, length and app_id fields directly,
//      which it could never do through AES.
// Properties, besides never crashing: DecryptMessage agrees with OpenMessage
// plus the app_id check, DecryptWithEither with the two keys tried one by
// one; every successful open re-encrypts, with its random prefix, to exactly
// the same Encrypt; in mode 2 the fields are slices of the plaintext.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "server/wechat/message_crypto.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/unit/wechat_vectors.h"

namespace wxtoken::server {
namespace {

using wechat_vectors::kAppId;

const MessageKey& CurrentKey() {
  static const MessageKey* key =
      new MessageKey(*MessageKey::FromEncodingAesKey(wechat_vectors::kZeroKey));
  return *key;
}

const MessageKey& PreviousKey() {
  static const MessageKey* key = new MessageKey(
      *MessageKey::FromEncodingAesKey(wechat_vectors::kLetterKey));
  return *key;
}

void CheckRoundTrip(const std::string& encrypt, const OpenedMessage& opened) {
  absl::StatusOr<std::string> again = EncryptMessage(
      CurrentKey(), opened.app_id, opened.message, opened.random);
  if (again.ok()) {
    WXTOKEN_FUZZ_CHECK(*again == encrypt);
  } else {
    // Only arguments EncryptMessage refuses to produce may fail.
    WXTOKEN_FUZZ_CHECK(opened.app_id.empty() ||
                       opened.app_id.size() > kMaxAppIdLength ||
                       opened.message.size() > kMaxMessageLength);
  }
}

void CheckDecrypt(const std::string& encrypt) {
  absl::StatusOr<std::string> blocks = DecryptBlocks(CurrentKey(), encrypt);
  if (blocks.ok()) {
    absl::StatusOr<std::string> again = EncryptBlocks(CurrentKey(), *blocks);
    WXTOKEN_FUZZ_CHECK(again.ok() && *again == encrypt);
  }
  absl::StatusOr<OpenedMessage> opened = OpenMessage(CurrentKey(), encrypt);
  absl::StatusOr<std::string> message =
      DecryptMessage(CurrentKey(), kAppId, encrypt);
  WXTOKEN_FUZZ_CHECK(message.ok() == (opened.ok() && opened->app_id == kAppId &&
                                      IsUtf8(opened->message)));
  WXTOKEN_FUZZ_CHECK(!opened.ok() || blocks.ok());
  if (!opened.ok()) return;
  WXTOKEN_FUZZ_CHECK(opened->random.size() == kMessageRandomSize);
  if (message.ok()) WXTOKEN_FUZZ_CHECK(*message == opened->message);
  CheckRoundTrip(encrypt, *opened);
}

void CheckEither(const std::string& encrypt) {
  absl::StatusOr<std::string> current =
      DecryptMessage(CurrentKey(), kAppId, encrypt);
  absl::StatusOr<std::string> previous =
      DecryptMessage(PreviousKey(), kAppId, encrypt);
  absl::StatusOr<DecryptedMessage> either =
      DecryptWithEither(CurrentKey(), &PreviousKey(), kAppId, encrypt);
  WXTOKEN_FUZZ_CHECK(either.ok() == (current.ok() || previous.ok()));
  if (current.ok()) {
    WXTOKEN_FUZZ_CHECK(either->key == WhichKey::kCurrent &&
                       either->message == *current);
  } else if (previous.ok()) {
    WXTOKEN_FUZZ_CHECK(either->key == WhichKey::kPrevious &&
                       either->message == *previous);
  } else {
    WXTOKEN_FUZZ_CHECK(either.status().code() ==
                       absl::StatusCode::kInvalidArgument);
  }
}

void FuzzPlaintext(std::string blocks) {
  if (blocks.empty()) return;
  blocks.resize((blocks.size() + kMessagePadBlock - 1) / kMessagePadBlock *
                    kMessagePadBlock,
                '\0');
  absl::StatusOr<std::string> encrypt = EncryptBlocks(CurrentKey(), blocks);
  if (!encrypt.ok()) return;  // longer than we ever decode
  CheckDecrypt(*encrypt);
  absl::StatusOr<OpenedMessage> opened = OpenMessage(CurrentKey(), *encrypt);
  if (!opened.ok()) return;
  const size_t pad = static_cast<uint8_t>(blocks.back());
  WXTOKEN_FUZZ_CHECK(pad >= 1 && pad <= kMessagePadBlock);
  WXTOKEN_FUZZ_CHECK(opened->random == blocks.substr(0, kMessageRandomSize));
  WXTOKEN_FUZZ_CHECK(opened->message + opened->app_id ==
                     blocks.substr(20, blocks.size() - pad - 20));
}

}  // namespace
}  // namespace wxtoken::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      wxtoken::server::CheckDecrypt(rest);
      wxtoken::server::CheckEither(rest);
      break;
    case 1: {
      const std::string encrypt = absl::Base64Escape(rest);
      wxtoken::server::CheckDecrypt(encrypt);
      wxtoken::server::CheckEither(encrypt);
      break;
    }
    default:
      wxtoken::server::FuzzPlaintext(rest);
      break;
  }
  return 0;
}
