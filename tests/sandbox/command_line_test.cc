#include "tests/sandbox/command_line.h"

#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::sandbox {
namespace {

using ::testing::ElementsAre;

TEST(SandboxCommandLineTest, MergesEveryFormOfARepeatedFlag) {
  EXPECT_THAT(
      MergeRepeatedFlag(
          {"prog", "--listen", "127.0.0.1:0", "--app", "a:1", "-app=b:2",
           "--lifetime=5s", "--app=c:3,d:4", "-app", "e:5", "--", "--app", "x"},
          "app"),
      ElementsAre("prog", "--listen", "127.0.0.1:0",
                  "--app=a:1,b:2,c:3,d:4,e:5", "--lifetime=5s", "--", "--app",
                  "x"));
}

TEST(SandboxCommandLineTest, LeavesOtherArgumentsAlone) {
  EXPECT_THAT(
      MergeRepeatedFlag({"prog", "--apps=1", "--application", "x"}, "app"),
      ElementsAre("prog", "--apps=1", "--application", "x"));
  // A trailing flag without its value is left for absl to complain about.
  EXPECT_THAT(MergeRepeatedFlag({"prog", "--app"}, "app"),
              ElementsAre("prog", "--app"));
}

TEST(SandboxCommandLineTest, ParsesApps) {
  auto apps = ParseApps({"wx1:secret", "wx2:with:colon"});
  ASSERT_TRUE(apps.ok());
  EXPECT_EQ(apps->at("wx1"), "secret");
  EXPECT_EQ(apps->at("wx2"), "with:colon");
  EXPECT_FALSE(ParseApps({}).ok());
  EXPECT_FALSE(ParseApps({"wx1"}).ok());
  EXPECT_FALSE(ParseApps({":secret"}).ok());
  EXPECT_FALSE(ParseApps({"wx1:"}).ok());
  EXPECT_FALSE(ParseApps({"wx1:a", "wx1:b"}).ok());
  // The error never repeats a secret.
  EXPECT_THAT(
      std::string(ParseApps({"wx1:a", "wx1:topsecret"}).status().message()),
      ::testing::Not(::testing::HasSubstr("topsecret")));
}

// Platforms are optional: none is no error, and errors name their flag.
TEST(SandboxCommandLineTest, ParsesPlatforms) {
  auto none = ParseIdSecrets({}, "platform");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto bad = ParseIdSecrets({"wxcomponent1"}, "platform");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().substr(0, 11), "--platform:");
}

TEST(SandboxCommandLineTest, ParsesWeComApps) {
  auto apps = ParseWeComApps(
      {"wwcorp1/1000001:sa", "wwcorp1/1000002:sb:c", "ww-2_b/x:sa"});
  ASSERT_TRUE(apps.ok()) << apps.status();
  EXPECT_EQ(apps->at("wwcorp1/1000001"), "sa");
  EXPECT_EQ(apps->at("wwcorp1/1000002"), "sb:c");
  EXPECT_EQ(apps->at("ww-2_b/x"), "sa");  // another corp may share it
  auto none = ParseWeComApps({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(ParseWeComApps({"wwcorp1:s"}).ok());      // no agent
  EXPECT_FALSE(ParseWeComApps({"wwcorp1/1/2:s"}).ok());  // two slashes
  EXPECT_FALSE(ParseWeComApps({"/1000001:s"}).ok());     // no corp
  EXPECT_FALSE(ParseWeComApps({"wwcorp1/:s"}).ok());     // no agent
  EXPECT_FALSE(ParseWeComApps({"ww corp/1:s"}).ok());    // a space
  EXPECT_FALSE(ParseWeComApps({std::string(33, 'w') + "/1:s"}).ok());
  EXPECT_TRUE(ParseWeComApps({std::string(32, 'w') + "/1:s"}).ok());
  EXPECT_FALSE(ParseWeComApps({"wwcorp1/1:"}).ok());
  EXPECT_FALSE(ParseWeComApps({"wwcorp1/1:a", "wwcorp1/1:b"}).ok());
  // The secret picks the app, so a corp cannot have one twice; the error
  // does not repeat it.
  auto twice = ParseWeComApps({"wwcorp1/1:topsecret", "wwcorp1/2:topsecret"});
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(std::string(twice.status().message()),
              ::testing::Not(::testing::HasSubstr("topsecret")));
  EXPECT_EQ(twice.status().message().substr(0, 12), "--wecom_app:");
}

TEST(SandboxCommandLineTest, ParsesWeComProviders) {
  auto providers = ParseWeComProviders({"wwprovider1:ps:x", "ww-2:ps"});
  ASSERT_TRUE(providers.ok()) << providers.status();
  EXPECT_EQ(providers->at("wwprovider1"), "ps:x");
  EXPECT_EQ(providers->at("ww-2"), "ps");
  EXPECT_TRUE(ParseWeComProviders({}).ok());
  EXPECT_FALSE(ParseWeComProviders({"wwprovider1"}).ok());
  EXPECT_FALSE(ParseWeComProviders({"ww/1:ps"}).ok());
  EXPECT_FALSE(ParseWeComProviders({"ww1:a", "ww1:b"}).ok());
  EXPECT_EQ(ParseWeComProviders({"ww1:"}).status().message().substr(0, 17),
            "--wecom_provider:");
}

TEST(SandboxCommandLineTest, ParsesWeComSuites) {
  const std::string key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
  auto suites =
      ParseWeComSuites({"wwsuite1:secret:token:" + key, "dk-2:s:t:" + key});
  ASSERT_TRUE(suites.ok()) << suites.status();
  ASSERT_EQ(suites->size(), 2u);
  EXPECT_EQ((*suites)[0].suite_id, "wwsuite1");
  EXPECT_EQ((*suites)[0].secret, "secret");
  EXPECT_EQ((*suites)[0].server_token, "token");
  EXPECT_EQ((*suites)[0].encoding_aes_key, key);
  EXPECT_EQ((*suites)[1].suite_id, "dk-2");
  EXPECT_TRUE(ParseWeComSuites({}).ok());
  EXPECT_FALSE(ParseWeComSuites({"wwsuite1:secret:token"}).ok());
  EXPECT_FALSE(ParseWeComSuites({"wwsuite1:secret:token:short"}).ok());
  EXPECT_FALSE(ParseWeComSuites({"wwsuite1::token:" + key}).ok());
  EXPECT_FALSE(ParseWeComSuites({"wwsuite1:s:t:x:" + key}).ok());
  EXPECT_FALSE(ParseWeComSuites({"ww suite:s:t:" + key}).ok());
  EXPECT_FALSE(
      ParseWeComSuites({"wwsuite1:s:t:" + key, "wwsuite1:u:v:" + key}).ok());
  // The error names the suite, never its secrets.
  auto bad = ParseWeComSuites({"wwsuite1:topsecret:toptoken:short"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::HasSubstr("wwsuite1"));
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::Not(::testing::HasSubstr("top")));
}

TEST(SandboxCommandLineTest, ReadsAnAppsFile) {
  const std::string path = ::testing::TempDir() + "/sandbox_apps.txt";
  std::ofstream(path) << "# bench apps\nwxa:one\n\n  wxb:two  \n";
  absl::StatusOr<std::vector<std::string>> entries = ReadAppsFile(path);
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_THAT(*entries, ElementsAre("wxa:one", "wxb:two"));
  EXPECT_FALSE(ReadAppsFile(path + ".missing").ok());
}

TEST(SandboxCommandLineTest, ParsesListen) {
  auto address = ParseListen("127.0.0.1:0");
  ASSERT_TRUE(address.ok());
  EXPECT_EQ(address->host, "127.0.0.1");
  EXPECT_EQ(address->port, 0);
  address = ParseListen("[::1]:8080");
  ASSERT_TRUE(address.ok());
  EXPECT_EQ(address->host, "[::1]");
  EXPECT_EQ(address->port, 8080);
  EXPECT_FALSE(ParseListen("127.0.0.1").ok());
  EXPECT_FALSE(ParseListen(":80").ok());
  EXPECT_FALSE(ParseListen("host:http").ok());
  EXPECT_FALSE(ParseListen("host:70000").ok());
  EXPECT_FALSE(ParseListen("::1:80").ok());
}

}  // namespace
}  // namespace wxtoken::sandbox
