// A WeCom suite's decrypted pushes (WECHAT.md "WeCom (企业微信) APIs"), as
// WeCom's documentation and the sandbox (tests/sandbox/wecom_suite_pusher.cc)
// send them, read into the PlatformEvent a platform's pushes are.
#include "server/wechat/suite_event.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/event_error.h"

namespace wxtoken::server {
namespace {

using ::wxtoken::server::testing::IsEventError;

constexpr char kSuiteId[] = "wwddddccc7775555aaa";
constexpr char kTicket[] = "Cfp0_givEagXcYJIztF6sfbdmIZCmpaR8ZBsvJEFFNBrWmnD";
constexpr char kAuthCode[] = "AUTHCODE@@@4cxl3kN_tpyzPnNy-ZgFI";

std::string Event(const std::string& info_type, const std::string& rest,
                  const std::string& timestamp = "1403610513") {
  return absl::StrCat("<xml>\n<SuiteId><![CDATA[", kSuiteId,
                      "]]></SuiteId>\n<InfoType><![CDATA[", info_type,
                      "]]></InfoType>\n<TimeStamp>", timestamp,
                      "</TimeStamp>\n", rest, "</xml>");
}

std::string TicketEvent(const std::string& ticket = kTicket) {
  return Event("suite_ticket", absl::StrCat("<SuiteTicket><![CDATA[", ticket,
                                            "]]></SuiteTicket>\n"));
}

TEST(SuiteEventTest, ASuiteTicket) {
  absl::StatusOr<PlatformEvent> event = ParseSuiteEvent(TicketEvent());
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, PlatformEvent::Type::kVerifyTicket);
  EXPECT_EQ(event->info_type, "suite_ticket");
  EXPECT_EQ(event->component_app_id, kSuiteId);
  EXPECT_EQ(event->create_time, absl::FromUnixSeconds(1403610513));
  EXPECT_EQ(event->ticket, kTicket);
  EXPECT_EQ(event->authorizer_app_id, "");
  EXPECT_EQ(event->authorization_code, "");
}

TEST(SuiteEventTest, CreateAuthAndResetPermanentCodeCarryACodeButNoCorp) {
  for (const std::string info_type : {"create_auth", "reset_permanent_code"}) {
    absl::StatusOr<PlatformEvent> event = ParseSuiteEvent(
        Event(info_type, absl::StrCat("<AuthCode><![CDATA[", kAuthCode,
                                      "]]></AuthCode>\n<State>"
                                      "<![CDATA[123]]></State>\n")));
    ASSERT_TRUE(event.ok()) << info_type << ": " << event.status();
    EXPECT_EQ(event->type, PlatformEvent::Type::kAuthorized) << info_type;
    EXPECT_EQ(event->info_type, info_type);
    EXPECT_EQ(event->component_app_id, kSuiteId);
    EXPECT_EQ(event->authorization_code, kAuthCode);
    // WeCom names the corp only when the code is exchanged.
    EXPECT_EQ(event->authorizer_app_id, "") << info_type;
    EXPECT_EQ(event->code_expires, std::nullopt);
  }
}

TEST(SuiteEventTest, CancelAuthNamesTheCorp) {
  absl::StatusOr<PlatformEvent> event = ParseSuiteEvent(
      Event("cancel_auth",
            "<AuthCorpId><![CDATA[wxf8b4f85f3a794e77]]></AuthCorpId>"));
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, PlatformEvent::Type::kUnauthorized);
  EXPECT_EQ(event->authorizer_app_id, "wxf8b4f85f3a794e77");
  EXPECT_EQ(event->authorization_code, "");
}

TEST(SuiteEventTest, OtherInfoTypesAreNamedNotRefused) {
  // change_auth names a corp, a contact change much else: neither is read.
  for (const std::string info_type : {"change_auth", "change_contact"}) {
    absl::StatusOr<PlatformEvent> event = ParseSuiteEvent(
        Event(info_type,
              "<AuthCorpId><![CDATA[wxf8b4f85f3a794e77]]></AuthCorpId>"
              "<ChangeType><![CDATA[create_user]]></ChangeType>"));
    ASSERT_TRUE(event.ok()) << info_type << ": " << event.status();
    EXPECT_EQ(event->type, PlatformEvent::Type::kOther);
    EXPECT_EQ(event->info_type, info_type);
    EXPECT_EQ(event->authorizer_app_id, "");
  }
}

TEST(SuiteEventTest, ThePlatformParserAndTheSuiteParserDoNotMix) {
  // A platform's ticket event has no SuiteId: not a suite's event.
  absl::StatusOr<PlatformEvent> event = ParseSuiteEvent(
      "<xml><AppId>wxcomponent00000001</AppId><CreateTime>1413192605"
      "</CreateTime><InfoType>component_verify_ticket</InfoType>"
      "<ComponentVerifyTicket>ticket@@@x</ComponentVerifyTicket></xml>");
  EXPECT_THAT(event, IsEventError("SuiteId is missing",
                                  std::vector<std::string>{"ticket@@@"}));
}

TEST(SuiteEventTest, ABadEventIsRefusedWithoutQuotingCredentials) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not xml", "event: XML must start"},
      {TicketEvent(""), "SuiteTicket is empty"},
      {TicketEvent(std::string(3000, 'a')), "SuiteTicket is longer than"},
      {TicketEvent("tick et"), "SuiteTicket is not printable"},
      {Event("suite_ticket", ""), "SuiteTicket is missing"},
      {Event("create_auth", ""), "AuthCode is missing"},
      {Event("create_auth", "<AuthCode>code@@@a b</AuthCode>"),
       "AuthCode is not printable"},
      {Event("reset_permanent_code",
             absl::StrCat("<AuthCode>", std::string(600, 'c'), "</AuthCode>")),
       "AuthCode is longer than 512"},
      {Event("cancel_auth", ""), "AuthCorpId is missing"},
      {Event("cancel_auth", "<AuthCorpId>ww corp</AuthCorpId>"),
       "AuthCorpId is not a CorpID"},
      {Event("suite_ticket", "<SuiteTicket>t</SuiteTicket>", "-1"),
       "TimeStamp is not decimal"},
      {Event("suite_ticket", "<SuiteTicket>t</SuiteTicket>", "1.5"),
       "TimeStamp is not decimal"},
      {"<xml><SuiteId>ww1</SuiteId><InfoType>suite_ticket</InfoType>"
       "<SuiteTicket>t</SuiteTicket></xml>",
       "TimeStamp is missing"},
      {"<xml><SuiteId>ww1</SuiteId><TimeStamp>1</TimeStamp></xml>",
       "InfoType is missing"},
      {"<xml><InfoType>suite_ticket</InfoType><TimeStamp>1</TimeStamp></xml>",
       "SuiteId is missing"},
      {"<xml><SuiteId>ww/1</SuiteId><InfoType>x</InfoType>"
       "<TimeStamp>1</TimeStamp></xml>",
       "SuiteId is not a suite ID"},
      {Event(std::string(65, 'x'), ""), "InfoType is not a short printable"},
  };
  const std::vector<std::string> credentials = {"tick et", "code@@@"};
  for (const auto& [text, want] : bad) {
    EXPECT_THAT(ParseSuiteEvent(text), IsEventError(want, credentials));
  }
}

TEST(SuiteEventTest, AFieldGivenTwiceIsRefused) {
  // Two tickets in one event: which one counts would be a guess.
  std::string twice = TicketEvent();
  twice.insert(twice.find("</xml>"),
               "<SuiteTicket>ticket@@@other</SuiteTicket>");
  EXPECT_THAT(ParseSuiteEvent(twice),
              IsEventError("SuiteTicket appears more than once",
                           std::vector<std::string>{"ticket@@@", kTicket}));

  std::string two_suites = TicketEvent();
  two_suites.insert(two_suites.find("</xml>"), "<SuiteId>wwother</SuiteId>");
  EXPECT_THAT(ParseSuiteEvent(two_suites),
              IsEventError("SuiteId appears more than once",
                           std::vector<std::string>{kTicket}));
}

}  // namespace
}  // namespace wxtoken::server
