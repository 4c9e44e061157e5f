// `platforms` (DESIGN.md "Third-party platforms"): a platform's credentials
// read from files and checked for shape, its key one owner among the apps,
// and no error ever showing a secret or a vault key.
#include "server/config/platform_config.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/security_config.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kSecret[] = "PlAtFoRmSeCrEt0123456789abcdef";
constexpr char kServerToken[] = "PlAtFoRmToKeN";
constexpr char kAesKey[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

class PlatformConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/platform_config.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    // A key made now, never committed.
    std::string key(32, '\0');
    std::ifstream("/dev/urandom").read(key.data(), key.size());
    vault_key_ = absl::Base64Escape(key);
    secret_file_ = WriteFile("secret", kSecret);
    token_file_ = WriteFile("token", kServerToken);
    aes_file_ = WriteFile("aes", kAesKey);
    vault_file_ = WriteFile("vault", vault_key_ + "\n");
  }
  void TearDown() override {
    for (const std::string& file : files_) unlink(file.c_str());
    rmdir(dir_.c_str());
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << content;
    files_.push_back(path);
    return path;
  }

  // One platform's YAML; `extra` lines are added to it.
  std::string Platform(const std::string& id = "wxcomponent00000001",
                       const std::string& extra = "") {
    return absl::StrCat("- component_app_id: ", id, "\n  secret_file: \"",
                        secret_file_, "\"\n  server_token_file: \"",
                        token_file_, "\"\n  encoding_aes_key_file: \"",
                        aes_file_, "\"\n  vault_key_file: \"", vault_file_,
                        "\"\n", extra);
  }

  absl::StatusOr<std::vector<PlatformConfig>> Parse(
      const std::string& yaml, std::vector<AppConfig> apps = {}) {
    std::vector<PlatformConfig> platforms;
    absl::Status status =
        config_yaml::ParsePlatforms(YAML::Load(yaml), apps, &platforms);
    if (!status.ok()) return status;
    return platforms;
  }

  void ExpectError(const std::string& yaml, const std::string& prefix,
                   std::vector<AppConfig> apps = {}) {
    absl::StatusOr<std::vector<PlatformConfig>> parsed = Parse(yaml, apps);
    ASSERT_FALSE(parsed.ok()) << yaml;
    const std::string message(parsed.status().message());
    EXPECT_THAT(message, StartsWith(prefix));
    for (const std::string& secret :
         {std::string(kSecret), std::string(kServerToken), std::string(kAesKey),
          vault_key_}) {
      EXPECT_THAT(message, Not(HasSubstr(secret)));
    }
  }

  std::string dir_, secret_file_, token_file_, aes_file_, vault_file_,
      vault_key_;
  std::vector<std::string> files_;
};

TEST_F(PlatformConfigTest, APlatformWithItsDefaults) {
  absl::StatusOr<std::vector<PlatformConfig>> platforms =
      Parse(Platform("wxcomponent00000001", "  authorizer_tickets: [jsapi]\n") +
            Platform("wxcomponent00000002",
                     "  idle_after: 1h\n  reconcile_interval: 30m\n"
                     "  daily_budget: 100\n  platform_daily_budget: 50000\n"));
  ASSERT_TRUE(platforms.ok()) << platforms.status();
  ASSERT_EQ(platforms->size(), 2u);
  const PlatformConfig& first = (*platforms)[0];
  EXPECT_EQ(first.component_app_id, "wxcomponent00000001");
  EXPECT_EQ(first.secret, kSecret);
  EXPECT_EQ(first.server_token, kServerToken);
  EXPECT_EQ(first.encoding_aes_key, kAesKey);
  EXPECT_EQ(first.vault_keys, vault_key_ + "\n");
  EXPECT_EQ(first.authorizer_tickets,
            std::vector<TokenKind>{TokenKind::kJsapiTicket});
  EXPECT_EQ(first.idle_after, absl::Hours(24));
  EXPECT_EQ(first.reconcile_interval, absl::Hours(24));
  EXPECT_EQ(first.daily_budget, 1900);
  EXPECT_EQ(first.platform_daily_budget, 0);
  const PlatformConfig& second = (*platforms)[1];
  EXPECT_EQ(second.idle_after, absl::Hours(1));
  EXPECT_EQ(second.reconcile_interval, absl::Minutes(30));
  EXPECT_EQ(second.daily_budget, 100);
  EXPECT_EQ(second.platform_daily_budget, 50000);
}

TEST_F(PlatformConfigTest, AnOwnerKeyIsUsedOnce) {
  ExpectError(Platform() + Platform(),
              "platforms[1].component_app_id: duplicate owner "
              "\"wxcomponent00000001\" (also platforms[0].component_app_id)");
  AppConfig app;
  app.app_id = "wxcomponent00000001";
  ExpectError(Platform(),
              "platforms[0].component_app_id: duplicate owner "
              "\"wxcomponent00000001\" (also apps[0].app_id)",
              {app});
  ExpectError(Platform("wx/component"),
              "platforms[0].component_app_id: not a WeChat AppID");
  ExpectError(Platform("leader"),
              "platforms[0].component_app_id: \"leader\" is reserved");
}

TEST_F(PlatformConfigTest, EveryCredentialIsRequiredAndChecked) {
  ExpectError("- component_app_id: wxc\n  secret: x\n",
              "platforms[0].secret: literal secrets are not allowed");
  ExpectError("- component_app_id: wxc\n  vault_key: x\n",
              "platforms[0].vault_key: literal secrets are not allowed");
  ExpectError("- component_app_id: wxc\n",
              "platforms[0].secret_file: required");
  ExpectError(absl::StrCat("- component_app_id: wxc\n  secret_file: \"",
                           secret_file_, "\"\n"),
              "platforms[0].server_token_file: required");
  const std::string short_key = WriteFile("short_aes", "abc");
  std::string yaml = Platform();
  yaml.replace(yaml.find(aes_file_), aes_file_.size(), short_key);
  ExpectError(yaml,
              "platforms[0].encoding_aes_key_file: an EncodingAESKey is 43");
  yaml = Platform();
  yaml.erase(yaml.find("  vault_key_file"));
  ExpectError(yaml, "platforms[0].vault_key_file: required");
  const std::string bad_vault =
      WriteFile("bad_vault", absl::StrCat(vault_key_, "\nnot-a-key\n"));
  yaml = Platform();
  yaml.replace(yaml.find(vault_file_), vault_file_.size(), bad_vault);
  ExpectError(yaml, absl::StrCat("platforms[0].vault_key_file: \"", bad_vault,
                                 "\": line 2: expected 32"));
  ExpectError(Platform("wxc", "  authorizer_tickets: [jsapi, jsapi]\n"),
              "platforms[0].authorizer_tickets[1]: duplicate ticket");
  ExpectError(Platform("wxc", "  idle_after: 0s\n"), "platforms[0].idle_after");
  ExpectError(Platform("wxc", "  daily_budget: 0\n"),
              "platforms[0].daily_budget");
  ExpectError(Platform("wxc", "  component_appid: wxc\n"),
              "unknown key \"platforms[0].component_appid\"");
  ExpectError("3", "platforms: expected a list");
}

// In a whole config: each platform is an owner beside the apps, whose
// token is the component token and whose pushes are checked with its own
// server token and key; its authorizers may be granted as "id/*".
TEST_F(PlatformConfigTest, APlatformIsAnOwnerOfTheConfig) {
  std::string platform = Platform();
  // Indented as the list under `platforms:`.
  for (size_t at = 0; (at = platform.find('\n', at)) != std::string::npos &&
                      at + 1 < platform.size();
       at += 3) {
    platform.insert(at + 1, "  ");
  }
  const std::string yaml =
      "push_listen: \"127.0.0.1:8080\"\nplatforms:\n  " + platform;
  absl::StatusOr<Config> config = ParseConfig(yaml);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->platforms.size(), 1u);
  ASSERT_EQ(config->apps.size(), 1u);
  const AppConfig& owner = config->apps[0];
  EXPECT_EQ(owner.app_id, "wxcomponent00000001");
  EXPECT_EQ(owner.api, AppConfig::Api::kComponent);
  EXPECT_EQ(owner.secret, kSecret);
  EXPECT_EQ(owner.server_token, kServerToken);
  EXPECT_EQ(owner.encoding_aes_key, kAesKey);
  EXPECT_EQ(config->push_listen, "127.0.0.1:8080");

  absl::StatusOr<Config> without_listener =
      ParseConfig("platforms:\n  " + platform);
  ASSERT_FALSE(without_listener.ok());
  EXPECT_THAT(std::string(without_listener.status().message()),
              StartsWith("push_listen: required with platforms"));

  // Grants name the platform and its authorizers ("id/*"); a parent that
  // is no platform is refused.
  Config granted = *config;
  granted.callers = std::vector<CallerGrant>{
      {"spiffe://x/y",
       {"wxcomponent00000001", "wxcomponent00000001/*"},
       {"GetToken", "SubmitPlatformPush"}}};
  EXPECT_TRUE(CheckCallers(granted).ok()) << CheckCallers(granted);
  granted.callers->front().apps = {"wxcomponent00000002/*"};
  EXPECT_THAT(std::string(CheckCallers(granted).message()),
              HasSubstr("no platform or WeCom corp \"wxcomponent00000002\""));
}

}  // namespace
}  // namespace wxtoken::server
