#include "server/store/file_token_store.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/token_store.h"
#include "server/token/token.h"

namespace wxtoken::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// 2^53 + 1 cannot be represented as a double: it survives only if the
// generation is not stored as a JSON number.
constexpr uint64_t kBigGeneration = (uint64_t{1} << 53) + 1;

StoredToken MakeCredential(const std::string& app_id, TokenKind kind,
                           const std::string& value, uint64_t generation) {
  StoredToken credential;
  credential.app_id = app_id;
  credential.kind = kind;
  credential.value.value = value;
  // Sub-second parts down to the nanosecond.
  credential.value.fetched_at =
      absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(123456789);
  credential.value.expires_at =
      credential.value.fetched_at + absl::Seconds(7200) + absl::Microseconds(1);
  credential.value.generation = generation;
  return credential;
}

MATCHER_P(SameCredential, expected, "") {
  return arg.app_id == expected.app_id && arg.kind == expected.kind &&
         arg.value.value == expected.value.value &&
         arg.value.fetched_at == expected.value.fetched_at &&
         arg.value.expires_at == expected.value.expires_at &&
         arg.value.generation == expected.value.generation;
}

class FileTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/file_token_store.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    dir_ = root_ + "/state";
  }

  void TearDown() override {
    // Best effort: remove whatever the test left, two levels deep.
    RemoveTree(root_);
  }

  static void RemoveTree(const std::string& path) {
    struct stat info;
    if (lstat(path.c_str(), &info) != 0) return;
    if (S_ISDIR(info.st_mode)) {
      chmod(path.c_str(), 0700);
      for (const std::string& name : ListDir(path)) {
        RemoveTree(path + "/" + name);
      }
      rmdir(path.c_str());
    } else {
      unlink(path.c_str());
    }
  }

  static std::vector<std::string> ListDir(const std::string& path) {
    std::vector<std::string> names;
    DIR* dir = opendir(path.c_str());
    if (dir == nullptr) return names;
    while (const dirent* entry = readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(dir);
    return names;
  }

  static mode_t ModeOf(const std::string& path) {
    struct stat info;
    if (stat(path.c_str(), &info) != 0) return 0;
    return info.st_mode & 07777;
  }

  static void WriteFile(const std::string& path, const std::string& content,
                        mode_t mode = 0600) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::unique_ptr<FileTokenStore> OpenStore() {
    auto store = FileTokenStore::Open(dir_);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    return *std::move(store);
  }

  std::string root_;
  std::string dir_;
};

TEST_F(FileTokenStoreTest, OpenCreatesDirectoryWithMode0700) {
  const mode_t old_umask = umask(0);  // the mode must not depend on luck
  auto store = FileTokenStore::Open(dir_);
  umask(old_umask);
  ASSERT_TRUE(store.ok()) << store.status();
  struct stat info;
  ASSERT_EQ(stat(dir_.c_str(), &info), 0);
  EXPECT_TRUE(S_ISDIR(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0700);
}

TEST_F(FileTokenStoreTest, OpenAcceptsExistingDirectory) {
  ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0);
  auto store = FileTokenStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_THAT((*store)->LoadAll(), IsEmpty());
}

TEST_F(FileTokenStoreTest, OpenFailsOnRegularFile) {
  WriteFile(dir_, "not a directory");
  auto store = FileTokenStore::Open(dir_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("state_dir"));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(dir_));
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr("not a directory"));
  // The file is left alone.
  EXPECT_EQ(ReadFile(dir_), "not a directory");
}

TEST_F(FileTokenStoreTest, OpenFailsWhenParentIsMissing) {
  const std::string nested = root_ + "/missing/state";
  auto store = FileTokenStore::Open(nested);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(nested));
}

TEST_F(FileTokenStoreTest, EmptyDirectoryLoadsNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->LoadAll(), IsEmpty());
}

TEST_F(FileTokenStoreTest, SaveThenLoadAllRoundTripsEveryField) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const StoredToken access =
      MakeCredential("wx0123456789abcdef", TokenKind::kAccessToken,
                     "ACCESS_TOKEN_value-with_symbols!@#", kBigGeneration);
  StoredToken jsapi = MakeCredential("wx0123456789abcdef",
                                     TokenKind::kJsapiTicket, "jsapi-value", 7);
  jsapi.value.fetched_at += absl::Nanoseconds(1);
  StoredToken card = MakeCredential("wx_other-app", TokenKind::kWxCardTicket,
                                    "card", UINT64_MAX);
  ASSERT_TRUE(store->Save(access).ok());
  ASSERT_TRUE(store->Save(jsapi).ok());
  ASSERT_TRUE(store->Save(card).ok());

  EXPECT_THAT(store->LoadAll(), UnorderedElementsAre(SameCredential(access),
                                                     SameCredential(jsapi),
                                                     SameCredential(card)));

  // A fresh store over the same directory (a restart) sees the same.
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  EXPECT_THAT(reopened->LoadAll(), UnorderedElementsAre(SameCredential(access),
                                                        SameCredential(jsapi),
                                                        SameCredential(card)));
}

TEST_F(FileTokenStoreTest, SavedFilesAreMode0600AndNoTempFileRemains) {
  const mode_t old_umask = umask(0);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::Status status =
      store->Save(MakeCredential("wxapp", TokenKind::kAccessToken, "token", 1));
  umask(old_umask);
  ASSERT_TRUE(status.ok()) << status;
  std::vector<std::string> names = ListDir(dir_);
  ASSERT_THAT(names, ElementsAre("wxapp.access_token.json"));
  EXPECT_EQ(ModeOf(dir_ + "/" + names[0]), 0600);
}

TEST_F(FileTokenStoreTest, SaveTightensModeOfStaleFiles) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  // Left by a crash, or by someone with a loose umask.
  const std::string json = dir_ + "/wxapp.access_token.json";
  const std::string temp = dir_ + "/wxapp.access_token.tmp";
  WriteFile(json, "old", 0644);
  WriteFile(temp, "half-written", 0644);

  const StoredToken credential =
      MakeCredential("wxapp", TokenKind::kAccessToken, "token", 2);
  ASSERT_TRUE(store->Save(credential).ok());

  EXPECT_THAT(ListDir(dir_), ElementsAre("wxapp.access_token.json"));
  EXPECT_EQ(ModeOf(json), 0600);
  EXPECT_THAT(store->LoadAll(), ElementsAre(SameCredential(credential)));
}

TEST_F(FileTokenStoreTest, SaveReplacesPreviousValue) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const StoredToken first =
      MakeCredential("wxapp", TokenKind::kAccessToken, "first", 1);
  StoredToken second =
      MakeCredential("wxapp", TokenKind::kAccessToken, "second", 2);
  second.value.fetched_at += absl::Hours(2);
  second.value.expires_at += absl::Hours(2);
  ASSERT_TRUE(store->Save(first).ok());
  ASSERT_TRUE(store->Save(second).ok());

  EXPECT_THAT(store->LoadAll(), ElementsAre(SameCredential(second)));
  EXPECT_THAT(ListDir(dir_), ElementsAre("wxapp.access_token.json"));
}

TEST_F(FileTokenStoreTest, KindsOfOneAppAreStoredSeparately) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const StoredToken access =
      MakeCredential("wxapp", TokenKind::kAccessToken, "a", 1);
  const StoredToken jsapi =
      MakeCredential("wxapp", TokenKind::kJsapiTicket, "j", 1);
  ASSERT_TRUE(store->Save(access).ok());
  ASSERT_TRUE(store->Save(jsapi).ok());
  // Saving one kind again leaves the other alone.
  ASSERT_TRUE(store->Save(access).ok());
  EXPECT_THAT(store->LoadAll(), UnorderedElementsAre(SameCredential(access),
                                                     SameCredential(jsapi)));
}

TEST_F(FileTokenStoreTest, SaveFailsClearlyWhenDirectoryIsGone) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(rmdir(dir_.c_str()), 0);
  absl::Status status = store->Save(
      MakeCredential("wxapp", TokenKind::kAccessToken, "secret-ish", 1));
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("wxapp.access_token"));
  EXPECT_THAT(std::string(status.message()),
              ::testing::Not(HasSubstr("secret-ish")));
  EXPECT_THAT(store->LoadAll(), IsEmpty());  // and LoadAll does not crash
}

TEST_F(FileTokenStoreTest, CorruptFilesAreSkippedAndGoodFilesStillLoad) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const StoredToken good =
      MakeCredential("wxgood", TokenKind::kAccessToken, "good", 5);
  ASSERT_TRUE(store->Save(good).ok());
  const std::string valid = EncodeStoredToken(
      MakeCredential("wxbad", TokenKind::kAccessToken, "bad", 9));
  ASSERT_TRUE(DecodeStoredToken(valid).ok());

  struct Corrupt {
    const char* name;
    std::string content;
  };
  const std::vector<Corrupt> corrupt = {
      {"empty", ""},
      {"garbage", "\x01\x02\xff garbage \xfe"},
      {"truncated", valid.substr(0, valid.size() / 2)},
      {"array", "[1, 2, 3]"},
      {"no_format", absl::StrReplaceAll(valid, {{"\"format\"", "\"formix\""}})},
      {"other_format",
       absl::StrReplaceAll(valid, {{"wxtoken-state-v1", "wxtoken-state-v2"}})},
      {"bad_kind",
       absl::StrReplaceAll(valid, {{"\"access_token\"", "\"refresh_token\""}})},
      {"empty_value", absl::StrReplaceAll(valid, {{"\"bad\"", "\"\""}})},
      {"bad_generation", absl::StrReplaceAll(valid, {{"\"9\"", "\"nine\""}})},
      {"negative_generation",
       absl::StrReplaceAll(valid, {{"\"9\"", "\"-9\""}})},
      {"overflow_generation",
       absl::StrReplaceAll(valid, {{"\"9\"", "\"18446744073709551616\""}})},
      {"numeric_generation", absl::StrReplaceAll(valid, {{"\"9\"", "9"}})},
      {"bad_time", absl::StrReplaceAll(valid, {{"2023-11-14", "yesterday"}})},
  };
  for (const Corrupt& c : corrupt) {
    // Each replacement must really have changed the text.
    if (std::string(c.name) != "empty" && std::string(c.name) != "garbage" &&
        std::string(c.name) != "truncated" && std::string(c.name) != "array") {
      ASSERT_NE(c.content, valid) << c.name;
    }
    EXPECT_FALSE(DecodeStoredToken(c.content).ok()) << c.name;
    WriteFile(absl::StrCat(dir_, "/", c.name, ".access_token.json"), c.content);
  }
  // A directory named like a state file is skipped too.
  ASSERT_EQ(mkdir((dir_ + "/dir.access_token.json").c_str(), 0700), 0);
  // Files without the suffix are not state files at all.
  WriteFile(dir_ + "/README", valid);
  WriteFile(dir_ + "/wxbad.access_token.tmp", valid);

  EXPECT_THAT(store->LoadAll(), ElementsAre(SameCredential(good)));
}

TEST(StoredCredentialCodecTest, EncodeDecodeRoundTrip) {
  const StoredToken credential = MakeCredential(
      "wx0123456789abcdef", TokenKind::kWxCardTicket,
      "va\"lue\\with\nescapes\x7f and unicode \xe4\xb8\xad", kBigGeneration);
  const std::string text = EncodeStoredToken(credential);
  // The generation is a string: a JSON number would lose bits.
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\"", kBigGeneration, "\"")));
  EXPECT_THAT(text, HasSubstr("wxtoken-state-v1"));
  EXPECT_THAT(text, HasSubstr("wx_card_ticket"));
  auto decoded = DecodeStoredToken(text);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_THAT(*decoded, SameCredential(credential));
}

TEST(StoredCredentialCodecTest, RoundTripsEveryKindAndExtremeTimes) {
  for (int i = 0; i < kTokenKindCount; ++i) {
    StoredToken credential = MakeCredential("app", static_cast<TokenKind>(i),
                                            "v", static_cast<uint64_t>(i));
    credential.value.fetched_at = absl::UnixEpoch();
    credential.value.expires_at =
        absl::FromUnixSeconds(4102444800) + absl::Nanoseconds(1);  // 2100
    auto decoded = DecodeStoredToken(EncodeStoredToken(credential));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_THAT(*decoded, SameCredential(credential)) << i;
  }
}

TEST(StoredCredentialCodecTest, DecodeRejectsMissingFields) {
  const std::string valid =
      EncodeStoredToken(MakeCredential("app", TokenKind::kAccessToken, "v", 1));
  for (const char* field :
       {"app_id", "kind", "value", "fetched_at", "expires_at", "generation"}) {
    const std::string renamed = absl::StrReplaceAll(
        valid, {{absl::StrCat("\"", field, "\""), "\"unrelated_field\""}});
    ASSERT_NE(renamed, valid) << field;
    auto decoded = DecodeStoredToken(renamed);
    ASSERT_FALSE(decoded.ok()) << field;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace wxtoken::server
