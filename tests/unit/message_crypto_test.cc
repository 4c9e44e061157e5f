#include "server/wechat/message_crypto.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/wechat/signature.h"
#include "tests/unit/wechat_vectors.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using ::wxtoken::wechat_vectors::kAppId;
using ::wxtoken::wechat_vectors::kLetterAppId;
using ::wxtoken::wechat_vectors::kLetterEncrypt;
using ::wxtoken::wechat_vectors::kLetterKey;
using ::wxtoken::wechat_vectors::kLetterMessage;
using ::wxtoken::wechat_vectors::kLetterRandom;
using ::wxtoken::wechat_vectors::kNonce;
using ::wxtoken::wechat_vectors::kPushEncrypt;
using ::wxtoken::wechat_vectors::kPushMessage;
using ::wxtoken::wechat_vectors::kPushMsgSignature;
using ::wxtoken::wechat_vectors::kPushTimestamp;
using ::wxtoken::wechat_vectors::kReplyEncrypt;
using ::wxtoken::wechat_vectors::kReplyMessage;
using ::wxtoken::wechat_vectors::kReplyMsgSignature;
using ::wxtoken::wechat_vectors::kReplyRandom;
using ::wxtoken::wechat_vectors::kReplyTimestamp;
using ::wxtoken::wechat_vectors::kToken;
using ::wxtoken::wechat_vectors::kZeroKey;

// Every reason DecryptMessage gives once the base64 and length are right.
const std::set<std::string>& FramingReasons() {
  static const auto* reasons = new std::set<std::string>{
      "encrypt: bad padding",
      "encrypt: shorter than the random prefix and length",
      "encrypt: message length runs past the end",
      "encrypt: app_id does not match"};
  return *reasons;
}

MessageKey Key(absl::string_view encoding_aes_key) {
  absl::StatusOr<MessageKey> key =
      MessageKey::FromEncodingAesKey(encoding_aes_key);
  EXPECT_TRUE(key.ok()) << key.status();
  return *key;
}

std::string BigEndian32(uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
          static_cast<char>(value >> 8), static_cast<char>(value)};
}

// 16 random bytes ‖ declared length ‖ rest, padded the way WeChat pads.
std::string Frame(uint32_t declared_length, absl::string_view rest) {
  std::string content =
      absl::StrCat("0123456789abcdef", BigEndian32(declared_length), rest);
  const size_t pad = kMessagePadBlock - content.size() % kMessagePadBlock;
  content.append(pad, static_cast<char>(pad));
  return content;
}

std::string Seal(const MessageKey& key, absl::string_view blocks) {
  absl::StatusOr<std::string> encrypt = EncryptBlocks(key, blocks);
  EXPECT_TRUE(encrypt.ok()) << encrypt.status();
  return encrypt.ok() ? *encrypt : "";
}

// The reason of a failed decrypt, or "ok".
std::string Reason(const absl::StatusOr<std::string>& result) {
  if (result.ok()) return "ok";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

TEST(MessageKeyTest, ZeroKeyDecodesToZeroBytes) {
  const MessageKey key = Key(kZeroKey);
  for (uint8_t byte : key.key()) EXPECT_EQ(byte, 0);
  EXPECT_EQ(key.iv(), key.key().data());
}

TEST(MessageKeyTest, SpareBitsOfTheLastCharacterAreIgnored) {
  // 'G' is 000110 and 'E' 000100: they differ only in the two bits past the
  // 32nd byte, which WeChat's samples drop.
  std::string e_key = kLetterKey;
  e_key.back() = 'E';
  EXPECT_EQ(Key(kLetterKey).key(), Key(e_key).key());
  e_key.back() = 'I';  // 001000: differs inside the 32nd byte
  EXPECT_NE(Key(kLetterKey).key(), Key(e_key).key());
}

TEST(MessageKeyTest, RejectsWrongLengthAndAlphabetWithoutEchoingTheKey) {
  const std::string secretish(42, 'Q');
  for (const std::string& bad :
       {std::string(), secretish, secretish + "QQ", secretish + "=",
        secretish + "-", secretish + " ", secretish + "\n",
        std::string(43, '\0')}) {
    absl::StatusOr<MessageKey> key = MessageKey::FromEncodingAesKey(bad);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(key.status().message(), HasSubstr("EncodingAESKey"));
    EXPECT_THAT(key.status().message(), Not(HasSubstr("QQQQ")));
  }
  EXPECT_TRUE(MessageKey::FromEncodingAesKey(secretish + "Q").ok());
}

TEST(DecryptMessageTest, WeChatVectorDecryptsAndItsSignatureVerifies) {
  absl::StatusOr<std::string> message =
      DecryptMessage(Key(kZeroKey), kAppId, kPushEncrypt);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(*message, kPushMessage);
  const SignatureCheck check = VerifyPushSignature(
      kToken, kPushMsgSignature, kPushTimestamp, kNonce, kPushEncrypt);
  EXPECT_TRUE(check.valid) << check.reason;
}

TEST(EncryptMessageTest, WeChatReplyVector) {
  absl::StatusOr<std::string> encrypt =
      EncryptMessage(Key(kZeroKey), kAppId, kReplyMessage, kReplyRandom);
  ASSERT_TRUE(encrypt.ok()) << encrypt.status();
  EXPECT_EQ(*encrypt, kReplyEncrypt);
  EXPECT_EQ(WeChatSignature({kToken, kReplyTimestamp, kNonce, *encrypt}),
            kReplyMsgSignature);
  EXPECT_TRUE(VerifyPushSignature(kToken, kReplyMsgSignature, kReplyTimestamp,
                                  kNonce, *encrypt)
                  .valid);
}

TEST(EncryptMessageTest, SecondKeyChineseVectorBothWays) {
  const MessageKey key = Key(kLetterKey);
  absl::StatusOr<std::string> encrypt =
      EncryptMessage(key, kLetterAppId, kLetterMessage, kLetterRandom);
  ASSERT_TRUE(encrypt.ok()) << encrypt.status();
  EXPECT_EQ(*encrypt, kLetterEncrypt);
  absl::StatusOr<OpenedMessage> opened = OpenMessage(key, kLetterEncrypt);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->random, kLetterRandom);
  EXPECT_EQ(opened->message, kLetterMessage);
  EXPECT_EQ(opened->app_id, kLetterAppId);
}

TEST(EncryptMessageTest, RoundTripsEverySizeAndPadsToWholeThirtyTwoBytes) {
  const MessageKey key = Key(kLetterKey);
  // With an 18-byte app_id the content is 38 + n bytes: n = 26 fills the
  // 32-byte block exactly, so the pad must be a whole block of 32s.
  std::vector<std::string> messages;
  for (size_t n : {0, 1, 15, 16, 17, 25, 26, 27, 31, 32, 33, 58, 1000}) {
    std::string message(n, '\0');
    for (size_t i = 0; i < n; ++i) {
      message[i] = static_cast<char>(' ' + (i * 7 + n) % 95);
    }
    messages.push_back(message);
  }
  std::string utf8;
  for (int i = 0; i < 40; ++i) absl::StrAppend(&utf8, "中文éü😀");
  messages.push_back(utf8);
  for (const std::string& message : messages) {
    SCOPED_TRACE(absl::StrCat("message size ", message.size()));
    absl::StatusOr<std::string> encrypt =
        EncryptMessage(key, kLetterAppId, message);
    ASSERT_TRUE(encrypt.ok()) << encrypt.status();
    absl::StatusOr<std::string> padded = DecryptBlocks(key, *encrypt);
    ASSERT_TRUE(padded.ok()) << padded.status();
    const size_t content = 16 + 4 + message.size() + 18;
    const size_t pad = 32 - content % 32;
    EXPECT_EQ(padded->size(), content + pad);
    EXPECT_EQ(padded->substr(content),
              std::string(pad, static_cast<char>(pad)));
    absl::StatusOr<std::string> decrypted =
        DecryptMessage(key, kLetterAppId, *encrypt);
    ASSERT_TRUE(decrypted.ok()) << decrypted.status();
    EXPECT_EQ(*decrypted, message);
  }
}

TEST(DecryptMessageTest, AMessageThatIsNotUtf8IsRefused) {
  // What Python's grpcio would fail on with INTERNAL, had it been returned.
  const MessageKey key = Key(kZeroKey);
  for (const std::string& message :
       {std::string("\xff\xfe"), std::string("<xml>\xc3</xml>"),
        std::string("caf\xe9")}) {
    absl::StatusOr<std::string> encrypt = EncryptMessage(key, kAppId, message);
    ASSERT_TRUE(encrypt.ok());
    absl::StatusOr<std::string> decrypted =
        DecryptMessage(key, kAppId, *encrypt);
    ASSERT_FALSE(decrypted.ok());
    EXPECT_EQ(decrypted.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(decrypted.status().message(),
              "encrypt: the decrypted message is not UTF-8");
  }
  EXPECT_TRUE(
      DecryptMessage(key, kAppId, *EncryptMessage(key, kAppId, "café")).ok());
}

TEST(EncryptMessageTest, DrawsAFreshRandomPrefixEachTime) {
  const MessageKey key = Key(kZeroKey);
  absl::StatusOr<OpenedMessage> first =
      OpenMessage(key, *EncryptMessage(key, kAppId, kReplyMessage));
  absl::StatusOr<OpenedMessage> second =
      OpenMessage(key, *EncryptMessage(key, kAppId, kReplyMessage));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->random.size(), kMessageRandomSize);
  EXPECT_NE(first->random, second->random);
}

TEST(EncryptMessageTest, RejectsBadArguments) {
  const MessageKey key = Key(kZeroKey);
  EXPECT_THAT(EncryptMessage(key, kAppId, "m", "short").status().message(),
              HasSubstr("random prefix"));
  EXPECT_THAT(
      EncryptMessage(key, kAppId, "m", std::string(17, 'r')).status().message(),
      HasSubstr("random prefix"));
  EXPECT_THAT(EncryptMessage(key, "", "m", kReplyRandom).status().message(),
              HasSubstr("app_id"));
  EXPECT_THAT(EncryptMessage(key, std::string(kMaxAppIdLength + 1, 'a'), "m",
                             kReplyRandom)
                  .status()
                  .message(),
              HasSubstr("app_id"));
  EXPECT_THAT(
      EncryptMessage(key, kAppId, std::string(kMaxMessageLength + 1, 'm'),
                     kReplyRandom)
          .status()
          .message(),
      HasSubstr("message: too long"));
  EXPECT_TRUE(EncryptMessage(key, kAppId, std::string(kMaxMessageLength, 'm'),
                             kReplyRandom)
                  .ok());
}

TEST(DecryptMessageTest, RejectsMalformedBase64AndLengths) {
  const MessageKey key = Key(kZeroKey);
  const std::string encrypt = kPushEncrypt;
  const std::string sixteen = absl::Base64Escape(std::string(16, 'x'));
  const std::string unpadded = encrypt.substr(0, encrypt.size() - 1);
  std::string spare_bits = kReplyEncrypt;  // ends "SQ==": Q = 010000
  spare_bits[spare_bits.size() - 3] = 'R';
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "encrypt: empty"},
      {std::string(kMaxEncryptLength + 4, 'A'), "encrypt: too long"},
      {"!!!!", "encrypt: not canonical base64"},
      {encrypt.substr(0, 8) + "\n" + encrypt.substr(8),
       "encrypt: not canonical base64"},
      {" " + encrypt, "encrypt: not canonical base64"},
      {unpadded, "encrypt: not canonical base64"},
      {spare_bits, "encrypt: not canonical base64"},
      {"-_" + encrypt.substr(2), "encrypt: not canonical base64"},
      {sixteen, "encrypt: not a multiple of 32 bytes"},
      {encrypt.substr(0, encrypt.size() - 4) + "AAAA",  // one byte more
       "encrypt: not a multiple of 32 bytes"},
  };
  for (const auto& [input, reason] : cases) {
    EXPECT_EQ(Reason(DecryptMessage(key, kAppId, input)), reason)
        << input.substr(0, 40);
  }
  const std::string forty_eight = absl::Base64Escape(std::string(48, 'x'));
  EXPECT_EQ(Reason(DecryptMessage(key, kAppId, forty_eight)),
            "encrypt: not a multiple of 32 bytes");
}

TEST(DecryptMessageTest, EachFramingErrorHasItsOwnReason) {
  const MessageKey key = Key(kZeroKey);
  const std::string app_id = kAppId;
  const std::string body = "secret-ish message body";
  const uint32_t size = static_cast<uint32_t>(body.size());
  std::string pad_zero = Frame(size, body + app_id);
  pad_zero.back() = '\0';
  std::string pad_33 = Frame(0, app_id);
  pad_33.back() = 33;
  std::string mixed_pad = Frame(size, body + app_id);
  ASSERT_GE(mixed_pad.back(), 2);
  mixed_pad[mixed_pad.size() - 2] = static_cast<char>(mixed_pad.back() - 1);
  std::string whole_block_pad = Frame(0, "123456789012");  // 32 bytes: 32s
  ASSERT_EQ(whole_block_pad.size(), 64u);
  std::string pad_byte_flipped = whole_block_pad;
  pad_byte_flipped[40] ^= 1;

  const std::vector<std::pair<std::string, std::string>> cases = {
      {Frame(size, body + app_id), "ok"},
      {Frame(0, app_id), "ok"},
      {whole_block_pad, "encrypt: app_id does not match"},
      {pad_zero, "encrypt: bad padding"},
      {pad_33, "encrypt: bad padding"},
      {mixed_pad, "encrypt: bad padding"},
      {pad_byte_flipped, "encrypt: bad padding"},
      {std::string(32, 32),
       "encrypt: shorter than the random prefix and length"},
      {std::string(19, 'r') + std::string(13, 13),
       "encrypt: shorter than the random prefix and length"},
      {Frame(size + app_id.size() + 1, body + app_id),
       "encrypt: message length runs past the end"},
      {Frame(0xFFFFFFFF, body + app_id),
       "encrypt: message length runs past the end"},
      {Frame(0xFFFFFFF0, ""), "encrypt: message length runs past the end"},
      {Frame(size + 1, body + app_id), "encrypt: app_id does not match"},
      {Frame(size - 1, body + app_id), "encrypt: app_id does not match"},
      {Frame(size, body + "wxba5fad812f8e6fb"),
       "encrypt: app_id does not match"},
      {Frame(size, body + app_id + "0"), "encrypt: app_id does not match"},
      {Frame(size, body), "encrypt: app_id does not match"},
  };
  std::set<std::string> seen;
  for (const auto& [blocks, reason] : cases) {
    const std::string got =
        Reason(DecryptMessage(key, app_id, Seal(key, blocks)));
    EXPECT_EQ(got, reason) << absl::CHexEscape(blocks);
    EXPECT_THAT(got, Not(HasSubstr("secret-ish")));
    seen.insert(got);
  }
  EXPECT_EQ(seen.size(), FramingReasons().size() + 1);  // and "ok"
  EXPECT_EQ(Reason(DecryptMessage(key, "", kPushEncrypt)),
            "expected app_id is empty");
}

TEST(DecryptWithEitherTest, ReportsWhichKeyWorked) {
  const MessageKey current = Key(kLetterKey);
  const MessageKey previous = Key(kZeroKey);
  absl::StatusOr<DecryptedMessage> old_key =
      DecryptWithEither(current, &previous, kAppId, kPushEncrypt);
  ASSERT_TRUE(old_key.ok()) << old_key.status();
  EXPECT_EQ(old_key->message, kPushMessage);
  EXPECT_EQ(old_key->key, WhichKey::kPrevious);

  absl::StatusOr<DecryptedMessage> new_key =
      DecryptWithEither(previous, &current, kAppId, kPushEncrypt);
  ASSERT_TRUE(new_key.ok()) << new_key.status();
  EXPECT_EQ(new_key->key, WhichKey::kCurrent);

  absl::StatusOr<DecryptedMessage> no_previous =
      DecryptWithEither(previous, nullptr, kAppId, kPushEncrypt);
  ASSERT_TRUE(no_previous.ok());
  EXPECT_EQ(no_previous->key, WhichKey::kCurrent);
}

TEST(DecryptWithEitherTest, FailureNamesBothReasonsOrOne) {
  const MessageKey current = Key(kLetterKey);
  const MessageKey previous = Key(kLetterKey);
  const MessageKey right = Key(kZeroKey);

  // The wrong key's plaintext is noise, failing one of the framing checks.
  const std::string wrong_key =
      Reason(DecryptMessage(current, kAppId, kPushEncrypt));
  ASSERT_TRUE(FramingReasons().count(wrong_key)) << wrong_key;

  absl::StatusOr<DecryptedMessage> only_current =
      DecryptWithEither(current, nullptr, kAppId, kPushEncrypt);
  EXPECT_EQ(only_current.status().message(), wrong_key);

  absl::StatusOr<DecryptedMessage> same_reason =
      DecryptWithEither(current, &previous, kAppId, kPushEncrypt);
  EXPECT_EQ(same_reason.status().message(), wrong_key);

  absl::StatusOr<DecryptedMessage> two_reasons =
      DecryptWithEither(current, &right, "wx0000000000000000", kPushEncrypt);
  EXPECT_EQ(two_reasons.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(two_reasons.status().message(),
            absl::StrCat(wrong_key,
                         " with the current key; encrypt: app_id does not "
                         "match with the previous key"));

  absl::StatusOr<DecryptedMessage> before_keys =
      DecryptWithEither(current, &right, kAppId, "not base64!");
  EXPECT_EQ(before_keys.status().message(), "encrypt: not canonical base64");
}

// Single-bit flips of the ciphertext. AES-CBC decrypts block i as
// P[i] = AES^-1(C[i]) ^ C[i-1], so flipping one bit of C[i] turns P[i] into
// noise and flips the same bit of P[i+1]; nothing else changes. There is no
// MAC, so some flips MUST decrypt successfully to a different message:
//  - a flip in C[0] garbles only the random prefix and flips one bit of
//    P[1]; if that bit is in the message, the result is the original message
//    with exactly that bit flipped;
//  - a flip in a block lying wholly inside the message, whose next-block bit
//    is also inside the message, yields the message with one block garbled
//    and one bit flipped.
// Every other flip garbles or flips the length, the app_id or the pad, and
// must fail with one of the framing reasons: a garbled length or pad shifts
// where the app_id starts, so it can only pass by reproducing the exact
// app_id bytes (odds about 2^-100). The inputs here are fixed, so the test
// is deterministic. What catches every flip is msg_signature, computed over
// the base64 text: see the next test.
// DecryptMessage's framing checks without its UTF-8 rule: a flipped bit
// garbles a block into arbitrary bytes, which this test is about.
absl::StatusOr<std::string> OpenFramed(const MessageKey& key,
                                       absl::string_view encrypt) {
  absl::StatusOr<OpenedMessage> opened = OpenMessage(key, encrypt);
  if (!opened.ok()) return opened.status();
  if (opened->app_id != kAppId) {
    return absl::InvalidArgumentError("encrypt: app_id does not match");
  }
  return opened->message;
}

TEST(DecryptMessageTest, SingleBitFlipsOfTheCiphertext) {
  const MessageKey key = Key(kZeroKey);
  std::vector<std::string> encrypts = {kPushEncrypt};
  for (size_t size : {0, 13, 100}) {
    std::string message(size, 'm');
    for (size_t i = 0; i < size; ++i)
      message[i] = static_cast<char>('a' + i % 26);
    encrypts.push_back(*EncryptMessage(key, kAppId, message, kReplyRandom));
  }
  int successes = 0;
  int failures = 0;
  for (const std::string& encrypt : encrypts) {
    absl::StatusOr<OpenedMessage> original = OpenMessage(key, encrypt);
    ASSERT_TRUE(original.ok());
    const size_t message_begin = 20;
    const size_t message_end = message_begin + original->message.size();
    const auto in_message = [&](size_t begin, size_t end) {
      return begin >= message_begin && end <= message_end;
    };
    std::string ciphertext;
    ASSERT_TRUE(absl::Base64Unescape(encrypt, &ciphertext));
    for (size_t byte = 0; byte < ciphertext.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        SCOPED_TRACE(absl::StrCat("size ", original->message.size(), " byte ",
                                  byte, " bit ", bit));
        std::string flipped = ciphertext;
        flipped[byte] ^= static_cast<char>(1 << bit);
        const absl::StatusOr<std::string> result =
            OpenFramed(key, absl::Base64Escape(flipped));
        const size_t block_begin = byte / 16 * 16;
        const size_t next_bit_at = byte + 16;  // same bit, next block
        const bool garbled_harmless =
            block_begin == 0 || in_message(block_begin, block_begin + 16);
        const bool expect_success = garbled_harmless &&
                                    next_bit_at < ciphertext.size() &&
                                    in_message(next_bit_at, next_bit_at + 1);
        if (!expect_success) {
          ++failures;
          EXPECT_TRUE(FramingReasons().count(Reason(result))) << Reason(result);
          continue;
        }
        ++successes;
        ASSERT_TRUE(result.ok()) << result.status();
        std::string expected = original->message;
        expected[next_bit_at - message_begin] ^= static_cast<char>(1 << bit);
        if (block_begin == 0) {
          EXPECT_EQ(*result, expected);
          continue;
        }
        ASSERT_EQ(result->size(), expected.size());
        EXPECT_NE(*result, original->message);
        // Outside the garbled block the result is exactly `expected`.
        const size_t garbled = block_begin - message_begin;
        EXPECT_EQ(result->substr(0, garbled), expected.substr(0, garbled));
        EXPECT_EQ(result->substr(garbled + 16), expected.substr(garbled + 16));
      }
    }
  }
  EXPECT_GT(successes, 0);
  EXPECT_GT(failures, 0);
}

TEST(DecryptMessageTest, MsgSignatureCatchesEveryBitFlipOfEncrypt) {
  const std::string encrypt = kPushEncrypt;
  for (size_t i = 0; i < encrypt.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = encrypt;
      flipped[i] ^= static_cast<char>(1 << bit);
      EXPECT_FALSE(VerifyPushSignature(kToken, kPushMsgSignature,
                                       kPushTimestamp, kNonce, flipped)
                       .valid)
          << "char " << i << " bit " << bit;
    }
  }
}

TEST(DecryptMessageTest, RandomBytesNeverCrashAndFailWithAKnownReason) {
  const MessageKey key = Key(kZeroKey);
  absl::BitGen gen;
  int decrypted = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string noise(32 * absl::Uniform<size_t>(gen, 1, 6), '\0');
    for (char& c : noise) c = static_cast<char>(absl::Uniform<uint8_t>(gen));
    const std::string reason =
        Reason(DecryptMessage(key, kAppId, absl::Base64Escape(noise)));
    if (reason == "ok") {
      ++decrypted;
    } else {
      EXPECT_TRUE(FramingReasons().count(reason)) << reason;
    }
  }
  EXPECT_EQ(decrypted, 0);  // would need an 18-byte app_id by chance
}

}  // namespace
}  // namespace wxtoken::server
