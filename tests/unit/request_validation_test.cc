#include "server/grpc/request_validation.h"

#include <cctype>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Checks an INVALID_ARGUMENT whose message starts with `field`.
void ExpectRejected(const absl::Status& status, absl::string_view field,
                    absl::string_view what) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << what;
  EXPECT_THAT(std::string(status.message()),
              StartsWith(absl::StrCat(field, ":")))
      << what;
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("\n"))) << what;
}

TEST(ValidateAppIdTest, AcceptsWellFormedIds) {
  const std::vector<std::string> good = {
      "w",
      "wx0123456789abcdef",
      "ABCxyz_-09",
      "_",
      "-",
      std::string(kMaxAppIdLength, 'a'),
      std::string(kMaxAppIdLength, '9'),
      // Owner keys of two parts: a platform's authorizer, a WeCom app.
      "wxcomponent00000001/wx0123456789abcdef",
      "ww0123456789abcdef/1000002",
      "ww0123456789abcdef/contacts",
      std::string(kMaxAppIdLength, 'a') + "/" +
          std::string(kMaxOwnerKeyLength - kMaxAppIdLength - 1, 'b'),
  };
  for (const std::string& app_id : good) {
    EXPECT_TRUE(ValidateAppId(app_id).ok())
        << app_id << ": " << ValidateAppId(app_id);
  }
}

TEST(ValidateAppIdTest, RejectsMalformedIdsNamingTheField) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"33 chars", std::string(kMaxAppIdLength + 1, 'a')},
      {"very long", std::string(10000, 'a')},
      {"space", "wx 0123"},
      {"leading space", " wx0123"},
      {"trailing newline", "wx0123\n"},
      {"two slashes", "wx/01/23"},
      {"leading slash", "/wx0123"},
      {"trailing slash", "wx0123/"},
      {"lone slash", "/"},
      {"part too long", "wx/" + std::string(kMaxAppIdLength + 1, 'a')},
      {"key too long", std::string(kMaxAppIdLength, 'a') + "/" +
                           std::string(kMaxAppIdLength, 'b')},
      {"dot dot", ".."},
      {"dot", "wx.0123"},
      {"backslash", "wx\\0123"},
      {"quote", "wx\"0123"},
      {"colon", "wx:0123"},
      {"nul", std::string("wx\0"
                          "0123",
                          7)},
      {"unicode", "wx\xe4\xb8\xad\xe6\x96\x87"},
      {"high byte", "wx\xff"},
      {"fullwidth digit", "wx\xef\xbc\x91"},
  };
  for (const auto& [what, app_id] : bad) {
    ExpectRejected(ValidateAppId(app_id), "app_id", what);
  }
}

TEST(ValidateAppIdTest, MessageDoesNotEchoTheHugeInput) {
  const std::string huge(100000, 'a');
  absl::Status status = ValidateAppId(huge);
  ExpectRejected(status, "app_id", "huge");
  EXPECT_LT(status.message().size(), 200u);
}

TEST(ValidateStaleValueTest, LengthLimit) {
  EXPECT_TRUE(ValidateStaleValue("").ok());
  EXPECT_TRUE(ValidateStaleValue("ACCESS_TOKEN").ok());
  EXPECT_TRUE(ValidateStaleValue(std::string(kMaxTokenLength, 'x')).ok());
  EXPECT_EQ(kMaxTokenLength, 2048u);
  ExpectRejected(ValidateStaleValue(std::string(kMaxTokenLength + 1, 'x')),
                 "stale_value", "2049");
  ExpectRejected(ValidateStaleValue(std::string(1 << 20, 'x')), "stale_value",
                 "1 MiB");
}

struct SignatureCase {
  const char* what;
  std::string signature;
  std::string timestamp;
  std::string nonce;
  std::string encrypt;
  const char* field;  // nullptr: accepted
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const SignatureCase& c, std::ostream* os) { *os << c.what; }

class ValidateSignatureFieldsTest
    : public ::testing::TestWithParam<SignatureCase> {};

TEST_P(ValidateSignatureFieldsTest, Validates) {
  const SignatureCase& c = GetParam();
  absl::Status status =
      ValidateSignatureFields(c.signature, c.timestamp, c.nonce, c.encrypt);
  if (c.field == nullptr) {
    EXPECT_TRUE(status.ok()) << status;
  } else {
    ExpectRejected(status, c.field, c.what);
  }
}

const char kSig[] = "0123456789abcdef0123456789abcdef01234567";  // SHA-1 hex

INSTANTIATE_TEST_SUITE_P(
    Cases, ValidateSignatureFieldsTest,
    ::testing::Values(
        SignatureCase{"plain", kSig, "1700000000", "nonce", "", nullptr},
        SignatureCase{"with encrypt", kSig, "1700000000", "nonce", "ZW5j",
                      nullptr},
        SignatureCase{"timestamp 0", kSig, "0", "n", "", nullptr},
        SignatureCase{"max lengths", std::string(kMaxSignatureLength, 'a'),
                      std::string(kMaxTimestampLength, '9'),
                      std::string(kMaxPushNonceLength, 'n'),
                      std::string(kMaxEncryptLength, 'e'), nullptr},
        // Each required field empty.
        SignatureCase{"empty signature", "", "1700000000", "nonce", "",
                      "signature"},
        SignatureCase{"empty timestamp", kSig, "", "nonce", "", "timestamp"},
        SignatureCase{"empty nonce", kSig, "1700000000", "", "", "nonce"},
        // Timestamps that are not plain decimal digits.
        SignatureCase{"timestamp 12a", kSig, "12a", "nonce", "", "timestamp"},
        SignatureCase{"timestamp minus 1", kSig, "-1", "nonce", "",
                      "timestamp"},
        SignatureCase{"timestamp plus 1", kSig, "+1", "nonce", "", "timestamp"},
        SignatureCase{"timestamp leading space", kSig, " 1", "nonce", "",
                      "timestamp"},
        SignatureCase{"timestamp trailing space", kSig, "1 ", "nonce", "",
                      "timestamp"},
        SignatureCase{"timestamp 1.5", kSig, "1.5", "nonce", "", "timestamp"},
        SignatureCase{"timestamp 1e9", kSig, "1e9", "nonce", "", "timestamp"},
        SignatureCase{"timestamp 0x10", kSig, "0x10", "nonce", "", "timestamp"},
        SignatureCase{"timestamp fullwidth digit", kSig, "\xef\xbc\x91",
                      "nonce", "", "timestamp"},
        SignatureCase{"timestamp nul", kSig,
                      std::string("1\0"
                                  "2",
                                  3),
                      "nonce", "", "timestamp"},
        // Over-long fields.
        SignatureCase{"long signature",
                      std::string(kMaxSignatureLength + 1, 'a'), "1700000000",
                      "nonce", "", "signature"},
        SignatureCase{"long timestamp", kSig,
                      std::string(kMaxTimestampLength + 1, '1'), "nonce", "",
                      "timestamp"},
        SignatureCase{"long nonce", kSig, "1700000000",
                      std::string(kMaxPushNonceLength + 1, 'n'), "", "nonce"},
        SignatureCase{"long encrypt", kSig, "1700000000", "nonce",
                      std::string(kMaxEncryptLength + 1, 'e'), "encrypt"}),
    [](const ::testing::TestParamInfo<SignatureCase>& info) {
      std::string name;
      for (const char* p = info.param.what; *p != '\0'; ++p) {
        name.push_back(std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_');
      }
      return name;
    });

}  // namespace
}  // namespace wxtoken::server
