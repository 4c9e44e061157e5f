#include "server/grpc/arena_messages.h"

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/grpc/token_proto.h"
#include "wxtoken/v1/token_controller.pb.h"

namespace wxtoken::server {
namespace {

using GetTokenMessages =
    ArenaMessages<wxtoken::v1::GetTokenRequest, wxtoken::v1::GetTokenResponse>;

// A GetToken call at its largest: WeChat asks callers to keep 512 bytes for
// an access_token, and an app_id at the longest a request may carry (64).
TEST(ArenaMessagesTest, AGetTokenCallFitsInTheFirstBlock) {
  auto holder = std::make_unique<GetTokenMessages::Holder>();
  holder->request()->set_app_id(std::string(64, 'a'));
  holder->request()->set_kind(wxtoken::v1::TOKEN_KIND_JSAPI_TICKET);
  Token token;
  token.app_id = std::string(64, 'a');
  token.value = std::string(512, 'T');
  token.fetched_at = absl::FromUnixSeconds(1714000000);
  token.expires_at = token.fetched_at + absl::Hours(2);
  token.max_cache = absl::Minutes(4);
  token.stale_if_error = absl::Minutes(5);
  token.generation = 7;
  FillToken(token, holder->response()->mutable_token());

  EXPECT_TRUE(holder->FitsInBlock());
  const wxtoken::v1::Token& sent = holder->response()->token();
  EXPECT_EQ(sent.value(), token.value);
  EXPECT_EQ(sent.app_id(), token.app_id);
  EXPECT_EQ(sent.max_cache().seconds(), 240);
  EXPECT_EQ(sent.generation(), 7u);
  // What gRPC does with the response: serialize it from the arena.
  wxtoken::v1::GetTokenResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(holder->response()->SerializeAsString()));
  EXPECT_EQ(parsed.token().value(), token.value);
}

TEST(ArenaMessagesTest, FitsInBlockSeesAnArenaThatGrew) {
  ArenaMessages<wxtoken::v1::GetTokenRequest, wxtoken::v1::GetTokenResponse,
                256>::Holder holder;
  EXPECT_TRUE(holder.FitsInBlock());
  holder.response()->mutable_token()->set_value(std::string(512, 'T'));
  EXPECT_FALSE(holder.FitsInBlock());
}

TEST(ArenaMessagesTest, ALargerMessageGrowsTheArenaAndIsFreedWithIt) {
  GetTokenMessages allocator;
  grpc::MessageHolder<wxtoken::v1::GetTokenRequest,
                      wxtoken::v1::GetTokenResponse>* holder =
      allocator.AllocateMessages();
  holder->response()->mutable_token()->set_value(std::string(100000, 'T'));
  EXPECT_EQ(holder->response()->token().value().size(), 100000u);
  holder->Release();  // LeakSanitizer checks that it all went
}

}  // namespace
}  // namespace wxtoken::server
