#include "server/wechat/signature.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// WECHAT.md "Message encryption": the safe-mode vector.
constexpr char kEncrypt[] =
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4Rv"
    "QMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyj"
    "Py7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAs"
    "jLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9m"
    "FUPAJGj04=";
constexpr char kMsgSignature[] = "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3";

TEST(Sha1HexTest, KnownDigests) {
  EXPECT_EQ(Sha1Hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(Sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(WeChatSignatureTest, ServerUrlVectors) {
  EXPECT_EQ(WeChatSignature({"AAAAA", "1714036504", "1514711492"}),
            "f464b24fc39322e44b38aa78f5edd27bd1441696");
  // "1714037059" sorts before "486452656": a string sort, not a numeric one.
  EXPECT_EQ(WeChatSignature({"AAAAA", "1714037059", "486452656"}),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78");
}

TEST(WeChatSignatureTest, OrderOfPartsDoesNotMatter) {
  EXPECT_EQ(WeChatSignature({"486452656", "AAAAA", "1714037059"}),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78");
}

TEST(WeChatSignatureTest, MsgSignatureVector) {
  EXPECT_EQ(WeChatSignature({"AAAAA", "1714112445", "415670741", kEncrypt}),
            kMsgSignature);
}

TEST(WeChatSignatureTest, SortsBytesAsUnsigned) {
  // 0xE4 (UTF-8 lead byte) must sort after ASCII, as byte-wise sorting does.
  const std::string high = "\xE4\xB8\xAD";
  EXPECT_EQ(WeChatSignature({high, "a"}), Sha1Hex("a" + high));
}

TEST(ConstantTimeEqualsTest, Basics) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(
      ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(
      ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(VerifyPushSignatureTest, PlainModeVectors) {
  SignatureCheck check =
      VerifyPushSignature("AAAAA", "f464b24fc39322e44b38aa78f5edd27bd1441696",
                          "1714036504", "1514711492", "");
  EXPECT_TRUE(check.valid) << check.reason;
  EXPECT_EQ(check.reason, "");
  check =
      VerifyPushSignature("AAAAA", "899cf89e464efb63f54ddac96b0a0a235f53aa78",
                          "1714037059", "486452656", "");
  EXPECT_TRUE(check.valid) << check.reason;
}

TEST(VerifyPushSignatureTest, UppercaseHexIsAccepted) {
  const SignatureCheck check = VerifyPushSignature(
      "AAAAA",
      absl::AsciiStrToUpper("f464b24fc39322e44b38aa78f5edd27bd1441696"),
      "1714036504", "1514711492", "");
  EXPECT_TRUE(check.valid) << check.reason;
}

TEST(VerifyPushSignatureTest, SafeModeVector) {
  const SignatureCheck check = VerifyPushSignature(
      "AAAAA", kMsgSignature, "1714112445", "415670741", kEncrypt);
  EXPECT_TRUE(check.valid) << check.reason;
}

TEST(VerifyPushSignatureTest, SafeModeRejectsThePlainSignature) {
  // With encrypt, the plain signature over three parts is not enough.
  const std::string plain =
      WeChatSignature({"AAAAA", "1714112445", "415670741"});
  const SignatureCheck check =
      VerifyPushSignature("AAAAA", plain, "1714112445", "415670741", kEncrypt);
  EXPECT_FALSE(check.valid);
  EXPECT_EQ(check.reason, "msg_signature mismatch");
}

TEST(VerifyPushSignatureTest, WrongSignature) {
  const std::string expected = "f464b24fc39322e44b38aa78f5edd27bd1441696";
  std::string wrong = expected;
  wrong[39] = '7';
  SignatureCheck check =
      VerifyPushSignature("AAAAA", wrong, "1714036504", "1514711492", "");
  EXPECT_FALSE(check.valid);
  EXPECT_EQ(check.reason, "signature mismatch");
  EXPECT_THAT(check.reason, Not(HasSubstr(expected)));
  EXPECT_THAT(check.reason, Not(HasSubstr("AAAAA")));

  // Right signature, other inputs.
  check =
      VerifyPushSignature("AAAAB", expected, "1714036504", "1514711492", "");
  EXPECT_FALSE(check.valid);
  check =
      VerifyPushSignature("AAAAA", expected, "1714036505", "1514711492", "");
  EXPECT_FALSE(check.valid);
  check =
      VerifyPushSignature("AAAAA", expected, "1714036504", "1514711493", "");
  EXPECT_FALSE(check.valid);

  // Wrong msg_signature.
  check =
      VerifyPushSignature("AAAAA", "046e02f8204d34f8ba5fa3b1db94908f3df2e9b4",
                          "1714112445", "415670741", kEncrypt);
  EXPECT_FALSE(check.valid);
  EXPECT_EQ(check.reason, "msg_signature mismatch");
  EXPECT_THAT(check.reason, Not(HasSubstr(kMsgSignature)));
}

TEST(VerifyPushSignatureTest, MalformedSignatures) {
  const std::string expected = "f464b24fc39322e44b38aa78f5edd27bd1441696";
  for (const std::string& bad : std::vector<std::string>{
           "", expected.substr(0, 39), expected + "0",
           "g464b24fc39322e44b38aa78f5edd27bd1441696",
           " f464b24fc39322e44b38aa78f5edd27bd144169",
           std::string("f464b24fc39322e44b38aa78f5edd27bd144169\0", 40)}) {
    const SignatureCheck check =
        VerifyPushSignature("AAAAA", bad, "1714036504", "1514711492", "");
    EXPECT_FALSE(check.valid) << bad;
    EXPECT_EQ(check.reason, "signature is not 40 hex digits") << bad;
  }
  const SignatureCheck check = VerifyPushSignature(
      "AAAAA", "046e02f8", "1714112445", "415670741", kEncrypt);
  EXPECT_FALSE(check.valid);
  EXPECT_EQ(check.reason, "msg_signature is not 40 hex digits");
}

TEST(VerifyPushSignatureTest, EmptyServerTokenIsNeverValid) {
  const std::string forged = WeChatSignature({"", "1714036504", "1514711492"});
  const SignatureCheck check =
      VerifyPushSignature("", forged, "1714036504", "1514711492", "");
  EXPECT_FALSE(check.valid);
  EXPECT_EQ(check.reason, "no server token configured");
}

}  // namespace
}  // namespace wxtoken::server
