// The emulated Open Platform is as strict as WeChat's (WECHAT.md
// "Third-party platform"): these are the rules wxtokend's platform tests
// rely on the sandbox to enforce.
#include "tests/sandbox/platform_state.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::sandbox {
namespace {

constexpr char kPlatform[] = "wxcomponent00000001";
constexpr char kOther[] = "wxcomponent00000002";
constexpr char kSecret[] = "component-secret";
constexpr char kAuthorizer[] = "wx0123456789abcdef";

class PlatformStateTest : public ::testing::Test {
 protected:
  explicit PlatformStateTest(PlatformOptions options = {})
      : state_(options, {{kPlatform, kSecret}, {kOther, "other-secret"}}) {}

  std::string ComponentToken() {
    const std::string ticket = state_.NewTicket(kPlatform, now_);
    Answer answer = state_.ComponentToken(kPlatform, kSecret, ticket, now_);
    EXPECT_EQ(answer.errcode, 0) << answer.errmsg;
    return answer.value;
  }
  // Authorizes kAuthorizer and exchanges the code.
  AuthorizerAnswer AuthorizeAndQuery(const std::string& component_token) {
    const std::string code = state_.Authorize(kPlatform, kAuthorizer, now_);
    return state_.QueryAuth(component_token, code, now_);
  }

  absl::Time now_ = absl::FromUnixSeconds(1764547200);
  PlatformState state_;
};

TEST_F(PlatformStateTest, AComponentTokenNeedsTheSecretAndALiveTicketOfItsOwn) {
  const std::string ticket = state_.NewTicket(kPlatform, now_);
  ASSERT_FALSE(ticket.empty());
  EXPECT_EQ(state_.ComponentToken(kPlatform, "wrong", ticket, now_).errcode,
            40125);
  EXPECT_EQ(state_.ComponentToken(kPlatform, kSecret, "", now_).errcode, 61006);
  const std::string others = state_.NewTicket(kOther, now_);
  EXPECT_EQ(state_.ComponentToken(kPlatform, kSecret, others, now_).errcode,
            61006);
  Answer first = state_.ComponentToken(kPlatform, kSecret, ticket, now_);
  ASSERT_EQ(first.errcode, 0);
  EXPECT_EQ(first.expires_in, 7200);
  EXPECT_EQ(state_.Check(first.value, now_).kind, ValueKind::kComponentToken);
  // A newer token leaves the older one its overlap, as the classic rules.
  Answer second = state_.ComponentToken(kPlatform, kSecret, ticket, now_);
  ASSERT_EQ(second.errcode, 0);
  EXPECT_NE(second.value, first.value);
  EXPECT_TRUE(state_.Check(first.value, now_ + absl::Seconds(299)).valid());
  EXPECT_EQ(state_.Check(first.value, now_ + absl::Seconds(300)).status,
            Validity::Status::kRevoked);
  // A ticket lasts 12 hours, then is refused as expired.
  EXPECT_EQ(
      state_.ComponentToken(kPlatform, kSecret, ticket, now_ + absl::Hours(12))
          .errcode,
      61005);
  EXPECT_EQ(state_.Stats()[kPlatform].component_token_calls, 6);
}

TEST_F(PlatformStateTest, AnAuthorizationCodeWorksOnceAndBriefly) {
  const std::string token = ComponentToken();
  const std::string code = state_.Authorize(kPlatform, kAuthorizer, now_);
  EXPECT_EQ(state_.QueryAuth("not-a-token", code, now_).errcode, 40001);
  AuthorizerAnswer answer = state_.QueryAuth(token, code, now_);
  ASSERT_EQ(answer.errcode, 0) << answer.errmsg;
  EXPECT_EQ(answer.authorizer_appid, kAuthorizer);
  EXPECT_FALSE(answer.refresh_token.empty());
  EXPECT_EQ(state_.Check(answer.access_token, now_).appid,
            std::string(kPlatform) + "/" + kAuthorizer);
  EXPECT_EQ(state_.QueryAuth(token, code, now_).errcode, 61009) << "reused";
  const std::string late = state_.Authorize(kPlatform, kAuthorizer, now_);
  EXPECT_EQ(state_.QueryAuth(token, late, now_ + absl::Minutes(10)).errcode,
            61009);
}

TEST_F(PlatformStateTest, ARefreshTokenIsNeededAndKeptWithoutRotation) {
  const std::string token = ComponentToken();
  const AuthorizerAnswer first = AuthorizeAndQuery(token);
  EXPECT_EQ(state_.AuthorizerToken(token, kAuthorizer, "wrong", now_).errcode,
            61023);
  EXPECT_EQ(state_.AuthorizerToken(token, kAuthorizer, "", now_).errcode,
            61023);
  const AuthorizerAnswer second =
      state_.AuthorizerToken(token, kAuthorizer, first.refresh_token, now_);
  ASSERT_EQ(second.errcode, 0);
  EXPECT_EQ(second.refresh_token, first.refresh_token);
  EXPECT_NE(second.access_token, first.access_token);
  EXPECT_TRUE(
      state_.Check(first.access_token, now_ + absl::Seconds(299)).valid());
  EXPECT_FALSE(
      state_.Check(first.access_token, now_ + absl::Seconds(300)).valid());
  EXPECT_EQ(state_.AuthorizerInfo(token, kAuthorizer, now_).refresh_token,
            first.refresh_token);
}

class RotatingPlatformStateTest : public PlatformStateTest {
 protected:
  static PlatformOptions Rotating() {
    PlatformOptions options;
    options.rotate_refresh_tokens = true;
    return options;
  }
  RotatingPlatformStateTest() : PlatformStateTest(Rotating()) {}
};

TEST_F(RotatingPlatformStateTest,
       ARotatedRefreshTokenLeavesTheOldOneAnOverlap) {
  const std::string token = ComponentToken();
  const AuthorizerAnswer first = AuthorizeAndQuery(token);
  const AuthorizerAnswer second =
      state_.AuthorizerToken(token, kAuthorizer, first.refresh_token, now_);
  ASSERT_EQ(second.errcode, 0);
  EXPECT_NE(second.refresh_token, first.refresh_token);
  // An answer lost on the way: the old one still works inside the overlap
  // and does not rotate again.
  const AuthorizerAnswer retried = state_.AuthorizerToken(
      token, kAuthorizer, first.refresh_token, now_ + absl::Seconds(10));
  ASSERT_EQ(retried.errcode, 0);
  EXPECT_EQ(retried.refresh_token, second.refresh_token);
  EXPECT_EQ(state_
                .AuthorizerToken(token, kAuthorizer, first.refresh_token,
                                 now_ + absl::Seconds(300))
                .errcode,
            61023);
}

TEST_F(PlatformStateTest, ARevokedAuthorizationEndsItsTokensAtOnce) {
  const std::string token = ComponentToken();
  const AuthorizerAnswer first = AuthorizeAndQuery(token);
  const AuthorizerAnswer second =
      state_.AuthorizerToken(token, kAuthorizer, first.refresh_token, now_);
  ASSERT_TRUE(state_.Unauthorize(kPlatform, kAuthorizer, now_));
  EXPECT_EQ(state_.Check(second.access_token, now_).status,
            Validity::Status::kRevoked);
  EXPECT_EQ(state_.Check(first.access_token, now_).status,
            Validity::Status::kRevoked);
  EXPECT_EQ(
      state_.AuthorizerToken(token, kAuthorizer, first.refresh_token, now_)
          .errcode,
      61003);
  EXPECT_FALSE(state_.Unauthorize(kPlatform, kAuthorizer, now_));
  // Authorized again: a new refresh token; the old one is gone for good.
  const AuthorizerAnswer again = AuthorizeAndQuery(token);
  ASSERT_EQ(again.errcode, 0);
  EXPECT_NE(again.refresh_token, first.refresh_token);
  EXPECT_EQ(
      state_.AuthorizerToken(token, kAuthorizer, first.refresh_token, now_)
          .errcode,
      61023);
}

TEST_F(PlatformStateTest, TheAuthorizerListPagesInAuthorizationOrder) {
  const std::string token = ComponentToken();
  for (int i = 0; i < 7; ++i) {
    state_.Authorize(kPlatform, "wxauthorizer00000" + std::to_string(i), now_);
  }
  state_.Unauthorize(kPlatform, "wxauthorizer000003", now_);
  AuthorizerListAnswer page = state_.ListAuthorizers(token, 0, 4, now_);
  ASSERT_EQ(page.errcode, 0);
  EXPECT_EQ(page.total_count, 6);
  ASSERT_EQ(page.list.size(), 4u);
  EXPECT_EQ(page.list[0].authorizer_appid, "wxauthorizer000000");
  EXPECT_EQ(page.list[3].authorizer_appid, "wxauthorizer000004");
  EXPECT_FALSE(page.list[0].refresh_token.empty());
  page = state_.ListAuthorizers(token, 4, 4, now_);
  ASSERT_EQ(page.list.size(), 2u);
  EXPECT_EQ(page.list[1].authorizer_appid, "wxauthorizer000006");
  EXPECT_EQ(state_.ListAuthorizers(token, 0, 501, now_).errcode, 40097);
  EXPECT_EQ(state_.ListAuthorizers("x", 0, 10, now_).errcode, 40001);
}

}  // namespace
}  // namespace wxtoken::sandbox
