// Refresh tokens and permanent codes at rest (server/base/vault.h): sealed
// with AES-256-GCM, bound to their record, openable after a key roll, and
// no error ever shows a key or a value.
#include "server/base/vault.h"

#include <string>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A fresh key, made at test time: no key is committed.
std::string NewKeyLine() {
  absl::BitGen gen;
  std::string key(32, '\0');
  for (char& c : key) c = static_cast<char>(absl::Uniform<uint8_t>(gen));
  return absl::Base64Escape(key);
}

Vault MakeVault(const std::string& contents) {
  absl::StatusOr<Vault> vault = Vault::FromKeyFile(contents);
  EXPECT_TRUE(vault.ok()) << vault.status();
  return *std::move(vault);
}

constexpr char kRefreshToken[] = "refreshtoken@@@ABCdef0123456789";
constexpr char kOwner[] = "wxcomponent00000001/wx0123456789abcdef";

TEST(VaultTest, ASealedValueOpensOnlyForItsRecord) {
  const Vault vault = MakeVault(NewKeyLine() + "\n");
  const std::string sealed = vault.Seal(kRefreshToken, kOwner);
  EXPECT_THAT(sealed,
              StartsWith(absl::StrCat("v1:", vault.current_key_id(), ":")));
  EXPECT_THAT(sealed, Not(HasSubstr(kRefreshToken)));
  EXPECT_THAT(absl::Base64Escape(sealed), Not(HasSubstr(kRefreshToken)));
  absl::StatusOr<std::string> opened = vault.Open(sealed, kOwner);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, kRefreshToken);
  // Copied to another authorizer's record: refused.
  absl::StatusOr<std::string> elsewhere =
      vault.Open(sealed, "wxcomponent00000001/wx1111111111111111");
  EXPECT_EQ(elsewhere.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(elsewhere.status().message(), Not(HasSubstr(kRefreshToken)));
}

TEST(VaultTest, EachSealIsFreshAndAnEmptyValueSealsToo) {
  const Vault vault = MakeVault(NewKeyLine());
  EXPECT_NE(vault.Seal(kRefreshToken, kOwner),
            vault.Seal(kRefreshToken, kOwner))
      << "a nonce is never reused";
  absl::StatusOr<std::string> empty =
      vault.Open(vault.Seal("", kOwner), kOwner);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

TEST(VaultTest, AnAlteredValueIsRefused) {
  const Vault vault = MakeVault(NewKeyLine());
  const std::string sealed = vault.Seal(kRefreshToken, kOwner);
  std::string data;
  ASSERT_TRUE(
      absl::Base64Unescape(sealed.substr(sealed.rfind(':') + 1), &data));
  for (size_t at : {size_t{0}, size_t{12}, data.size() - 1}) {
    std::string altered = data;
    altered[at] ^= 1;
    const std::string text = absl::StrCat(
        sealed.substr(0, sealed.rfind(':') + 1), absl::Base64Escape(altered));
    EXPECT_EQ(vault.Open(text, kOwner).status().code(),
              absl::StatusCode::kDataLoss)
        << "byte " << at;
  }
  for (const std::string& garbage :
       {std::string(""), std::string("v1:abc"), std::string("v2:x:y"),
        absl::StrCat("v1:", vault.current_key_id(), ":!!!"),
        absl::StrCat("v1:", vault.current_key_id(), ":AAAA")}) {
    EXPECT_EQ(vault.Open(garbage, kOwner).status().code(),
              absl::StatusCode::kDataLoss)
        << garbage;
  }
}

TEST(VaultTest, AfterAKeyRollOldRecordsOpenAndNewOnesUseTheNewKey) {
  const std::string old_key = NewKeyLine();
  const std::string new_key = NewKeyLine();
  const Vault before = MakeVault(old_key);
  const std::string sealed = before.Seal(kRefreshToken, kOwner);
  const Vault after =
      MakeVault(absl::StrCat("# current first\n", new_key, "\n\n", old_key));
  EXPECT_NE(after.current_key_id(), before.current_key_id());
  absl::StatusOr<std::string> opened = after.Open(sealed, kOwner);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, kRefreshToken);
  EXPECT_THAT(after.Seal(kRefreshToken, kOwner),
              StartsWith(absl::StrCat("v1:", after.current_key_id(), ":")));
  // The old key dropped too early: the error names the key id, not a value.
  const Vault only_new = MakeVault(new_key);
  absl::StatusOr<std::string> lost = only_new.Open(sealed, kOwner);
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(lost.status().message(), HasSubstr(before.current_key_id()));
}

TEST(VaultTest, ABadKeyFileIsRefusedNamingTheLineNotTheKey) {
  const std::string short_key = absl::Base64Escape(std::string(31, 'k'));
  for (const auto& [contents, want] :
       std::vector<std::pair<std::string, std::string>>{
           {"", "no key"},
           {"# only a comment\n\n", "no key"},
           {absl::StrCat(NewKeyLine(), "\n", short_key), "line 2: expected 32"},
           {"not base64 at all!", "line 1: expected 32"}}) {
    absl::StatusOr<Vault> vault = Vault::FromKeyFile(contents);
    ASSERT_FALSE(vault.ok()) << contents;
    EXPECT_THAT(vault.status().message(), HasSubstr(want));
    EXPECT_THAT(vault.status().message(), Not(HasSubstr(short_key)));
  }
}

}  // namespace
}  // namespace wxtoken::server
