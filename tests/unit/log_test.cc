#include "server/base/log.h"

#include <fcntl.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::SizeIs;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/log_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    SetLogFormat(LogFormat::kJson);
  }

  void TearDown() override {
    SetLogFormat(LogFormat::kJson);  // the default, for later tests
    unlink(capture_path().c_str());
    rmdir(dir_.c_str());
  }

  std::string capture_path() const { return dir_ + "/stderr"; }

  // Runs `body` with fd 2 pointed at a file and returns what it wrote.
  std::string CaptureStderr(const std::function<void()>& body) {
    std::fflush(stderr);
    const int saved = dup(2);
    EXPECT_GE(saved, 0);
    const int fd =
        open(capture_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(dup2(fd, 2), 2);
    close(fd);
    body();
    std::fflush(stderr);
    EXPECT_EQ(dup2(saved, 2), 2);
    close(saved);
    std::ifstream in(capture_path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // The output split into lines; the last line must end in '\n'.
  static std::vector<std::string> Lines(const std::string& output) {
    EXPECT_FALSE(output.empty());
    EXPECT_EQ(output.back(), '\n') << output;
    std::vector<std::string> lines = absl::StrSplit(output, '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
  }

  static google::protobuf::Struct ParseJson(const std::string& line) {
    google::protobuf::Struct doc;
    auto status = google::protobuf::util::JsonStringToMessage(line, &doc);
    EXPECT_TRUE(status.ok()) << status << "\n" << line;
    return doc;
  }

  static std::string Field(const google::protobuf::Struct& doc,
                           const std::string& key) {
    auto it = doc.fields().find(key);
    if (it == doc.fields().end()) return "<missing>";
    EXPECT_TRUE(it->second.has_string_value()) << key;
    return it->second.string_value();
  }

  std::string dir_;
};

constexpr char kTimePattern[] =
    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z";

TEST_F(LogTest, JsonLineHasTimeLevelMessageAndFields) {
  const std::string output = CaptureStderr([] {
    Log(LogLevel::kInfo, "fetched new token",
        {{"app_id", "wx0123456789abcdef"}, {"generation", "7"}});
  });
  std::vector<std::string> lines = Lines(output);
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_EQ(lines[0].front(), '{');
  google::protobuf::Struct doc = ParseJson(lines[0]);
  EXPECT_THAT(Field(doc, "time"), MatchesRegex(kTimePattern));
  EXPECT_EQ(Field(doc, "level"), "info");
  EXPECT_EQ(Field(doc, "msg"), "fetched new token");
  EXPECT_EQ(Field(doc, "app_id"), "wx0123456789abcdef");
  EXPECT_EQ(Field(doc, "generation"), "7");
  EXPECT_EQ(doc.fields().size(), 5u);
}

TEST_F(LogTest, JsonLevelNames) {
  const std::string output = CaptureStderr([] {
    Log(LogLevel::kInfo, "a");
    Log(LogLevel::kWarning, "b");
    Log(LogLevel::kError, "c");
  });
  std::vector<std::string> lines = Lines(output);
  ASSERT_THAT(lines, SizeIs(3));
  EXPECT_EQ(Field(ParseJson(lines[0]), "level"), "info");
  EXPECT_EQ(Field(ParseJson(lines[1]), "level"), "warning");
  EXPECT_EQ(Field(ParseJson(lines[2]), "level"), "error");
  EXPECT_EQ(Field(ParseJson(lines[2]), "msg"), "c");
  EXPECT_EQ(ParseJson(lines[0]).fields().size(), 3u);
}

TEST_F(LogTest, JsonEscapesAwkwardValuesAndStaysOneLine) {
  const std::string awkward =
      "quote\" backslash\\ newline\n cr\r tab\t bell\x07 nul";
  const std::string unicode = "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x94\x91";
  const std::string message = "multi\nline \"message\"";
  const std::string output = CaptureStderr([&] {
    Log(LogLevel::kError, message,
        {{"awkward", awkward},
         {"unicode", unicode},
         {"with nul", std::string("a\0b", 3)},
         {"key \"quoted\"\n", "v"}});
  });
  std::vector<std::string> lines = Lines(output);
  ASSERT_THAT(lines, SizeIs(1)) << output;
  EXPECT_THAT(lines[0], Not(HasSubstr("\r")));
  EXPECT_THAT(lines[0], Not(HasSubstr("\t")));
  google::protobuf::Struct doc = ParseJson(lines[0]);
  EXPECT_EQ(Field(doc, "msg"), message);
  EXPECT_EQ(Field(doc, "awkward"), awkward);
  EXPECT_EQ(Field(doc, "unicode"), unicode);
  EXPECT_EQ(Field(doc, "with nul"), std::string("a\0b", 3));
  EXPECT_EQ(Field(doc, "key \"quoted\"\n"), "v");
}

TEST_F(LogTest, EachCallIsExactlyOneLine) {
  const std::string output = CaptureStderr([] {
    for (int i = 0; i < 5; ++i) {
      Log(LogLevel::kInfo, absl::StrCat("line ", i));
    }
  });
  std::vector<std::string> lines = Lines(output);
  ASSERT_THAT(lines, SizeIs(5));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Field(ParseJson(lines[i]), "msg"), absl::StrCat("line ", i));
  }
}

TEST_F(LogTest, TextFormat) {
  SetLogFormat(LogFormat::kText);
  const std::string output = CaptureStderr([] {
    Log(LogLevel::kWarning, "cannot store token",
        {{"app_id", "wxapp"}, {"error", "disk full"}});
    Log(LogLevel::kInfo, "stopped");
  });
  std::vector<std::string> lines = Lines(output);
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[0],
              MatchesRegex(absl::StrCat(
                  kTimePattern,
                  " warning cannot store token app_id=wxapp error=disk full")));
  EXPECT_THAT(lines[1],
              MatchesRegex(absl::StrCat(kTimePattern, " info stopped")));
}

TEST_F(LogTest, SetLogFormatSwitchesBack) {
  SetLogFormat(LogFormat::kText);
  SetLogFormat(LogFormat::kJson);
  const std::string output = CaptureStderr([] {
    Log(LogLevel::kInfo, "json again", {{"k", "v"}});
  });
  std::vector<std::string> lines = Lines(output);
  ASSERT_THAT(lines, SizeIs(1));
  google::protobuf::Struct doc = ParseJson(lines[0]);
  EXPECT_EQ(Field(doc, "msg"), "json again");
  EXPECT_EQ(Field(doc, "k"), "v");
}

TEST_F(LogTest, ConcurrentLinesNeverInterleave) {
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 200;
  // Long values make a torn write likely if the lock were missing.
  const std::string filler(2000, 'x');
  const std::string output = CaptureStderr([&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kLinesPerThread; ++i) {
          Log(LogLevel::kInfo, "concurrent",
              {{"thread", absl::StrCat(t)},
               {"i", absl::StrCat(i)},
               {"filler", filler}});
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
  });
  std::vector<std::string> lines = Lines(output);
  ASSERT_THAT(lines, SizeIs(kThreads * kLinesPerThread));
  std::vector<int> next(kThreads, 0);
  for (const std::string& line : lines) {
    google::protobuf::Struct doc = ParseJson(line);
    ASSERT_EQ(Field(doc, "filler"), filler);
    int t = -1;
    int i = -1;
    ASSERT_TRUE(absl::SimpleAtoi(Field(doc, "thread"), &t)) << line;
    ASSERT_TRUE(absl::SimpleAtoi(Field(doc, "i"), &i)) << line;
    ASSERT_GE(t, 0);
    ASSERT_LT(t, kThreads);
    // Each thread's lines appear whole and in its own order.
    EXPECT_EQ(i, next[t]++);
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kLinesPerThread);
}

TEST_F(LogTest, TextFormatStaysOneLine) {
  SetLogFormat(LogFormat::kText);
  const std::string output = CaptureStderr([] {
    Log(LogLevel::kError, "bad\nthing", {{"error", "line1\nline2"}});
  });
  SetLogFormat(LogFormat::kJson);
  ASSERT_THAT(Lines(output), SizeIs(1));
  EXPECT_THAT(output, HasSubstr("error=line1\\nline2"));
}

TEST_F(LogTest, InvalidUtf8StaysOneJsonLine) {
  const std::string output = CaptureStderr([] {
    Log(LogLevel::kError, "upstream said", {{"body", "\xff\xfe bad"}});
  });
  const auto lines = Lines(output);
  ASSERT_THAT(lines, SizeIs(1));
  const google::protobuf::Struct doc = ParseJson(lines[0]);
  EXPECT_EQ(Field(doc, "msg"), "upstream said");
  EXPECT_EQ(Field(doc, "body"), "\\xff\\xfe bad");
}

TEST_F(LogTest, FieldsNeverReplaceTimeLevelOrMessage) {
  const std::string output = CaptureStderr([] {
    Log(LogLevel::kError, "real message", {{"msg", "field"}, {"level", "x"}});
  });
  const google::protobuf::Struct doc = ParseJson(Lines(output)[0]);
  EXPECT_EQ(Field(doc, "msg"), "real message");
  EXPECT_EQ(Field(doc, "level"), "error");
  EXPECT_EQ(Field(doc, "_msg"), "field");
  EXPECT_EQ(Field(doc, "_level"), "x");
}

}  // namespace
}  // namespace wxtoken::server
