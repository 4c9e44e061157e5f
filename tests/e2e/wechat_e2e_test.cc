// End-to-end: tickets, page signatures and safe-mode message crypto through
// the real wxtokend's gRPC API, against the real wechat-sandbox.
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/wechat/message_crypto.h"
#include "server/wechat/signature.h"
#include "tests/e2e/e2e_env.h"

namespace wxtoken::testing {
namespace {

using ::wxtoken::server::Sha1Hex;
using ::wxtoken::server::WeChatSignature;

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "wechat-e2e-secret-5d0a";
// WECHAT.md's message encryption vectors.
constexpr char kVectorApp[] = "wxba5fad812f8e6fb9";
constexpr char kZeroKey[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
constexpr char kOtherKey[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
constexpr char kPushEncrypt[] =
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/"
    "Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT7"
    "40XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+"
    "l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/"
    "P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
constexpr char kPushMessage[] =
    "{\"ToUserName\":\"gh_97417a04a28d\",\"FromUserName\":\"o9AgO5Kd5ggOC-"
    "bXrbNODIiE3bGY\",\"CreateTime\":1714112445,\"MsgType\":\"event\","
    "\"Event\":\"debug_demo\",\"debug_str\":\"hello world\"}";
constexpr char kReplyEncrypt[] =
    "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/"
    "5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==";

Controller::App TicketApp(const std::string& app_id) {
  Controller::App app(app_id, kSecret);
  app.tickets = {"jsapi"};
  return app;
}

// The app of WECHAT.md's message vectors: server token "AAAAA".
Controller::App VectorApp(const std::string& key, const std::string& previous) {
  Controller::App app(kVectorApp, kSecret, "classic", "AAAAA");
  app.encoding_aes_key = key;
  app.previous_encoding_aes_key = previous;
  return app;
}

class WechatE2eTest : public ::testing::Test {
 protected:
  void Start(Controller::App app, Sandbox::Options sandbox = {},
             Controller::Options controller = {}) {
    dir_ = MakeTempDir("run");
    app_id_ = app.app_id;
    sandbox.apps = {{app.app_id, kSecret}};
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
    controller.base_url = sandbox_.base_url();
    controller.apps = {app};
    ASSERT_NO_FATAL_FAILURE(controller_.Start(controller, dir_));
    secrets_ = {kSecret, app.encoding_aes_key, app.previous_encoding_aes_key};
  }
  void TearDown() override {
    const std::string logs = controller_.Logs();
    ExpectJsonLogLines(logs);
    for (const std::string& secret : secrets_) {
      if (!secret.empty()) {
        EXPECT_THAT(logs, Not(HasSubstr(secret)));
      }
    }
    for (const std::string& value : seen_values_) {
      EXPECT_THAT(logs, Not(HasSubstr(value))) << "a ticket was logged";
    }
    controller_.Stop();
    sandbox_.Stop();
  }
  grpc::Status GetTicket(wxtoken::v1::Token* ticket) {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::GetTokenRequest request;
    request.set_app_id(app_id_);
    request.set_kind(wxtoken::v1::TOKEN_KIND_JSAPI_TICKET);
    wxtoken::v1::GetTokenResponse response;
    grpc::Status status =
        controller_.stub().GetToken(&context, request, &response);
    *ticket = response.token();
    if (status.ok()) seen_values_.insert(ticket->value());
    return status;
  }
  wxtoken::v1::Token WaitForTicket() {
    wxtoken::v1::Token ticket;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline && !GetTicket(&ticket).ok()) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_FALSE(ticket.value().empty()) << "no ticket";
    return ticket;
  }
  grpc::Status Decrypt(const std::string& msg_signature,
                       const std::string& timestamp, const std::string& nonce,
                       const std::string& body,
                       wxtoken::v1::DecryptMessageResponse* response) {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::DecryptMessageRequest request;
    request.set_app_id(app_id_);
    request.set_msg_signature(msg_signature);
    request.set_timestamp(timestamp);
    request.set_nonce(nonce);
    request.set_body(body);
    return controller_.stub().DecryptMessage(&context, request, response);
  }

  std::string dir_;
  std::string app_id_;
  Sandbox sandbox_;
  Controller controller_;
  std::vector<std::string> secrets_;
  std::set<std::string> seen_values_;
};

TEST_F(WechatE2eTest, TicketsRotateAndStayValidForTheirMaxCache) {
  Sandbox::Options sandbox;
  sandbox.lifetime = absl::Seconds(60);
  sandbox.ticket_lifetime = absl::Seconds(4);
  sandbox.overlap = absl::Seconds(3);
  Controller::Options controller;
  controller.margin = "2s";
  controller.overlap = "3s";
  ASSERT_NO_FATAL_FAILURE(
      Start(TicketApp("wxticket000000001"), sandbox, controller));
  uint64_t generation = WaitForTicket().generation();
  MaxCacheChecker checker;
  int checks = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (generation < 4 && absl::Now() < deadline) {
    wxtoken::v1::Token ticket;
    ASSERT_TRUE(GetTicket(&ticket).ok());
    checker.Record(ticket, absl::Now());
    if (ticket.generation() > generation) {
      generation = ticket.generation();
      EXPECT_EQ(sandbox_.TicketCalls(app_id_), static_cast<int>(generation));
    }
    checks += checker.CheckAll(sandbox_);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GE(generation, 4u);
  EXPECT_GT(checks, 20);
  EXPECT_EQ(sandbox_.TokenCalls(app_id_), 1) << "tickets reuse the token";
}

TEST_F(WechatE2eTest, RevokedTokenDuringGetticketRefreshesTokenThenTicket) {
  ASSERT_NO_FATAL_FAILURE(Start(TicketApp("wxticket000000002")));
  const wxtoken::v1::Token first = WaitForTicket();
  ASSERT_EQ(sandbox_.TokenCalls(app_id_), 1);
  ASSERT_EQ(sandbox_.TicketCalls(app_id_), 1);
  sandbox_.InjectFault("errcode", 1, "errcode=40001&endpoint=getticket");

  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  wxtoken::v1::ForceRefreshRequest request;
  request.set_app_id(app_id_);
  request.set_kind(wxtoken::v1::TOKEN_KIND_JSAPI_TICKET);
  request.set_stale_value(first.value());
  wxtoken::v1::ForceRefreshResponse response;
  grpc::Status status =
      controller_.stub().ForceRefresh(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  seen_values_.insert(response.token().value());
  EXPECT_NE(response.token().value(), first.value());
  EXPECT_EQ(response.outcome(), wxtoken::v1::REFRESH_OUTCOME_REFRESHED);
  EXPECT_TRUE(sandbox_.IsValid(response.token().value()));
  EXPECT_EQ(sandbox_.TokenCalls(app_id_), 2) << "one token refresh";
  EXPECT_EQ(sandbox_.TicketCalls(app_id_), 3)
      << "the rejected getticket and one ticket fetch";
}

TEST_F(WechatE2eTest, SignJsapiSignsWithTheCurrentTicket) {
  ASSERT_NO_FATAL_FAILURE(Start(TicketApp("wxticket000000003")));
  const wxtoken::v1::Token ticket = WaitForTicket();
  grpc::ClientContext context;
  SetDeadline(context);
  wxtoken::v1::SignJsapiRequest request;
  request.set_app_id(app_id_);
  request.set_url("http://mp.weixin.qq.com?params=value#fragment");
  request.set_noncestr("Wm3WZYTPz0wzccnW");
  request.set_timestamp(1414587457);
  wxtoken::v1::SignJsapiResponse response;
  ASSERT_TRUE(controller_.stub().SignJsapi(&context, request, &response).ok());
  EXPECT_EQ(response.app_id(), app_id_);
  EXPECT_EQ(response.timestamp(), 1414587457);
  EXPECT_EQ(response.noncestr(), "Wm3WZYTPz0wzccnW");
  // WECHAT.md's recipe, with the ticket the server holds; no fragment.
  EXPECT_EQ(response.signature(),
            Sha1Hex(absl::StrCat("jsapi_ticket=", ticket.value(),
                                 "&noncestr=Wm3WZYTPz0wzccnW&timestamp="
                                 "1414587457&url=http://"
                                 "mp.weixin.qq.com?params=value")));

  grpc::ClientContext fresh_context;
  SetDeadline(fresh_context);
  request.clear_noncestr();
  request.clear_timestamp();
  wxtoken::v1::SignJsapiResponse fresh;
  ASSERT_TRUE(
      controller_.stub().SignJsapi(&fresh_context, request, &fresh).ok());
  EXPECT_EQ(fresh.noncestr().size(), 16u) << "drawn by the server";
  EXPECT_NEAR(fresh.timestamp(), absl::ToUnixSeconds(absl::Now()), 60);

  grpc::ClientContext card_context;
  SetDeadline(card_context);
  wxtoken::v1::SignCardRequest card;
  card.set_app_id(app_id_);
  card.set_card_id("pFS7Fjg8kV1IdDz01r4SQwMkuCKc");
  wxtoken::v1::SignCardResponse card_response;
  grpc::Status status =
      controller_.stub().SignCard(&card_context, card, &card_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("wx_card"));
}

TEST_F(WechatE2eTest, MessageVectorsDecryptThroughTheApi) {
  ASSERT_NO_FATAL_FAILURE(Start(VectorApp(kZeroKey, "")));
  wxtoken::v1::DecryptMessageResponse push;
  grpc::Status status = Decrypt(
      "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3", "1714112445", "415670741",
      absl::StrCat("<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>"
                   "<Encrypt><![CDATA[",
                   kPushEncrypt, "]]></Encrypt></xml>"),
      &push);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(push.plaintext(), kPushMessage);
  EXPECT_EQ(push.key(), wxtoken::v1::MESSAGE_KEY_CURRENT);
  EXPECT_EQ(push.to_user_name(), "gh_97417a04a28d");

  // The documented reply, read back as if it were a push (JSON envelope).
  wxtoken::v1::DecryptMessageResponse reply;
  status = Decrypt(
      "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1", "1713424427", "415670741",
      absl::StrCat("{\"Encrypt\":\"", kReplyEncrypt, "\"}"), &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.plaintext(), "{\"demo_resp\":\"good luck\"}");

  // A forged signature never reaches the cipher.
  wxtoken::v1::DecryptMessageResponse forged;
  status = Decrypt("146e02f8204d34f8ba5fa3b1db94908f3df2e9b3", "1714112445",
                   "415670741",
                   absl::StrCat("<xml><Encrypt><![CDATA[", kPushEncrypt,
                                "]]></Encrypt></xml>"),
                   &forged);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("msg_signature"));
}

TEST_F(WechatE2eTest, APlaintextThatIsNotUtf8IsInvalidArgument) {
  ASSERT_NO_FATAL_FAILURE(Start(VectorApp(kZeroKey, "")));
  absl::StatusOr<server::MessageKey> key =
      server::MessageKey::FromEncodingAesKey(kZeroKey);
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> encrypt =
      server::EncryptMessage(*key, kVectorApp, "<xml>caf\xe9</xml>");
  ASSERT_TRUE(encrypt.ok());
  const std::string timestamp = "1714112445";
  const std::string nonce = "415670741";
  wxtoken::v1::DecryptMessageResponse response;
  grpc::Status status = Decrypt(
      WeChatSignature({"AAAAA", timestamp, nonce, *encrypt}), timestamp, nonce,
      absl::StrCat("<xml><Encrypt><![CDATA[", *encrypt, "]]></Encrypt></xml>"),
      &response);
  // Not INTERNAL at the caller, and no protobuf complaint in the log
  // (TearDown checks every log line is JSON).
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("not UTF-8"));
}

TEST_F(WechatE2eTest, ReplyRoundTripsAndKeyRotationUsesTheKeyThatWorked) {
  // The vector was encrypted with the zero key: now the previous one.
  ASSERT_NO_FATAL_FAILURE(Start(VectorApp(kOtherKey, kZeroKey)));
  wxtoken::v1::DecryptMessageResponse push;
  ASSERT_TRUE(Decrypt("046e02f8204d34f8ba5fa3b1db94908f3df2e9b3", "1714112445",
                      "415670741",
                      absl::StrCat("{\"Encrypt\":\"", kPushEncrypt, "\"}"),
                      &push)
                  .ok());
  EXPECT_EQ(push.key(), wxtoken::v1::MESSAGE_KEY_PREVIOUS);

  for (const wxtoken::v1::ReplyFormat format :
       {wxtoken::v1::REPLY_FORMAT_XML, wxtoken::v1::REPLY_FORMAT_JSON}) {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::EncryptReplyRequest request;
    request.set_app_id(kVectorApp);
    request.set_plaintext("我是中文abcd123 reply");
    request.set_key(push.key());
    request.set_format(format);
    wxtoken::v1::EncryptReplyResponse reply;
    ASSERT_TRUE(
        controller_.stub().EncryptReply(&context, request, &reply).ok());
    EXPECT_EQ(reply.msg_signature(),
              WeChatSignature({"AAAAA", reply.timestamp(), reply.nonce(),
                               reply.encrypt()}));
    EXPECT_THAT(reply.envelope(), HasSubstr(reply.encrypt()));
    wxtoken::v1::DecryptMessageResponse back;
    grpc::Status status = Decrypt(reply.msg_signature(), reply.timestamp(),
                                  reply.nonce(), reply.envelope(), &back);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(back.plaintext(), "我是中文abcd123 reply");
    EXPECT_EQ(back.key(), wxtoken::v1::MESSAGE_KEY_PREVIOUS);
  }
}

TEST_F(WechatE2eTest, TimestampSkewLimitRejectsOldPushes) {
  Controller::Options controller;
  controller.max_timestamp_skew = "5m";
  ASSERT_NO_FATAL_FAILURE(Start(VectorApp(kZeroKey, ""), {}, controller));
  grpc::ClientContext context;
  SetDeadline(context);
  wxtoken::v1::VerifySignatureRequest request;
  request.set_app_id(kVectorApp);
  request.set_signature("f464b24fc39322e44b38aa78f5edd27bd1441696");
  request.set_timestamp("1714036504");
  request.set_nonce("1514711492");
  wxtoken::v1::VerifySignatureResponse response;
  ASSERT_TRUE(
      controller_.stub().VerifySignature(&context, request, &response).ok());
  EXPECT_FALSE(response.valid()) << "a 2024 timestamp is far outside 5m";
  EXPECT_THAT(response.reason(), HasSubstr("timestamp"));
}

}  // namespace
}  // namespace wxtoken::testing
