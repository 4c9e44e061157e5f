// PlatformPushIntake and push_listen (DESIGN.md "Push intake", "WeCom"): a
// platform's and a WeCom suite's pushes, each on its own family's URL,
// checked, decrypted, parsed by its family's parser and handed to the
// worker; WeCom's GET URL check answered with the decrypted echostr. The
// pushes are built as WeChat and WeCom build them: encrypted for the
// owner's receive id and signed with its server token.
#include "server/messages/platform_push.h"

#include <httplib.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/swappable.h"
#include "server/config/config.h"
#include "server/http/push_listener.h"
#include "server/messages/push_messages.h"
#include "server/wechat/message_crypto.h"
#include "server/wechat/signature.h"
#include "tests/fakes/fake_clock.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using Path = PlatformPush::Path;

constexpr char kPlatformId[] = "wxcomponent00000001";
constexpr char kPlatformToken[] = "platformtoken";
constexpr char kPlatformKey[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
constexpr char kSuiteId[] = "wwsuite00000000001";
constexpr char kSuiteToken[] = "suitetoken";
constexpr char kSuiteKey[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
constexpr char kTimestamp[] = "1714000000";

std::string Cdata(absl::string_view name, absl::string_view text) {
  return absl::StrCat("<", name, "><![CDATA[", text, "]]></", name, ">");
}

std::string SuiteTicketXml(absl::string_view suite_id,
                           absl::string_view ticket) {
  return absl::StrCat("<xml>", Cdata("SuiteId", suite_id),
                      Cdata("InfoType", "suite_ticket"), "<TimeStamp>",
                      kTimestamp, "</TimeStamp>", Cdata("SuiteTicket", ticket),
                      "</xml>");
}

std::string CreateAuthXml(absl::string_view auth_code) {
  return absl::StrCat(
      "<xml>", Cdata("SuiteId", kSuiteId), Cdata("AuthCode", auth_code),
      Cdata("InfoType", "create_auth"), "<TimeStamp>", kTimestamp,
      "</TimeStamp>", Cdata("State", "x"), "</xml>");
}

std::string ComponentTicketXml(absl::string_view ticket) {
  return absl::StrCat("<xml>", Cdata("AppId", kPlatformId), "<CreateTime>",
                      kTimestamp, "</CreateTime>",
                      Cdata("InfoType", "component_verify_ticket"),
                      Cdata("ComponentVerifyTicket", ticket), "</xml>");
}

// Encrypted for `receive_id` with `aes_key`, signed with `token`.
struct Sealed {
  std::string encrypt;
  std::string msg_signature;
};
Sealed Seal(absl::string_view aes_key, absl::string_view token,
            absl::string_view receive_id, absl::string_view plaintext,
            absl::string_view nonce) {
  absl::StatusOr<MessageKey> key = MessageKey::FromEncodingAesKey(aes_key);
  EXPECT_TRUE(key.ok()) << key.status();
  absl::StatusOr<std::string> encrypt =
      EncryptMessage(*key, receive_id, plaintext);
  EXPECT_TRUE(encrypt.ok()) << encrypt.status();
  return {*encrypt, WeChatSignature({token, kTimestamp, nonce, *encrypt})};
}

// A push sent to `path`'s URL for `id`, as WeChat or WeCom sends it:
// encrypted for `receive_id` and signed with the owner's server token.
PlatformPush SealedPush(Path path, absl::string_view id,
                        absl::string_view event_xml, absl::string_view nonce,
                        absl::string_view receive_id) {
  const bool suite = path == Path::kWeComSuite;
  Sealed sealed =
      Seal(suite ? kSuiteKey : kPlatformKey,
           suite ? kSuiteToken : kPlatformToken, receive_id, event_xml, nonce);
  PlatformPush push;
  push.path = path;
  push.component_app_id = std::string(id);
  push.msg_signature = sealed.msg_signature;
  push.timestamp = kTimestamp;
  push.nonce = std::string(nonce);
  // WeCom's envelope is the one tests/sandbox/wecom_suite_pusher.cc sends.
  push.body = suite ? absl::StrCat("<xml>", Cdata("ToUserName", id),
                                   Cdata("Encrypt", sealed.encrypt),
                                   Cdata("AgentID", ""), "</xml>")
                    : absl::StrCat("<xml>", Cdata("AppId", id),
                                   Cdata("Encrypt", sealed.encrypt), "</xml>");
  return push;
}

PlatformPush SuitePush(absl::string_view event_xml,
                       absl::string_view nonce = "1372623149",
                       absl::string_view receive_id = kSuiteId) {
  return SealedPush(Path::kWeComSuite, kSuiteId, event_xml, nonce, receive_id);
}

PlatformPush PlatformTicketPush(absl::string_view ticket) {
  return SealedPush(Path::kWeChatPlatform, kPlatformId,
                    ComponentTicketXml(ticket), "998877", kPlatformId);
}

AppConfig Owner(const std::string& id, AppConfig::Api api,
                const std::string& token, const std::string& key) {
  AppConfig app;
  app.app_id = id;
  app.api = api;
  app.server_token = token;
  app.encoding_aes_key = key;
  return app;
}

// One platform and one suite, their keys in PushMessages as main.cc builds
// them (Config::apps), and a worker that records what it is handed.
class PlatformPushTest : public ::testing::Test {
 protected:
  PlatformPushTest() : messages_(MakeMessages(clock_)) {}

  static std::shared_ptr<const PushMessages> MakeMessages(const Clock& clock) {
    Config config;
    config.apps.push_back(Owner(kPlatformId, AppConfig::Api::kComponent,
                                kPlatformToken, kPlatformKey));
    config.apps.push_back(
        Owner(kSuiteId, AppConfig::Api::kWeComSuite, kSuiteToken, kSuiteKey));
    absl::StatusOr<PushMessages> messages = PushMessages::Create(config, clock);
    EXPECT_TRUE(messages.ok()) << messages.status();
    return std::make_shared<const PushMessages>(*std::move(messages));
  }

  std::unique_ptr<PlatformPushIntake> MakeIntake(
      PlatformPushIntake::Forwarding forwarding = {}) {
    return std::make_unique<PlatformPushIntake>(
        std::vector<PlatformPushIntake::Owner>{{kPlatformId, false},
                                               {kSuiteId, true}},
        messages_,
        [this](PlatformEvent event, PlatformPushIntake::Done done) {
          absl::Status status;
          {
            absl::MutexLock lock(&mu_);
            events_.push_back(std::move(event));
            status = sink_status_;
          }
          done(status);
        },
        std::move(forwarding));
  }

  // Submits and returns what `done` got (the fake worker answers at once).
  absl::Status Submit(PlatformPushIntake& intake, PlatformPush push) {
    std::optional<absl::Status> answer;
    intake.Submit(std::move(push),
                  [&answer](absl::Status status) { answer = status; });
    EXPECT_TRUE(answer.has_value());
    return answer.value_or(absl::InternalError("done never ran"));
  }

  std::vector<PlatformEvent> Events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  void SetSinkStatus(absl::Status status) {
    absl::MutexLock lock(&mu_);
    sink_status_ = std::move(status);
  }

  testing::FakeClock clock_;
  Swappable<PushMessages> messages_;
  absl::Mutex mu_;
  std::vector<PlatformEvent> events_ ABSL_GUARDED_BY(mu_);
  absl::Status sink_status_ ABSL_GUARDED_BY(mu_);
};

TEST_F(PlatformPushTest, ASuitePushIsDecryptedAndHandedOnAsItsEvent) {
  std::unique_ptr<PlatformPushIntake> intake = MakeIntake();
  ASSERT_TRUE(
      Submit(*intake, SuitePush(SuiteTicketXml(kSuiteId, "ticket@@@suite1")))
          .ok());
  ASSERT_TRUE(
      Submit(*intake, SuitePush(CreateAuthXml("authcode@@@1"), "7")).ok());

  std::vector<PlatformEvent> events = Events();
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[0].type, PlatformEvent::Type::kVerifyTicket);
  EXPECT_EQ(events[0].component_app_id, kSuiteId);
  EXPECT_EQ(events[0].ticket, "ticket@@@suite1");
  EXPECT_EQ(events[0].create_time, absl::FromUnixSeconds(1714000000));
  EXPECT_EQ(events[1].type, PlatformEvent::Type::kAuthorized);
  EXPECT_EQ(events[1].info_type, "create_auth");
  EXPECT_EQ(events[1].authorization_code, "authcode@@@1");
  EXPECT_EQ(events[1].authorizer_app_id, "");
}

TEST_F(PlatformPushTest, APlatformPushIsStillReadAsAPlatformsEvent) {
  std::unique_ptr<PlatformPushIntake> intake = MakeIntake();
  ASSERT_TRUE(Submit(*intake, PlatformTicketPush("ticket@@@component")).ok());
  std::vector<PlatformEvent> events = Events();
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].type, PlatformEvent::Type::kVerifyTicket);
  EXPECT_EQ(events[0].component_app_id, kPlatformId);
  EXPECT_EQ(events[0].ticket, "ticket@@@component");
}

TEST_F(PlatformPushTest, EachPathTakesOnlyItsOwnFamily) {
  std::unique_ptr<PlatformPushIntake> intake = MakeIntake();
  EXPECT_TRUE(intake->CheckOwner(kSuiteId, Path::kWeComSuite).ok());
  EXPECT_TRUE(intake->CheckOwner(kPlatformId, Path::kWeChatPlatform).ok());
  // SubmitPlatformPush takes either by its id.
  EXPECT_TRUE(intake->CheckOwner(kSuiteId, Path::kAny).ok());
  EXPECT_TRUE(intake->CheckOwner(kPlatformId, Path::kAny).ok());

  absl::Status status = intake->CheckOwner(kSuiteId, Path::kWeChatPlatform);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("no platform \"", kSuiteId, "\"")));
  status = intake->CheckOwner(kPlatformId, Path::kWeComSuite);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("no WeCom suite \"", kPlatformId, "\"")));
  status = intake->CheckOwner("wwunknown", Path::kAny);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("no platform or suite \"wwunknown\""));

  // A suite's push sent to the platform URL is refused before anything.
  PlatformPush push = SuitePush(SuiteTicketXml(kSuiteId, "ticket@@@x"));
  push.path = Path::kWeChatPlatform;
  EXPECT_EQ(Submit(*intake, push).code(), absl::StatusCode::kNotFound);
  push.path = Path::kAny;
  EXPECT_TRUE(Submit(*intake, push).ok());
  EXPECT_THAT(Events(), SizeIs(1));
}

TEST_F(PlatformPushTest, ASuitePushReplayIsRefused) {
  std::unique_ptr<PlatformPushIntake> intake = MakeIntake();
  const PlatformPush push = SuitePush(SuiteTicketXml(kSuiteId, "ticket@@@1"));
  ASSERT_TRUE(Submit(*intake, push).ok());
  absl::Status replay = Submit(*intake, push);
  EXPECT_EQ(replay.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(replay.message()), HasSubstr("replay"));
  EXPECT_THAT(Events(), SizeIs(1));
}

TEST_F(PlatformPushTest, APushNotStoredIsNotRememberedAndIsTakenAgain) {
  std::unique_ptr<PlatformPushIntake> intake = MakeIntake();
  const PlatformPush push = SuitePush(SuiteTicketXml(kSuiteId, "ticket@@@1"));
  SetSinkStatus(absl::UnavailableError("store down"));
  EXPECT_EQ(Submit(*intake, push).code(), absl::StatusCode::kUnavailable);
  SetSinkStatus(absl::OkStatus());
  EXPECT_TRUE(Submit(*intake, push).ok());
  EXPECT_THAT(Events(), SizeIs(2));
}

TEST_F(PlatformPushTest, ASuitePushForAnotherSuiteIsRefused) {
  std::unique_ptr<PlatformPushIntake> intake = MakeIntake();
  // Encrypted and signed for this suite, but naming another one.
  absl::Status status = Submit(
      *intake, SuitePush(SuiteTicketXml("wwanothersuite0001", "ticket@@@1")));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("SuiteId \"wwanothersuite0001\" is not the suite of "
                        "this URL"));
  // Encrypted for another receive id: the cipher's own check.
  status = Submit(*intake, SuitePush(SuiteTicketXml(kSuiteId, "t@@@1"), "5",
                                     "wwanothersuite0001"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  // A bad signature.
  PlatformPush forged = SuitePush(SuiteTicketXml(kSuiteId, "ticket@@@1"));
  forged.nonce = "other";
  status = Submit(*intake, forged);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("msg_signature"));
  // A malformed event: the suite parser's own words.
  status = Submit(*intake, SuitePush(CreateAuthXml("auth code"), "6"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("event: AuthCode is not printable"));
  EXPECT_THAT(Events(), IsEmpty());
}

TEST_F(PlatformPushTest, AFollowerPassesASuitePushOnUntouched) {
  std::vector<PlatformPush> forwarded;
  std::unique_ptr<PlatformPushIntake> intake = MakeIntake(
      {[] { return true; },
       [&forwarded](const PlatformPush& push, PlatformPushIntake::Done done) {
         forwarded.push_back(push);
         done(absl::OkStatus());
       }});
  const PlatformPush push = SuitePush(SuiteTicketXml(kSuiteId, "ticket@@@1"));
  ASSERT_TRUE(Submit(*intake, push).ok());
  ASSERT_THAT(forwarded, SizeIs(1));
  EXPECT_EQ(forwarded[0].component_app_id, kSuiteId);
  EXPECT_EQ(forwarded[0].body, push.body);
  EXPECT_THAT(Events(), IsEmpty());
  // Acknowledged by the leader: remembered here too.
  EXPECT_EQ(Submit(*intake, push).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(PlatformPushTest, TheUrlCheckAnswersTheDecryptedEchoStr) {
  std::unique_ptr<PlatformPushIntake> intake = MakeIntake();
  const Sealed echo =
      Seal(kSuiteKey, kSuiteToken, kSuiteId, "5927782489442352469", "42");
  absl::StatusOr<std::string> answer = intake->AnswerUrlCheck(
      kSuiteId, echo.msg_signature, kTimestamp, "42", echo.encrypt);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(*answer, "5927782489442352469");

  answer = intake->AnswerUrlCheck(kSuiteId, echo.msg_signature, kTimestamp,
                                  "43", echo.encrypt);
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(answer.status().message()),
              HasSubstr("msg_signature"));
  answer = intake->AnswerUrlCheck(kSuiteId, "", kTimestamp, "42", echo.encrypt);
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kInvalidArgument);
  answer = intake->AnswerUrlCheck(kSuiteId, echo.msg_signature, kTimestamp,
                                  "42", "");
  EXPECT_THAT(std::string(answer.status().message()),
              HasSubstr("echostr: required"));
  // Only a suite's URL is checked so.
  answer = intake->AnswerUrlCheck(kPlatformId, echo.msg_signature, kTimestamp,
                                  "42", echo.encrypt);
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Events(), IsEmpty());
}

// The same over HTTP, through push_listen.
class PushListenerTest : public PlatformPushTest {
 protected:
  void SetUp() override {
    intake_ = MakeIntake();
    absl::StatusOr<std::unique_ptr<PushListener>> listener =
        PushListener::Start("127.0.0.1:0", *intake_);
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = *std::move(listener);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", listener_->port());
    // The tests escape their queries themselves.
    client_->set_url_encode(false);
  }

  httplib::Result Post(absl::string_view url_path, const PlatformPush& push) {
    return client_->Post(
        absl::StrCat(url_path, "?msg_signature=", push.msg_signature,
                     "&timestamp=", push.timestamp, "&nonce=", push.nonce),
        push.body, "text/xml");
  }

  std::unique_ptr<PlatformPushIntake> intake_;
  std::unique_ptr<PushListener> listener_;
  std::unique_ptr<httplib::Client> client_;
};

// Base64's '+', '/' and '=' escaped as a query value.
std::string EscapeBase64(absl::string_view text) {
  return absl::StrReplaceAll(text, {{"+", "%2B"}, {"/", "%2F"}, {"=", "%3D"}});
}

TEST_F(PushListenerTest, ASuitePushIsAnsweredSuccessOnceTaken) {
  const PlatformPush push = SuitePush(SuiteTicketXml(kSuiteId, "ticket@@@1"));
  httplib::Result answer = Post(absl::StrCat("/wecom/suite/", kSuiteId), push);
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "success");
  std::vector<PlatformEvent> events = Events();
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].component_app_id, kSuiteId);
  EXPECT_EQ(events[0].ticket, "ticket@@@1");

  answer = Post(absl::StrCat("/wecom/suite/", kSuiteId), push);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 409);
  EXPECT_THAT(Events(), SizeIs(1));
}

TEST_F(PushListenerTest, EachUrlTakesOnlyItsOwnFamily) {
  httplib::Result answer =
      Post(absl::StrCat("/wechat/platform/", kSuiteId),
           SuitePush(SuiteTicketXml(kSuiteId, "ticket@@@1")));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 404);
  EXPECT_THAT(answer->body,
              HasSubstr(absl::StrCat("no platform \"", kSuiteId, "\"")));

  answer = Post(absl::StrCat("/wecom/suite/", kPlatformId),
                PlatformTicketPush("ticket@@@c"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 404);
  EXPECT_THAT(answer->body,
              HasSubstr(absl::StrCat("no WeCom suite \"", kPlatformId, "\"")));
  EXPECT_THAT(Events(), IsEmpty());

  // Each on its own URL is taken.
  answer = Post(absl::StrCat("/wechat/platform/", kPlatformId),
                PlatformTicketPush("ticket@@@c"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "success");
  EXPECT_THAT(Events(), SizeIs(1));
}

TEST_F(PushListenerTest, TheUrlCheckAnswersTheDecryptedEchoStr) {
  const Sealed echo =
      Seal(kSuiteKey, kSuiteToken, kSuiteId, "5927782489442352469", "42");
  const std::string query =
      absl::StrCat("?msg_signature=", echo.msg_signature,
                   "&timestamp=", kTimestamp, "&nonce=42&echostr=");
  httplib::Result answer = client_->Get(absl::StrCat(
      "/wecom/suite/", kSuiteId, query, EscapeBase64(echo.encrypt)));
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "5927782489442352469");
  EXPECT_EQ(answer->get_header_value("Content-Type"), "text/plain");

  // A bad signature: 400 naming it.
  answer = client_->Get(absl::StrCat(
      "/wecom/suite/", kSuiteId, "?msg_signature=", std::string(40, '0'),
      "&timestamp=", kTimestamp,
      "&nonce=42&echostr=", EscapeBase64(echo.encrypt)));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400);
  EXPECT_THAT(answer->body, HasSubstr("msg_signature"));
  EXPECT_THAT(answer->body, Not(HasSubstr("5927782489442352469")));

  // Not a suite: 404.
  answer = client_->Get(absl::StrCat("/wecom/suite/wwunknown", query,
                                     EscapeBase64(echo.encrypt)));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 404);
  EXPECT_THAT(answer->body, HasSubstr("no WeCom suite \"wwunknown\""));
  EXPECT_THAT(Events(), IsEmpty());
}

TEST_F(PushListenerTest, AnUnescapedPlusInEchoStrStillChecks) {
  // Find a ciphertext with a '+', which a sender may leave unescaped and
  // the query's decoding turns into ' '.
  Sealed echo;
  for (int i = 0; echo.encrypt.find('+') == std::string::npos; ++i) {
    ASSERT_LT(i, 200) << "no '+' in 200 ciphertexts";
    echo = Seal(kSuiteKey, kSuiteToken, kSuiteId, "echo-plus", "42");
  }
  httplib::Result answer = client_->Get(absl::StrCat(
      "/wecom/suite/", kSuiteId, "?msg_signature=", echo.msg_signature,
      "&timestamp=", kTimestamp, "&nonce=42&echostr=",
      absl::StrReplaceAll(echo.encrypt, {{"/", "%2F"}, {"=", "%3D"}})));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200) << answer->body;
  EXPECT_EQ(answer->body, "echo-plus");
}

}  // namespace
}  // namespace wxtoken::server
