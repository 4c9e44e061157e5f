#include "server/token/token.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

TEST(FingerprintTest, IsEightLowercaseHexDigits) {
  for (const std::string& value :
       {std::string(""), std::string("a"), std::string("ACCESS_TOKEN"),
        std::string(4096, 'x'), std::string("\0\xff\x80", 3)}) {
    EXPECT_THAT(Fingerprint(value), MatchesRegex("[0-9a-f]{8}")) << value;
  }
}

TEST(FingerprintTest, IsThePrefixOfSha256) {
  // SHA-256("") = e3b0c442..., SHA-256("abc") = ba7816bf...
  EXPECT_EQ(Fingerprint(""), "e3b0c442");
  EXPECT_EQ(Fingerprint("abc"), "ba7816bf");
}

TEST(FingerprintTest, IsStable) {
  const std::string value = "some-access-token-value";
  const std::string first = Fingerprint(value);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Fingerprint(value), first);
  EXPECT_EQ(Fingerprint(std::string(value)), first);
}

TEST(FingerprintTest, DiffersForDifferentInputs) {
  std::set<std::string> seen;
  constexpr int kInputs = 1000;
  for (int i = 0; i < kInputs; ++i) {
    seen.insert(Fingerprint(absl::StrCat("token-", i)));
  }
  // 1000 values into 2^32 buckets: a collision would point at a broken hash.
  EXPECT_EQ(seen.size(), static_cast<size_t>(kInputs));
  // Neighbours differing in one bit, in case or by an embedded NUL.
  EXPECT_NE(Fingerprint("token"), Fingerprint("tokem"));
  EXPECT_NE(Fingerprint("token"), Fingerprint("Token"));
  EXPECT_NE(Fingerprint("token"), Fingerprint(std::string("token\0", 6)));
  EXPECT_NE(Fingerprint(""), Fingerprint(std::string("\0", 1)));
}

TEST(FingerprintTest, NeverContainsTheInput) {
  for (const std::string& value :
       {std::string("abcdef01"), std::string("deadbeef"),
        std::string("0123456789abcdef0123456789abcdef"),
        std::string("e3b0c442")}) {
    const std::string fingerprint = Fingerprint(value);
    EXPECT_NE(fingerprint, value);
    EXPECT_THAT(fingerprint, Not(HasSubstr(value)));
    EXPECT_THAT(value, Not(HasSubstr(fingerprint)));
  }
}

TEST(CredentialKindNameTest, NamesEveryKind) {
  EXPECT_EQ(TokenKindName(TokenKind::kAccessToken), "access_token");
  EXPECT_EQ(TokenKindName(TokenKind::kJsapiTicket), "jsapi_ticket");
  EXPECT_EQ(TokenKindName(TokenKind::kWxCardTicket), "wx_card_ticket");
}

TEST(CredentialKindNameTest, NamesAreDistinctAndCoverTheCount) {
  std::set<std::string> names;
  for (int i = 0; i < kTokenKindCount; ++i) {
    const std::string name(TokenKindName(static_cast<TokenKind>(i)));
    EXPECT_NE(name, "unknown") << i;
    EXPECT_THAT(name, MatchesRegex("[a-z_]+")) << i;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kTokenKindCount));
}

TEST(CredentialKindNameTest, OutOfRangeIsUnknown) {
  EXPECT_EQ(TokenKindName(static_cast<TokenKind>(kTokenKindCount)), "unknown");
}

}  // namespace
}  // namespace wxtoken::server
