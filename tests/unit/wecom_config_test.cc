// `wecom` (DESIGN.md "WeCom"): each corp's apps become owners
// "<corp_id>/<agent>" with their own secrets, on qyapi's base URLs; keys are
// checked part by part, and no error ever shows a secret.
#include "server/config/wecom_config.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config_reload.h"
#include "server/config/security_config.h"
#include "tests/fakes/random_vault_key.h"

namespace wxtoken::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kSecretA[] = "WeCoMsEcReTaGeNtOnE0123456789";
constexpr char kSecretB[] = "WeCoMsEcReTcOnTaCtS0123456789";
constexpr char kServerToken[] = "WeCoMtOkEn";
constexpr char kAesKey[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

class WeComConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/wecom_config.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    secret_a_ = WriteFile("a", kSecretA);
    secret_b_ = WriteFile("b", kSecretB);
    token_file_ = WriteFile("token", kServerToken);
    aes_file_ = WriteFile("aes", kAesKey);
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

  // One agent entry of a corp's `agents`, indented for `wecom:`.
  std::string Agent(const std::string& agent, const std::string& secret_file,
                    const std::string& extra = "") {
    return absl::StrCat("        - agent: \"", agent, "\"\n",
                        "          secret_file: \"", secret_file, "\"\n",
                        extra);
  }

  std::string TwoApps() {
    return absl::StrCat(
        "wecom:\n  corps:\n    - corp_id: ww0123456789abcdef\n      agents:\n",
        Agent("1000002", secret_a_,
              absl::StrCat("          server_token_file: \"", token_file_,
                           "\"\n          encoding_aes_key_file: \"", aes_file_,
                           "\"\n")),
        Agent("contacts", secret_b_));
  }

  void ExpectError(const std::string& yaml, const std::string& prefix) {
    absl::StatusOr<Config> config = ParseConfig(yaml);
    ASSERT_FALSE(config.ok()) << yaml;
    const std::string message(config.status().message());
    EXPECT_THAT(message, StartsWith(prefix));
    for (const char* secret : {kSecretA, kSecretB, kServerToken, kAesKey}) {
      EXPECT_THAT(message, Not(HasSubstr(secret)));
    }
  }

  std::string dir_, secret_a_, secret_b_, token_file_, aes_file_;
  std::vector<std::string> files_;
};

TEST_F(WeComConfigTest, EachAppOfACorpIsAnOwnerWithItsOwnSecret) {
  absl::StatusOr<Config> config = ParseConfig(TwoApps());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->wecom.base_urls,
              ElementsAre("https://qyapi.weixin.qq.com"));
  ASSERT_EQ(config->apps.size(), 2u);
  const AppConfig& first = config->apps[0];
  EXPECT_EQ(first.app_id, "ww0123456789abcdef/1000002");
  EXPECT_EQ(first.api, AppConfig::Api::kWeCom);
  EXPECT_EQ(first.secret, kSecretA);
  EXPECT_EQ(first.server_token, kServerToken);
  EXPECT_EQ(first.encoding_aes_key, kAesKey);
  const AppConfig& second = config->apps[1];
  EXPECT_EQ(second.app_id, "ww0123456789abcdef/contacts");
  EXPECT_EQ(second.secret, kSecretB);
  EXPECT_EQ(second.server_token, "");
  ASSERT_EQ(config->wecom.corps.size(), 1u);
  EXPECT_EQ(config->wecom.corps[0].corp_id, "ww0123456789abcdef");
  EXPECT_THAT(
      config->wecom.corps[0].agents,
      ElementsAre("ww0123456789abcdef/1000002", "ww0123456789abcdef/contacts"));

  // Base URLs as upstream's are checked.
  absl::StatusOr<Config> hosts =
      ParseConfig(TwoApps() + "  base_urls: [\"http://127.0.0.1:8080/\"]\n");
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  EXPECT_THAT(hosts->wecom.base_urls, ElementsAre("http://127.0.0.1:8080"));
  ExpectError(TwoApps() + "  base_urls: [\"ftp://x\"]\n",
              "wecom.base_urls[0]: expected an http:// or https:// URL");

  // Grants may name a corp's apps together.
  Config granted = *config;
  granted.callers = std::vector<CallerGrant>{
      {"spiffe://x/y", {"ww0123456789abcdef/*"}, {"GetToken"}}};
  EXPECT_TRUE(CheckCallers(granted).ok()) << CheckCallers(granted);
}

TEST_F(WeComConfigTest, KeysAreCheckedPartByPart) {
  const std::string head = "wecom:\n  corps:\n    - corp_id: ";
  ExpectError(head + "\"ww/x\"\n      agents:\n" + Agent("1", secret_a_),
              "wecom.corps[0].corp_id: not a WeCom CorpID");
  ExpectError(head + "ww1\n      agents:\n" + Agent("1 2", secret_a_),
              "wecom.corps[0].agents[0].agent: not a WeCom AgentId");
  ExpectError(head + "ww1\n      agents:\n" + Agent("", secret_a_),
              "wecom.corps[0].agents[0].agent: not a WeCom AgentId");
  // Each part fits, the key (65 bytes) does not.
  ExpectError(head + std::string(32, 'w') + "\n      agents:\n" +
                  Agent(std::string(32, '1'), secret_a_),
              "wecom.corps[0].agents[0].agent: the owner key");
  ExpectError(head + "ww1\n      agents:\n" + Agent("1", secret_a_) +
                  Agent("1", secret_b_),
              "wecom.corps[0].agents[1].agent: duplicate app \"ww1/1\" (also "
              "wecom.corps[0].agents[0].agent)");
  ExpectError(head + "ww1\n      agents:\n" + Agent("1", secret_a_) +
                  "    - corp_id: ww1\n      agents:\n" + Agent("2", secret_b_),
              "wecom.corps[1].corp_id: duplicate corp \"ww1\" (also "
              "wecom.corps[0])");
  ExpectError(head + "ww1\n", "wecom.corps[0].agents: required");
  ExpectError(head + "ww1\n      agents: []\n",
              "wecom.corps[0].agents: expected a list of apps");
  ExpectError(head + "ww1\n      agents:\n        - agent: \"1\"\n",
              "wecom.corps[0].agents[0].secret_file: required");
  ExpectError(head +
                  "ww1\n      agents:\n        - agent: \"1\"\n"
                  "          secret: x\n",
              "wecom.corps[0].agents[0].secret: literal secrets are not "
              "allowed");
  ExpectError(head + "ww1\n      agent:\n",
              "unknown key \"wecom.corps[0].agent\"");
  ExpectError("wecom:\n  corps: 3\n", "wecom.corps: expected a list");
}

// The corp's jsapi ticket is a ticket of its first app that the others
// serve; an app's own ticket is agent_config. The hourly budgets stay below
// WeCom's own limits.
TEST_F(WeComConfigTest, TicketsAreTheCorpsAndEachAppsOwn) {
  const std::string corp =
      "wecom:\n  corps:\n    - corp_id: ww1\n      tickets: [\"jsapi\"]\n"
      "      agents:\n";
  absl::StatusOr<Config> config = ParseConfig(
      corp + Agent("1", secret_a_, "          tickets: [\"agent_config\"]\n") +
      Agent("2", secret_b_));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->apps.size(), 2u);
  EXPECT_THAT(
      config->apps[0].tickets,
      ElementsAre(TokenKind::kJsapiTicket, TokenKind::kAgentConfigTicket));
  EXPECT_EQ(config->apps[0].corp_ticket_from, "");
  EXPECT_TRUE(config->apps[1].tickets.empty());
  EXPECT_EQ(config->apps[1].corp_ticket_from, "ww1/1");
  EXPECT_TRUE(config->wecom.corps[0].jsapi_ticket);
  EXPECT_EQ(config->wecom.corp_ticket_hourly_budget, 380);
  EXPECT_EQ(config->wecom.app_ticket_hourly_budget, 95);

  // Without the corp's ticket, no app serves one.
  absl::StatusOr<Config> plain = ParseConfig(TwoApps());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->apps[1].corp_ticket_from, "");
  EXPECT_FALSE(plain->wecom.corps[0].jsapi_ticket);

  ExpectError(corp + Agent("1", secret_a_, "          tickets: [\"jsapi\"]\n"),
              "wecom.corps[0].agents[0].tickets[0]: expected "
              "\"agent_config\", got \"jsapi\"");
  ExpectError(
      "wecom:\n  corps:\n    - corp_id: ww1\n      tickets: [\"wx_card\"]\n"
      "      agents:\n" +
          Agent("1", secret_a_),
      "wecom.corps[0].tickets[0]: expected \"jsapi\", got \"wx_card\"");
  // A WeChat app has no agent_config ticket.
  ExpectError("apps:\n  - app_id: wx1\n    secret_file: \"" + secret_a_ +
                  "\"\n    tickets: [\"agent_config\"]\n",
              "apps[0].tickets[0]: expected \"jsapi\" or \"wx_card\"");

  absl::StatusOr<Config> budgets =
      ParseConfig(TwoApps() +
                  "  corp_ticket_hourly_budget: 400\n"
                  "  app_ticket_hourly_budget: 10\n");
  ASSERT_TRUE(budgets.ok()) << budgets.status();
  EXPECT_EQ(budgets->wecom.corp_ticket_hourly_budget, 400);
  EXPECT_EQ(budgets->wecom.app_ticket_hourly_budget, 10);
  ExpectError(TwoApps() + "  app_ticket_hourly_budget: 101\n",
              "wecom.app_ticket_hourly_budget: must not exceed WeCom's own "
              "limit of 100 an hour, got 101");
  ExpectError(TwoApps() + "  corp_ticket_hourly_budget: 0\n",
              "wecom.corp_ticket_hourly_budget:");
}

// A provider's token is an owner "<corp_id>/provider" with its own secret;
// its key may not repeat an app's.
TEST_F(WeComConfigTest, AProviderIsAnOwnerOfItsOwn) {
  const std::string provider = absl::StrCat(
      "  providers:\n    - corp_id: wwprovider0000001\n      secret_file: \"",
      secret_b_, "\"\n");
  absl::StatusOr<Config> config = ParseConfig(TwoApps() + provider);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->apps.size(), 3u);
  const AppConfig& owner = config->apps[0];
  EXPECT_EQ(owner.app_id, "wwprovider0000001/provider");
  EXPECT_EQ(owner.api, AppConfig::Api::kWeComProvider);
  EXPECT_EQ(owner.secret, kSecretB);
  EXPECT_TRUE(IsWeComOwner(owner));
  // Alone it is owner enough.
  EXPECT_TRUE(ParseConfig("wecom:\n" + provider).ok());

  ExpectError(TwoApps() + provider +
                  "    - corp_id: wwprovider0000001\n      secret_file: \"" +
                  secret_a_ + "\"\n",
              "wecom.providers[1].corp_id: duplicate provider "
              "\"wwprovider0000001/provider\"");
  ExpectError(
      "wecom:\n  providers:\n    - corp_id: ww1\n      secret_file: \"" +
          secret_b_ + "\"\n  corps:\n    - corp_id: ww1\n      agents:\n" +
          Agent("provider", secret_a_),
      "wecom.corps[0].agents[0].agent: duplicate app \"ww1/provider\" (also "
      "wecom.providers[0].corp_id)");
  ExpectError("wecom:\n  providers:\n    - corp_id: ww1\n",
              "wecom.providers[0].secret_file: required");
  ExpectError("wecom:\n  providers:\n    - corp_id: ww1\n      secret: x\n",
              "wecom.providers[0].secret: literal secrets are not allowed");
  ExpectError("wecom:\n  providers: {}\n",
              "wecom.providers: expected a list of providers");
}

// A suite is a platform on WeCom's side: an owner of its own (its suite
// token), pushed to on push_listen, its corps' permanent codes sealed with
// its vault key.
TEST_F(WeComConfigTest, ASuiteIsAPushedOwnerWithAVault) {
  const std::string vault_key = wxtoken::testing::RandomVaultKey();
  const std::string vault = WriteFile("vault", vault_key);
  auto suite = [&](const std::string& id, const std::string& extra = "") {
    return absl::StrCat("    - suite_id: \"", id, "\"\n      secret_file: \"",
                        secret_a_, "\"\n      server_token_file: \"",
                        token_file_, "\"\n      encoding_aes_key_file: \"",
                        aes_file_, "\"\n      vault_key_file: \"", vault,
                        "\"\n", extra);
  };
  const std::string listen = "push_listen: \"127.0.0.1:0\"\n";
  absl::StatusOr<Config> config =
      ParseConfig(listen + "wecom:\n  suites:\n" +
                  suite("wwsuite0000000001", "      idle_after: \"1h\"\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->platforms.size(), 1u);
  const PlatformConfig& platform = config->platforms[0];
  EXPECT_TRUE(platform.wecom_suite);
  EXPECT_EQ(platform.component_app_id, "wwsuite0000000001");
  EXPECT_EQ(platform.secret, kSecretA);
  EXPECT_EQ(platform.server_token, kServerToken);
  EXPECT_EQ(platform.encoding_aes_key, kAesKey);
  EXPECT_EQ(platform.vault_keys, vault_key);
  EXPECT_EQ(platform.idle_after, absl::Hours(1));
  ASSERT_EQ(config->apps.size(), 1u);
  EXPECT_EQ(config->apps[0].app_id, "wwsuite0000000001");
  EXPECT_EQ(config->apps[0].api, AppConfig::Api::kWeComSuite);
  EXPECT_TRUE(IsWeComOwner(config->apps[0]));

  ExpectError("wecom:\n  suites:\n" + suite("wwsuite0000000001"),
              "push_listen: required with platforms and wecom.suites");
  ExpectError(
      listen + "wecom:\n  suites:\n" + suite("wwsuite0000000001") +
          suite("wwsuite0000000001"),
      "wecom.suites[1].suite_id: duplicate owner \"wwsuite0000000001\"");
  // A suite's key may not be an app's either.
  ExpectError(
      absl::StrCat(listen, "apps:\n  - app_id: wwsuite0000000001\n",
                   "    secret_file: \"", secret_b_, "\"\n",
                   "wecom:\n  suites:\n", suite("wwsuite0000000001")),
      "wecom.suites[0].suite_id: duplicate owner \"wwsuite0000000001\"");
  ExpectError(listen + "wecom:\n  suites:\n" + suite("ww/1"),
              "wecom.suites[0].suite_id: not a WeCom SuiteID");
  ExpectError(listen + "wecom:\n  suites:\n" + suite("leader"),
              "wecom.suites[0].suite_id: \"leader\" is reserved");
  std::string no_vault = suite("wwsuite0000000001");
  no_vault.erase(no_vault.find("      vault_key_file"));
  ExpectError(listen + "wecom:\n  suites:\n" + no_vault,
              "wecom.suites[0].vault_key_file: required");
  ExpectError(listen + "wecom:\n  suites:\n" +
                  suite("wwsuite0000000001", "      reconcile_interval: 1h\n"),
              "unknown key \"wecom.suites[0].reconcile_interval\"");
  ExpectError(listen + "wecom:\n  suites: {}\n",
              "wecom.suites: expected a list of suites");
}

TEST_F(WeComConfigTest, AConfigOfWeComAppsAloneIsValid) {
  // No `apps`: the corps' apps are owners enough; no owner at all is not.
  EXPECT_TRUE(ParseConfig(TwoApps()).ok());
  ExpectError("wecom:\n  base_urls: [\"http://127.0.0.1:1\"]\n",
              "apps: needs at least one owner");
}

// The corps and base URLs need a restart; an app's secret rotates live.
TEST_F(WeComConfigTest, AReloadRotatesSecretsAndKeepsTheCorps) {
  absl::StatusOr<Config> running = ParseConfig(TwoApps());
  ASSERT_TRUE(running.ok()) << running.status();
  Config rotated = *running;
  rotated.apps[1].secret = "rotated";
  ReloadPlan plan = PlanReload(*running, rotated);
  EXPECT_THAT(plan.rotated_secrets, ElementsAre("ww0123456789abcdef/contacts"));
  EXPECT_TRUE(plan.restart_keys.empty());
  EXPECT_EQ(plan.config.apps[1].secret, "rotated");

  Config fewer = *running;
  fewer.apps.pop_back();
  fewer.wecom.corps[0].agents.pop_back();
  plan = PlanReload(*running, fewer);
  EXPECT_TRUE(plan.removed_apps.empty());
  EXPECT_THAT(plan.restart_keys, ElementsAre("wecom"));
  EXPECT_EQ(plan.config.apps.size(), 2u);
}

}  // namespace
}  // namespace wxtoken::server
