// What a reload changes live and what waits for a restart (PlanReload).
#include "server/config/config_reload.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config.h"

namespace wxtoken::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

Config Running() {
  Config config;
  config.listen = "127.0.0.1:50051";
  AppConfig a;
  a.app_id = "wxa";
  a.secret = "secret-a";
  a.server_token = "token-a";
  AppConfig b;
  b.app_id = "wxb";
  b.secret = "secret-b";
  config.apps = {a, b};
  return config;
}

TEST(ConfigReloadTest, TheSameConfigChangesNothing) {
  const ReloadPlan plan = PlanReload(Running(), Running());
  EXPECT_TRUE(plan.unchanged);
  EXPECT_THAT(plan.restart_keys, IsEmpty());
  EXPECT_THAT(plan.rotated_secrets, IsEmpty());
  EXPECT_FALSE(plan.callers_changed);
  EXPECT_FALSE(plan.messages_changed);
  EXPECT_EQ(plan.config, Running());
}

TEST(ConfigReloadTest, SecretsTokensAndKeysAreLive) {
  Config next = Running();
  next.apps[0].secret = "secret-a2";
  next.apps[1].encoding_aes_key = std::string(43, 'k');
  next.drain_timeout = absl::Seconds(9);
  const ReloadPlan plan = PlanReload(Running(), next);
  EXPECT_FALSE(plan.unchanged);
  EXPECT_THAT(plan.rotated_secrets, ElementsAre("wxa"));
  EXPECT_TRUE(plan.messages_changed);
  EXPECT_THAT(plan.restart_keys, IsEmpty());
  EXPECT_EQ(plan.config, next) << "everything applied";
}

TEST(ConfigReloadTest, RestartOnlyKeysKeepTheirRunningValue) {
  Config next = Running();
  next.listen = "127.0.0.1:6000";
  next.metrics_listen = "";
  next.reflection = false;
  next.refresh.margin = absl::Minutes(20);
  next.upstream.timeout = absl::Seconds(2);
  next.watch.max_stream_age = absl::Minutes(5);
  next.state_dir = "/elsewhere";
  next.apps[0].secret = "secret-a2";  // live, alongside
  const ReloadPlan plan = PlanReload(Running(), next);
  EXPECT_THAT(
      plan.restart_keys,
      UnorderedElementsAre("listen", "metrics_listen", "reflection", "refresh",
                           "upstream", "watch", "state_dir"));
  EXPECT_EQ(plan.config.listen, Running().listen);
  EXPECT_EQ(plan.config.refresh.margin, Running().refresh.margin);
  EXPECT_EQ(plan.config.state_dir, Running().state_dir);
  EXPECT_EQ(plan.config.apps[0].secret, "secret-a2");
}

TEST(ConfigReloadTest, AppsAreAddedAndRemovedLive) {
  Config next = Running();
  next.apps.erase(next.apps.begin());  // wxa removed
  AppConfig c;
  c.app_id = "wxc";
  c.secret = "secret-c";
  next.apps.push_back(c);
  const ReloadPlan plan = PlanReload(Running(), next);
  EXPECT_THAT(plan.removed_apps, ElementsAre("wxa"));
  ASSERT_EQ(plan.added_apps.size(), 1u);
  EXPECT_EQ(plan.added_apps[0], c);
  EXPECT_EQ(plan.config.apps, next.apps);
  EXPECT_TRUE(plan.restart_keys.empty());
  // Their push keys come and go with them.
  EXPECT_TRUE(plan.messages_changed);
  EXPECT_TRUE(plan.rotated_secrets.empty());
}

TEST(ConfigReloadTest, AKeptAppsApiAndTicketsWaitForARestart) {
  Config next = Running();
  next.apps[1].tickets = {TokenKind::kJsapiTicket};
  next.apps[1].api = AppConfig::Api::kStable;
  const ReloadPlan plan = PlanReload(Running(), next);
  EXPECT_THAT(plan.restart_keys,
              UnorderedElementsAre("apps: wxb api", "apps: wxb tickets"));
  EXPECT_EQ(plan.config.apps, Running().apps);
  EXPECT_TRUE(plan.added_apps.empty());
  EXPECT_TRUE(plan.removed_apps.empty());
}

TEST(ConfigReloadTest, CallersAreLiveWhereClientCertificatesAreAsked) {
  Config mtls = Running();
  mtls.tls = TlsConfig{"cert.pem", "key.pem", "ca.pem"};
  Config next = mtls;
  next.callers = std::vector<CallerGrant>{{"dns:orders", {"*"}, {"GetToken"}}};
  ReloadPlan plan = PlanReload(mtls, next);
  EXPECT_TRUE(plan.callers_changed);
  EXPECT_EQ(plan.config.callers, next.callers);

  // Without client certificates they would deny everyone: kept for the
  // restart that brings tls.client_ca_file.
  Config plaintext_next = Running();
  plaintext_next.tls = mtls.tls;
  plaintext_next.callers = next.callers;
  plan = PlanReload(Running(), plaintext_next);
  EXPECT_FALSE(plan.callers_changed);
  EXPECT_FALSE(plan.config.callers);
  EXPECT_THAT(plan.restart_keys, ::testing::Contains("tls"));
  EXPECT_THAT(plan.restart_keys,
              ::testing::Contains(::testing::HasSubstr("callers")));
}

TEST(ConfigReloadTest, TimestampSkewRebuildsThePushKeys) {
  Config next = Running();
  next.max_timestamp_skew = absl::Minutes(5);
  const ReloadPlan plan = PlanReload(Running(), next);
  EXPECT_TRUE(plan.messages_changed);
  EXPECT_EQ(plan.config.max_timestamp_skew, absl::Minutes(5));
}

}  // namespace
}  // namespace wxtoken::server
