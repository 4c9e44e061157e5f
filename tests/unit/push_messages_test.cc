// PushMessages: an owner's callback keys. A WeCom app's messages end with
// its corp_id (WeCom's receiveid), not with its owner key.
#include "server/messages/push_messages.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/wechat/message_crypto.h"
#include "server/wechat/signature.h"
#include "tests/fakes/fake_clock.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;

constexpr char kAesKey[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

TEST(PushMessagesTest, AWeComAppsReceiveIdIsItsCorp) {
  Config config;
  AppConfig app;
  app.app_id = "ww0123456789abcdef/1000002";
  app.api = AppConfig::Api::kWeCom;
  app.server_token = "QDG6eK";
  app.encoding_aes_key = kAesKey;
  config.apps.push_back(app);
  testing::FakeClock clock;
  absl::StatusOr<PushMessages> messages = PushMessages::Create(config, clock);
  ASSERT_TRUE(messages.ok()) << messages.status();

  absl::StatusOr<PushMessages::Reply> reply = messages->EncryptReply(
      app.app_id, "<xml><Content>hi</Content></xml>", "1409659813", "nonce1",
      WhichKey::kCurrent, PushMessages::Format::kXml);
  ASSERT_TRUE(reply.ok()) << reply.status();
  absl::StatusOr<MessageKey> key = MessageKey::FromEncodingAesKey(kAesKey);
  ASSERT_TRUE(key.ok());
  absl::StatusOr<OpenedMessage> opened = OpenMessage(*key, reply->encrypt);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->app_id, "ww0123456789abcdef");

  // A callback WeCom encrypted for the corp decrypts; one for another
  // receive id does not.
  absl::StatusOr<PushMessages::Decrypted> decrypted =
      messages->Decrypt(app.app_id, reply->msg_signature, reply->timestamp,
                        reply->nonce, reply->envelope);
  ASSERT_TRUE(decrypted.ok()) << decrypted.status();
  EXPECT_EQ(decrypted->plaintext, "<xml><Content>hi</Content></xml>");
  absl::StatusOr<std::string> foreign =
      EncryptMessage(*key, app.app_id, "<xml/>");
  ASSERT_TRUE(foreign.ok());
  EXPECT_THAT(std::string(DecryptMessage(*key, "ww0123456789abcdef", *foreign)
                              .status()
                              .message()),
              HasSubstr("app_id does not match"));
}

// WeCom's callback URL check: a GET whose echostr is the ciphertext itself.
// The vector is @wecom/crypto 1.0.1's (npm), made with its encrypt() and
// getSignature() for this key, token and corp:
//   encrypt(kAesKey, "5927782489442352469", "ww0123456789abcdef")
//   getSignature("QDG6eK", "1409659813", "263014780", echostr)
TEST(PushMessagesTest, AWeComUrlCheckAnswersTheDecryptedEchoStr) {
  constexpr char kEchoStr[] =
      "dHo5NmaSX8wBySVi1S30OKrabWf8GxfepbRiofdi2XcZmS5+GnbtWo37fhSDrCvnH4jOZTow"
      "5FKD5h0Ehdk3pw==";
  constexpr char kSignature[] = "464ab4fb555e1d2feb2b49c0b2b2bfd96c921a98";
  Config config;
  AppConfig app;
  app.app_id = "ww0123456789abcdef/1000002";
  app.api = AppConfig::Api::kWeCom;
  app.server_token = "QDG6eK";
  app.encoding_aes_key = kAesKey;
  config.apps.push_back(app);
  AppConfig other = app;
  other.app_id = "wwanothercorp00001/1000002";
  config.apps.push_back(other);
  testing::FakeClock clock;
  absl::StatusOr<PushMessages> messages = PushMessages::Create(config, clock);
  ASSERT_TRUE(messages.ok()) << messages.status();

  absl::StatusOr<PushMessages::Decrypted> echo = messages->DecryptEchoStr(
      app.app_id, kSignature, "1409659813", "263014780", kEchoStr);
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_EQ(echo->plaintext, "5927782489442352469");
  EXPECT_EQ(echo->key, WhichKey::kCurrent);

  // A forged signature, another corp's app, a damaged echostr.
  EXPECT_THAT(
      std::string(messages
                      ->DecryptEchoStr(app.app_id, kSignature, "1409659814",
                                       "263014780", kEchoStr)
                      .status()
                      .message()),
      HasSubstr("msg_signature"));
  EXPECT_THAT(
      std::string(messages
                      ->DecryptEchoStr(other.app_id, kSignature, "1409659813",
                                       "263014780", kEchoStr)
                      .status()
                      .message()),
      HasSubstr("app_id does not match"));
  const std::string damaged = WeChatSignature(
      {"QDG6eK", "1409659813", "263014780", std::string(kEchoStr, 20)});
  EXPECT_EQ(messages
                ->DecryptEchoStr(app.app_id, damaged, "1409659813", "263014780",
                                 std::string(kEchoStr, 20))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// A suite's URL check: reports differ on whether WeCom encrypts its
// echostr for the suite_id or for the provider's corp_id, so both are
// taken (the signature authenticates it); another receive id is not, and
// pushes themselves must name the suite.
TEST(PushMessagesTest, ASuitesUrlCheckTakesTheSuiteOrAProvidersCorp) {
  Config config;
  AppConfig suite;
  suite.app_id = "wwsuite0000000001";
  suite.api = AppConfig::Api::kWeComSuite;
  suite.server_token = "SuiteToken";
  suite.encoding_aes_key = kAesKey;
  AppConfig provider;
  provider.app_id = "wwprovider0000001/provider";
  provider.api = AppConfig::Api::kWeComProvider;
  config.apps = {provider, suite};
  testing::FakeClock clock;
  absl::StatusOr<PushMessages> messages = PushMessages::Create(config, clock);
  ASSERT_TRUE(messages.ok()) << messages.status();
  absl::StatusOr<MessageKey> key = MessageKey::FromEncodingAesKey(kAesKey);
  ASSERT_TRUE(key.ok());
  auto check = [&](const std::string& receive_id) {
    absl::StatusOr<std::string> echostr =
        EncryptMessage(*key, receive_id, "echo-42");
    EXPECT_TRUE(echostr.ok());
    const std::string signature =
        WeChatSignature({"SuiteToken", "1409659813", "nonce", *echostr});
    return messages->DecryptEchoStr(suite.app_id, signature, "1409659813",
                                    "nonce", *echostr);
  };
  for (const char* receive_id : {"wwsuite0000000001", "wwprovider0000001"}) {
    absl::StatusOr<PushMessages::Decrypted> echo = check(receive_id);
    ASSERT_TRUE(echo.ok()) << receive_id << ": " << echo.status();
    EXPECT_EQ(echo->plaintext, "echo-42");
  }
  EXPECT_FALSE(check("wwsomeoneelse0001").ok());
}

}  // namespace
}  // namespace wxtoken::server
