// A platform's decrypted events (WECHAT.md "Third-party platform"), as the
// Open Platform documentation shows them.
#include "server/wechat/platform_event.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/event_error.h"

namespace wxtoken::server {
namespace {

using ::wxtoken::server::testing::IsEventError;

constexpr char kTicket[] = "ticket@@@lEHjsBEi_TPDey0IZxw4Zbb7JRYLOtEf9ksvDpSwz";

std::string TicketEvent(const std::string& ticket = kTicket) {
  return "<xml>\n<AppId><![CDATA[wxcomponent00000001]]></AppId>\n"
         "<CreateTime>1413192605</CreateTime>\n"
         "<InfoType><![CDATA[component_verify_ticket]]></InfoType>\n"
         "<ComponentVerifyTicket><![CDATA[" +
         ticket + "]]></ComponentVerifyTicket>\n</xml>";
}

TEST(PlatformEventTest, AVerifyTicket) {
  absl::StatusOr<PlatformEvent> event = ParsePlatformEvent(TicketEvent());
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, PlatformEvent::Type::kVerifyTicket);
  EXPECT_EQ(event->component_app_id, "wxcomponent00000001");
  EXPECT_EQ(event->create_time, absl::FromUnixSeconds(1413192605));
  EXPECT_EQ(event->ticket, kTicket);
}

TEST(PlatformEventTest, AuthorizationEvents) {
  const std::string authorized =
      "<xml><AppId>wxcomponent00000001</AppId><CreateTime>1413192760"
      "</CreateTime><InfoType>authorized</InfoType><AuthorizerAppid>"
      "wx0123456789abcdef</AuthorizerAppid><AuthorizationCode>"
      "queryauthcode@@@abc</AuthorizationCode><AuthorizationCodeExpiredTime>"
      "1413196360</AuthorizationCodeExpiredTime><PreAuthCode>preauthcode@@@x"
      "</PreAuthCode></xml>";
  absl::StatusOr<PlatformEvent> event = ParsePlatformEvent(authorized);
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, PlatformEvent::Type::kAuthorized);
  EXPECT_EQ(event->authorizer_app_id, "wx0123456789abcdef");
  EXPECT_EQ(event->authorization_code, "queryauthcode@@@abc");
  EXPECT_EQ(event->code_expires, absl::FromUnixSeconds(1413196360));

  std::string update = authorized;
  update.replace(update.find(">authorized<"), 12, ">updateauthorized<");
  event = ParsePlatformEvent(update);
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, PlatformEvent::Type::kUpdateAuthorized);

  event = ParsePlatformEvent(
      "<xml><AppId>wxcomponent00000001</AppId><CreateTime>1413192760"
      "</CreateTime><InfoType>unauthorized</InfoType><AuthorizerAppid>"
      "wx0123456789abcdef</AuthorizerAppid></xml>");
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, PlatformEvent::Type::kUnauthorized);
  EXPECT_EQ(event->authorizer_app_id, "wx0123456789abcdef");
}

TEST(PlatformEventTest, OtherInfoTypesAreNamedNotRefused) {
  absl::StatusOr<PlatformEvent> event = ParsePlatformEvent(
      "<xml><AppId>wxcomponent00000001</AppId><CreateTime>1</CreateTime>"
      "<InfoType>notify_third_fasteregister</InfoType><appid>wx1</appid>"
      "</xml>");
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, PlatformEvent::Type::kOther);
  EXPECT_EQ(event->info_type, "notify_third_fasteregister");
}

TEST(PlatformEventTest, ABadEventIsRefusedWithoutQuotingCredentials) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not xml", "event: XML must start"},
      {TicketEvent(""), "ComponentVerifyTicket is empty"},
      {TicketEvent(std::string(3000, 'a')), "longer than"},
      {TicketEvent("tick et"), "not printable"},
      {"<xml><AppId>wxc</AppId><InfoType>component_verify_ticket</InfoType>"
       "</xml>",
       "CreateTime is missing"},
      {"<xml><AppId>wx c</AppId><CreateTime>1</CreateTime>"
       "<InfoType>x</InfoType></xml>",
       "AppId is not an AppID"},
      {"<xml><AppId>wxc</AppId><CreateTime>-1</CreateTime>"
       "<InfoType>x</InfoType></xml>",
       "CreateTime is not decimal"},
      {"<xml><AppId>wxc</AppId><CreateTime>1</CreateTime>"
       "<InfoType>unauthorized</InfoType></xml>",
       "AuthorizerAppid is missing"},
      {"<xml><AppId>wxc</AppId><CreateTime>1</CreateTime>"
       "<InfoType>authorized</InfoType><AuthorizerAppid>wxa</AuthorizerAppid>"
       "</xml>",
       "AuthorizationCode is missing"},
  };
  for (const auto& [text, want] : bad) {
    EXPECT_THAT(ParsePlatformEvent(text),
                IsEventError(want, std::vector<std::string>{"tick et"}));
  }
  // Two tickets in one event: which one counts would be a guess.
  std::string twice = TicketEvent();
  twice.insert(twice.find("</xml>"),
               "<ComponentVerifyTicket>ticket@@@other</ComponentVerifyTicket>");
  EXPECT_THAT(
      ParsePlatformEvent(twice),
      IsEventError("more than once", std::vector<std::string>{"ticket@@@"}));
}

}  // namespace
}  // namespace wxtoken::server
