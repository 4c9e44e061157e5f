#include "tests/sandbox/wecom_provider_state.h"

#include <map>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::sandbox {
namespace {

using Status = Validity::Status;

const absl::Time kT0 = absl::FromUnixSeconds(1714000000);

absl::Time At(int64_t seconds) { return kT0 + absl::Seconds(seconds); }

class WeComProviderStateTest : public ::testing::Test {
 protected:
  WeComProviderStateTest()
      : state_(WeComProviderOptions(), {{"wwprovider1", "provider-secret-1"},
                                        {"wwprovider2", "provider-secret-2"}}) {
  }

  WeComProviderState state_;
};

TEST_F(WeComProviderStateTest, TheSecretBuysAProviderToken) {
  const Answer answer =
      state_.ProviderToken("wwprovider1", "provider-secret-1", kT0);
  ASSERT_EQ(answer.errcode, 0) << answer.errmsg;
  EXPECT_EQ(answer.expires_in, 7200);
  const Validity validity = state_.Check(answer.value, kT0);
  EXPECT_TRUE(validity.valid());
  EXPECT_EQ(validity.appid, "wwprovider1");
  EXPECT_EQ(validity.kind, ValueKind::kProviderToken);
  EXPECT_EQ(state_.Check(answer.value, At(7200)).status, Status::kExpired);
}

TEST_F(WeComProviderStateTest, RefusesBadCredentialsAndCountsWhere) {
  EXPECT_EQ(
      state_.ProviderToken("wwprovider1", "provider-secret-2", kT0).errcode,
      40001);
  EXPECT_EQ(state_.ProviderToken("wwprovider1", "", kT0).errcode, 41004);
  EXPECT_EQ(state_.ProviderToken("", "provider-secret-1", kT0).errcode, 41002);
  EXPECT_EQ(state_.ProviderToken("wwnobody", "provider-secret-1", kT0).errcode,
            40013);
  state_.CountProviderTokenCall("wwprovider2");  // a faulted call

  std::map<std::string, WeComProviderStats> stats = state_.Stats();
  EXPECT_EQ(stats["wwprovider1"].provider_token_calls, 2);
  EXPECT_EQ(stats["wwprovider1"].provider_token_failures, 2);
  EXPECT_EQ(stats["wwprovider1"].tokens_issued, 0);
  EXPECT_EQ(stats["wwprovider2"].provider_token_calls, 1);
  EXPECT_EQ(stats["wwprovider2"].provider_token_failures, 0);
  EXPECT_EQ(stats[""].provider_token_calls, 2);
  EXPECT_EQ(stats[""].provider_token_failures, 2);
}

TEST_F(WeComProviderStateTest, AReplacedTokenLastsTheOverlap) {
  const std::string first =
      state_.ProviderToken("wwprovider1", "provider-secret-1", kT0).value;
  const std::string second =
      state_.ProviderToken("wwprovider1", "provider-secret-1", At(100)).value;
  EXPECT_NE(first, second);
  EXPECT_EQ(state_.Check(first, At(100)).valid_until, At(400));
  EXPECT_TRUE(state_.Check(first, At(399)).valid());
  EXPECT_EQ(state_.Check(first, At(400)).status, Status::kRevoked);
  EXPECT_TRUE(state_.Check(second, At(7299)).valid());
  // Another provider's token leaves this one's alone.
  state_.ProviderToken("wwprovider2", "provider-secret-2", At(200));
  EXPECT_TRUE(state_.Check(second, At(200)).valid());
  EXPECT_EQ(state_.Stats()["wwprovider1"].tokens_issued, 2);
}

}  // namespace
}  // namespace wxtoken::sandbox
