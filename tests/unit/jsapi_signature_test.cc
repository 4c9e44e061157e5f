#include "server/wechat/jsapi_signature.h"

#include <map>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/wechat/signature.h"

namespace wxtoken::server {
namespace {

// WECHAT.md "JS-SDK signature".
constexpr char kTicket[] =
    "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2"
    "fzFy1AOcHKP7qg";
constexpr char kNoncestr[] = "Wm3WZYTPz0wzccnW";
constexpr char kTimestamp[] = "1414587457";
constexpr char kUrl[] = "http://mp.weixin.qq.com?params=value";
constexpr char kSignature[] = "0f9de62fce790f9a083d5c99e95740ceb90c27ed";

TEST(JsapiSignatureTest, WeChatVector) {
  EXPECT_EQ(JsapiSignature(kTicket, kNoncestr, kTimestamp, kUrl), kSignature);
}

TEST(JsapiSignatureTest, FragmentIsStrippedFromTheFirstHash) {
  EXPECT_EQ(JsapiSignature(kTicket, kNoncestr, kTimestamp,
                           absl::StrCat(kUrl, "#section")),
            kSignature);
  EXPECT_EQ(JsapiSignature(kTicket, kNoncestr, kTimestamp,
                           absl::StrCat(kUrl, "#a#b")),
            kSignature);
  EXPECT_EQ(JsapiSignature(kTicket, kNoncestr, kTimestamp, "#only"),
            JsapiSignature(kTicket, kNoncestr, kTimestamp, ""));
}

TEST(JsapiSignatureTest, ValuesAreSignedRawNotEscaped) {
  const std::string url = "https://example.com/a b?q=中&r=%20";
  EXPECT_EQ(
      JsapiSignature("t", "n", "1", url),
      Sha1Hex(absl::StrCat("jsapi_ticket=t&noncestr=n&timestamp=1&url=", url)));
  EXPECT_NE(JsapiSignature("t", "n", "1", url),
            JsapiSignature("t", "n", "1",
                           "https://example.com/a%20b?q=%E4%B8%AD&r=%20"));
}

TEST(CardSignatureTest, SortsValuesBytewiseBeforeHashing) {
  // card_ticket, timestamp, card_id, nonce_str, code, openid in any order:
  // digits sort before upper case, upper before lower.
  EXPECT_EQ(CardSignature({"ABCDpFJaPt0E4fGZmYt1EUu7iY8zpbVg", "1414587457",
                           "pcard", "nonceStr", "code123", "oOpenId"}),
            Sha1Hex("1414587457ABCDpFJaPt0E4fGZmYt1EUu7iY8zpbVgcode123"
                    "nonceStroOpenIdpcard"));
  EXPECT_EQ(CardSignature({"b", "a", "c"}), CardSignature({"c", "b", "a"}));
  EXPECT_EQ(CardSignature({"b", "a", "c"}), Sha1Hex("abc"));
  // Matches the msg_signature scheme, which WECHAT.md's vectors pin down.
  EXPECT_EQ(CardSignature({"AAAAA", "1714036504", "1514711492"}),
            "f464b24fc39322e44b38aa78f5edd27bd1441696");
  EXPECT_EQ(CardSignature({}), Sha1Hex(""));
}

TEST(RandomNonceTest, LengthAlphabetAndUniqueness) {
  EXPECT_EQ(RandomNonce().size(), 16u);
  EXPECT_EQ(RandomNonce(0), "");
  EXPECT_EQ(RandomNonce(1000).size(), 1000u);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string nonce = RandomNonce();
    for (char c : nonce) {
      EXPECT_TRUE(absl::ascii_isalnum(static_cast<unsigned char>(c))) << nonce;
    }
    seen.insert(nonce);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RandomNonceTest, EveryCharacterOccursRoughlyEvenly) {
  // 62,000 draws: each of the 62 characters is expected 1000 times; a
  // modulo-biased generator would give the first 8 about 1.2 times as many.
  // Bounds of 800..1200 are over six standard deviations wide.
  std::map<char, int> counts;
  for (char c : RandomNonce(62000)) ++counts[c];
  EXPECT_EQ(counts.size(), 62u);
  for (const auto& [c, count] : counts) {
    EXPECT_GT(count, 800) << c;
    EXPECT_LT(count, 1200) << c;
  }
}

}  // namespace
}  // namespace wxtoken::server
