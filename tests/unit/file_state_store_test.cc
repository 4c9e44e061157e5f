// The embedded file store and its file format (store/).
#include "server/store/file_state_store.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/state_file.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

// 2^53 + 1 cannot be represented as a double: it survives only if the
// generation is not stored as a JSON number.
constexpr uint64_t kBigGeneration = (uint64_t{1} << 53) + 1;

AppRecord MakeRecord(const std::string& app_id, const std::string& value) {
  AppRecord record;
  record.app_id = app_id;
  record.day = 19838;
  record.fetches = 7;
  record.force_fetches = 2;
  record.stable_forces = 1;
  // Sub-second parts down to the nanosecond.
  const absl::Time t =
      absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(123456789);
  record.last_stable_force = t - absl::Seconds(40);
  TokenRecord token;
  token.kind = TokenKind::kAccessToken;
  token.value = value;
  token.generation = kBigGeneration;
  token.fetched_at = t;
  token.expires_at = t + absl::Seconds(7200) + absl::Microseconds(1);
  token.intent = t + absl::Minutes(110);
  token.latest_intent = t + absl::Minutes(112);
  record.tokens.push_back(token);
  TokenRecord intent_only;
  intent_only.kind = TokenKind::kJsapiTicket;
  intent_only.intent = t;
  intent_only.latest_intent = t;
  record.tokens.push_back(intent_only);
  return record;
}

MATCHER_P(SameRecord, expected, "") {
  if (arg.app_id != expected.app_id || arg.day != expected.day ||
      arg.fetches != expected.fetches ||
      arg.force_fetches != expected.force_fetches ||
      arg.stable_forces != expected.stable_forces ||
      arg.last_stable_force != expected.last_stable_force ||
      arg.quota_blocked_until != expected.quota_blocked_until ||
      arg.tokens.size() != expected.tokens.size()) {
    return false;
  }
  for (size_t i = 0; i < arg.tokens.size(); ++i) {
    const TokenRecord& a = arg.tokens[i];
    const TokenRecord& b = expected.tokens[i];
    if (a.kind != b.kind || a.value != b.value ||
        a.generation != b.generation || a.fetched_at != b.fetched_at ||
        a.expires_at != b.expires_at || a.intent != b.intent ||
        a.latest_intent != b.latest_intent) {
      return false;
    }
  }
  return true;
}

TEST(StateFileTest, RoundTripsEveryField) {
  AppRecord record = MakeRecord(
      "wx0123456789abcdef", "va\"lue\\with\nescapes and unicode \xe4\xb8\xad");
  record.quota_blocked_until = absl::FromUnixSeconds(1700086400);
  auto decoded = DecodeAppRecord(EncodeAppRecord(record));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_THAT(*decoded, SameRecord(record));
}

TEST(StateFileTest, RefusesWhatIsNotACompleteRecord) {
  const std::string valid = EncodeAppRecord(MakeRecord("wxapp", "tok"));
  ASSERT_TRUE(DecodeAppRecord(valid).ok());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"garbage", "\x01\x02\xff garbage \xfe"},
      {"truncated", valid.substr(0, valid.size() / 2)},
      {"array", "[1, 2, 3]"},
      {"no format", absl::StrReplaceAll(valid, {{"\"format\"", "\"formix\""}})},
      {"other format",
       absl::StrReplaceAll(valid, {{"wxtoken-state-v3", "wxtoken-state-v9"}})},
      {"bad kind",
       absl::StrReplaceAll(valid, {{"\"access_token\"", "\"refresh_token\""}})},
      {"bad generation",
       absl::StrReplaceAll(valid, {{"\"9007199254740993\"", "\"nine\""}})},
      {"negative count", absl::StrReplaceAll(valid, {{"\"7\"", "\"-7\""}})},
      {"numeric count", absl::StrReplaceAll(valid, {{"\"7\"", "7"}})},
      {"bad time", absl::StrReplaceAll(valid, {{"2023-11-14", "yesterday"}})},
      {"two of a kind",
       absl::StrReplaceAll(valid, {{"\"jsapi_ticket\"", "\"access_token\""}})},
  };
  for (const auto& [name, text] : bad) {
    if (name != "empty" && name != "garbage" && name != "truncated" &&
        name != "array") {
      ASSERT_NE(text, valid) << name << ": the replacement changed nothing";
    }
    EXPECT_FALSE(DecodeAppRecord(text).ok()) << name;
  }
}

TEST(StateFileTest, RefusesTheFirstVersionsFilesNamingWhy) {
  // They recorded no unanswered requests: trusting one could serve a token
  // that a timed-out request revoked.
  auto decoded = DecodeAppRecord(
      R"({"format":"wxtoken-state-v1","app_id":"wxapp","kind":"access_token",)"
      R"("value":"v","fetched_at":"2023-11-14T22:13:20Z",)"
      R"("expires_at":"2023-11-15T00:13:20Z","generation":"1"})");
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.status().message(), HasSubstr("first version"));
}

class FileStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/file_state_store.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    dir_ = root_ + "/state";
  }
  void TearDown() override {
    store_.reset();
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
  static void WriteFile(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  }
  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Opens the store; completions land in completions_.
  void Open() {
    auto store = FileStateStore::Open(dir_, [this](std::function<void()> task) {
      absl::MutexLock lock(&mu_);
      completions_.push_back(std::move(task));
    });
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  // Writes and waits for the completion; returns its status.
  absl::Status WriteAndWait(AppRecord record) {
    absl::Status result = absl::UnknownError("not completed");
    bool done = false;
    store_->Write(std::move(record), StateStore::WriteMode::kLeader,
                  [&](absl::StatusOr<AppRecord> written) {
                    result = written.status();
                    done = true;
                  });
    RunCompletionsUntil([&] { return done; });
    return result;
  }
  // Runs posted completions (as the worker thread would) until `condition`.
  void RunCompletionsUntil(const std::function<bool()>& condition) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!condition() && absl::Now() < deadline) {
      std::vector<std::function<void()>> tasks;
      {
        absl::MutexLock lock(&mu_);
        auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !completions_.empty();
        };
        mu_.AwaitWithTimeout(absl::Condition(&any), absl::Seconds(1));
        tasks.swap(completions_);
      }
      for (auto& task : tasks) task();
    }
    ASSERT_TRUE(condition()) << "the store never completed";
  }

  std::string root_;
  std::string dir_;
  std::unique_ptr<FileStateStore> store_;
  absl::Mutex mu_;
  std::vector<std::function<void()>> completions_ ABSL_GUARDED_BY(mu_);
};

TEST_F(FileStateStoreTest, OpenCreatesTheDirectoryWithMode0700) {
  const mode_t old_umask = umask(0);  // the mode must not depend on luck
  Open();
  umask(old_umask);
  EXPECT_EQ(ModeOf(dir_), 0700u);
}

TEST_F(FileStateStoreTest, OpenFailsNamingStateDir) {
  WriteFile(dir_, "a file");
  auto store = FileStateStore::Open(dir_, [](std::function<void()>) {});
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("state_dir"));
  auto missing = FileStateStore::Open(root_ + "/no/such/parent",
                                      [](std::function<void()>) {});
  EXPECT_FALSE(missing.ok());
}

TEST_F(FileStateStoreTest, WriteThenLoadRoundTripsWithMode0600) {
  Open();
  const AppRecord record = MakeRecord("wxapp", "tok");
  ASSERT_TRUE(WriteAndWait(record).ok());
  EXPECT_EQ(ModeOf(dir_ + "/wxapp.json"), 0600u);
  EXPECT_THAT(ListDir(dir_), ::testing::ElementsAre("wxapp.json"))
      << "no temporary file remains";
  store_.reset();
  Open();
  std::vector<AppRecord> loaded = store_->Load();
  ASSERT_THAT(loaded, SizeIs(1));
  EXPECT_THAT(loaded[0], SameRecord(record));
}

TEST_F(FileStateStoreTest, AnAuthorizersKeyIsEncodedAndItsOwnerStateKept) {
  Open();
  AppRecord record = MakeRecord("wxcomponent01/wxauthorizer01", "tok");
  record.owner = {{"refresh_token", "v1:abc:sealed"}, {"revoked", "1"}};
  ASSERT_TRUE(WriteAndWait(record).ok());
  // Never a path made of the key: '/' is encoded.
  EXPECT_THAT(ListDir(dir_),
              ::testing::ElementsAre("wxcomponent01+wxauthorizer01.json"));
  store_.reset();
  Open();
  std::vector<AppRecord> loaded = store_->Load();
  ASSERT_THAT(loaded, SizeIs(1));
  EXPECT_THAT(loaded[0], SameRecord(record));
  EXPECT_EQ(loaded[0].owner, record.owner);
}

TEST_F(FileStateStoreTest, TheNewestWriteOfAnAppWins) {
  Open();
  // Several writes of one app made at once: each gets an answer, the file
  // holds the last.
  int answered = 0;
  for (int i = 0; i < 20; ++i) {
    store_->Write(MakeRecord("wxapp", absl::StrCat("v", i)),
                  StateStore::WriteMode::kLeader,
                  [&answered](absl::StatusOr<AppRecord> written) {
                    EXPECT_TRUE(written.ok());
                    ++answered;
                  });
  }
  RunCompletionsUntil([&] { return answered == 20; });
  std::vector<AppRecord> loaded = store_->Load();
  ASSERT_THAT(loaded, SizeIs(1));
  EXPECT_EQ(loaded[0].tokens[0].value, "v19");
}

TEST_F(FileStateStoreTest, AFailedWriteIsReportedAndNamesTheFileNotTheToken) {
  Open();
  ASSERT_TRUE(WriteAndWait(MakeRecord("wxapp", "first")).ok());
  // A directory where the temporary file goes: even root cannot write it.
  ASSERT_EQ(mkdir((dir_ + "/wxapp.json.tmp").c_str(), 0700), 0);
  absl::Status status = WriteAndWait(MakeRecord("wxapp", "secret-ish"));
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("wxapp.json.tmp"));
  EXPECT_THAT(status.message(), Not(HasSubstr("secret-ish")));
  // The old record is still there, whole.
  std::vector<AppRecord> loaded = store_->Load();
  ASSERT_THAT(loaded, SizeIs(1));
  EXPECT_EQ(loaded[0].tokens[0].value, "first");
}

TEST_F(FileStateStoreTest, CorruptAndForeignFilesAreSkipped) {
  Open();
  ASSERT_TRUE(WriteAndWait(MakeRecord("wxgood", "good")).ok());
  const std::string valid = EncodeAppRecord(MakeRecord("wxother", "x"));
  WriteFile(dir_ + "/garbage.json", "\x01\x02 not json");
  WriteFile(dir_ + "/empty.json", "");
  // A record filed under another app's name is not trusted.
  WriteFile(dir_ + "/wxfiled.json", valid);
  // A directory and a FIFO named like state files are skipped, not opened.
  ASSERT_EQ(mkdir((dir_ + "/dir.json").c_str(), 0700), 0);
  ASSERT_EQ(mkfifo((dir_ + "/fifo.json").c_str(), 0600), 0);
  // Not state files at all.
  WriteFile(dir_ + "/README", valid);
  WriteFile(dir_ + "/wxother.json.tmp", valid);
  std::vector<AppRecord> loaded = store_->Load();
  ASSERT_THAT(loaded, SizeIs(1));
  EXPECT_EQ(loaded[0].app_id, "wxgood");
}

TEST_F(FileStateStoreTest, DestroyingTheStoreFinishesPendingWrites) {
  Open();
  store_->Write(MakeRecord("wxapp", "last"), StateStore::WriteMode::kLeader,
                [](absl::StatusOr<AppRecord>) {});
  store_.reset();
  Open();
  std::vector<AppRecord> loaded = store_->Load();
  ASSERT_THAT(loaded, SizeIs(1));
  EXPECT_EQ(loaded[0].tokens[0].value, "last");
}

TEST_F(FileStateStoreTest, TheFileRecordsTheIntent) {
  Open();
  ASSERT_TRUE(WriteAndWait(MakeRecord("wxapp", "tok")).ok());
  const std::string text = ReadFile(dir_ + "/wxapp.json");
  EXPECT_THAT(text, HasSubstr("wxtoken-state-v3"));
  EXPECT_THAT(text, HasSubstr("\"intent\""));
  EXPECT_THAT(text, HasSubstr("\"latest_intent\""));
}

// The format before the latest unanswered send time was kept: read, with
// the intent it names (FromTokenRecord then takes the latest as now).
TEST(StateFileTest, ReadsTheEarliestOnlyFormat) {
  AppRecord record = MakeRecord("wxapp", "tok");
  for (TokenRecord& token : record.tokens) token.latest_intent.reset();
  const std::string v2 = absl::StrReplaceAll(
      EncodeAppRecord(record), {{"wxtoken-state-v3", "wxtoken-state-v2"}});
  auto decoded = DecodeAppRecord(v2);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_THAT(*decoded, SameRecord(record));
  EXPECT_EQ(decoded->tokens[0].intent, record.tokens[0].intent);
}

}  // namespace
}  // namespace wxtoken::server
