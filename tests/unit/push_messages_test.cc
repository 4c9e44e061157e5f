// PushMessages: an owner's callback keys. A WeCom app's messages end with
// its corp_id (WeCom's receiveid), not with its owner key.
#include "server/messages/push_messages.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/wechat/message_crypto.h"
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

}  // namespace
}  // namespace wxtoken::server
