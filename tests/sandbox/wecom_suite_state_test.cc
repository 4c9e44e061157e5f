// The emulated WeCom suites are as strict as WeCom (WECHAT.md "WeCom
// (企业微信) APIs"): these are the rules wxtokend's suite tests rely on the
// sandbox to enforce.
#include "tests/sandbox/wecom_suite_state.h"

#include <map>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::sandbox {
namespace {

using Status = Validity::Status;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kSuite[] = "wwsuite1";
constexpr char kOther[] = "wwsuite2";
constexpr char kSecret[] = "suite-secret";
constexpr char kCorp[] = "wwcorpA";

const absl::Time kT0 = absl::FromUnixSeconds(1714000000);

absl::Time At(int64_t seconds) { return kT0 + absl::Seconds(seconds); }

class WeComSuiteStateTest : public ::testing::Test {
 protected:
  explicit WeComSuiteStateTest(WeComSuiteOptions options = {})
      : state_(options, {{kSuite, kSecret}, {kOther, "other-secret"}}) {}

  std::string SuiteToken(absl::Time now) {
    const std::string ticket = state_.NewTicket(kSuite, now);
    const Answer answer = state_.SuiteToken(kSuite, kSecret, ticket, now);
    EXPECT_EQ(answer.errcode, 0) << answer.errmsg;
    return answer.value;
  }
  // kCorp installs kSuite and the code is exchanged.
  PermanentCodeAnswer Install(const std::string& suite_token, absl::Time now) {
    const std::string code = state_.Install(kSuite, kCorp, now);
    EXPECT_FALSE(code.empty());
    PermanentCodeAnswer answer = state_.PermanentCode(suite_token, code, now);
    EXPECT_EQ(answer.errcode, 0) << answer.errmsg;
    return answer;
  }

  WeComSuiteState state_;
};

TEST_F(WeComSuiteStateTest, ASuiteTokenNeedsTheSecretAndTheNewestTicket) {
  const std::string first = state_.NewTicket(kSuite, kT0);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(state_.Check(first, kT0).kind, ValueKind::kSuiteTicket);
  EXPECT_EQ(state_.NewTicket("wwnobody", kT0), "");
  EXPECT_EQ(state_.SuiteToken("wwnobody", kSecret, first, kT0).errcode, 40083);
  EXPECT_EQ(state_.SuiteToken(kSuite, "wrong", first, kT0).errcode, 40001);
  EXPECT_EQ(state_.SuiteToken(kSuite, "", first, kT0).errcode, 40001);
  EXPECT_EQ(state_.SuiteToken(kSuite, kSecret, "", kT0).errcode, 40085);
  const std::string others = state_.NewTicket(kOther, kT0);
  EXPECT_EQ(state_.SuiteToken(kSuite, kSecret, others, kT0).errcode, 40085);

  const Answer token = state_.SuiteToken(kSuite, kSecret, first, kT0);
  ASSERT_EQ(token.errcode, 0) << token.errmsg;
  EXPECT_EQ(token.expires_in, 7200);
  const Validity validity = state_.Check(token.value, kT0);
  EXPECT_TRUE(validity.valid());
  EXPECT_EQ(validity.appid, kSuite);
  EXPECT_EQ(validity.kind, ValueKind::kSuiteToken);

  // The newest wins: once another is pushed, the first is refused at once
  // though its 30 minutes are not over.
  const std::string second = state_.NewTicket(kSuite, At(600));
  const Answer stale = state_.SuiteToken(kSuite, kSecret, first, At(600));
  EXPECT_EQ(stale.errcode, 40085);
  EXPECT_THAT(stale.errmsg, HasSubstr("not the newest"));
  EXPECT_EQ(state_.SuiteToken(kSuite, kSecret, second, At(600)).errcode, 0);
  // And the newest lasts 30 minutes.
  EXPECT_EQ(state_.SuiteToken(kSuite, kSecret, second, At(600 + 1799)).errcode,
            0);
  const Answer expired =
      state_.SuiteToken(kSuite, kSecret, second, At(600 + 1800));
  EXPECT_EQ(expired.errcode, 40085);
  EXPECT_THAT(expired.errmsg, HasSubstr("expired"));

  const WeComSuiteStats stats = state_.Stats()[kSuite];
  EXPECT_EQ(stats.suite_token_calls, 9);
  EXPECT_EQ(stats.suite_token_failures, 6);
  EXPECT_EQ(stats.suite_tokens_issued, 3);
  EXPECT_EQ(stats.tickets_issued, 2);
  EXPECT_EQ(state_.Stats()[""].suite_token_calls, 1);
}

class GracefulSuiteStateTest : public WeComSuiteStateTest {
 protected:
  static WeComSuiteOptions Graceful() {
    WeComSuiteOptions options;
    options.ticket_grace = absl::Seconds(60);
    return options;
  }
  GracefulSuiteStateTest() : WeComSuiteStateTest(Graceful()) {}
};

TEST_F(GracefulSuiteStateTest, AReplacedTicketLastsTheGrace) {
  const std::string first = state_.NewTicket(kSuite, kT0);
  state_.NewTicket(kSuite, At(100));
  EXPECT_EQ(state_.SuiteToken(kSuite, kSecret, first, At(159)).errcode, 0);
  EXPECT_EQ(state_.SuiteToken(kSuite, kSecret, first, At(160)).errcode, 40085);
}

TEST_F(WeComSuiteStateTest, AReplacedSuiteTokenLastsTheOverlapThenIs42009) {
  const std::string first = SuiteToken(kT0);
  const std::string second = SuiteToken(At(100));
  EXPECT_NE(first, second);
  EXPECT_EQ(state_.Check(first, At(100)).valid_until, At(400));
  const std::string code = state_.Install(kSuite, kCorp, At(100));
  EXPECT_EQ(state_.PermanentCode(first, code, At(400)).errcode, 42009);
  // A refused call spends no code.
  EXPECT_EQ(state_.PermanentCode(second, code, At(400)).errcode, 0);
  EXPECT_EQ(state_.PermanentCode("never-issued", code, At(400)).errcode, 40082);
  // A ticket is no suite token.
  const std::string ticket = state_.NewTicket(kSuite, At(400));
  EXPECT_EQ(state_.CorpToken(ticket, kCorp, "x", At(400)).errcode, 40082);
  EXPECT_EQ(state_.CorpToken(second, kCorp, "x", At(100 + 7200)).errcode,
            42009);
}

TEST_F(WeComSuiteStateTest, AnAuthCodeWorksOnceAndBriefly) {
  const std::string token = SuiteToken(kT0);
  EXPECT_EQ(state_.Install("wwnobody", kCorp, kT0), "");
  EXPECT_EQ(state_.Install(kSuite, "", kT0), "");
  const std::string code = state_.Install(kSuite, kCorp, kT0);
  const PermanentCodeAnswer answer = state_.PermanentCode(token, code, kT0);
  ASSERT_EQ(answer.errcode, 0) << answer.errmsg;
  EXPECT_EQ(answer.corpid, kCorp);
  EXPECT_FALSE(answer.permanent_code.empty());
  // v1 hands a first corp token along.
  EXPECT_EQ(answer.expires_in, 7200);
  const Validity corp_token = state_.Check(answer.access_token, kT0);
  EXPECT_TRUE(corp_token.valid());
  EXPECT_EQ(corp_token.appid, std::string(kSuite) + "/" + kCorp);
  EXPECT_EQ(corp_token.kind, ValueKind::kSuiteCorpToken);

  const PermanentCodeAnswer reused = state_.PermanentCode(token, code, kT0);
  EXPECT_EQ(reused.errcode, 40029);
  EXPECT_EQ(reused.errmsg, "invalid code");
  EXPECT_EQ(state_.PermanentCode(token, "never-issued", kT0).errcode, 40029);
  // Ten minutes, then gone.
  const std::string late = state_.Install(kSuite, kCorp, kT0);
  EXPECT_EQ(state_.PermanentCode(token, late, At(600)).errcode, 40029);
  // Another suite's code is not this suite's to spend.
  const std::string ticket = state_.NewTicket(kOther, kT0);
  const std::string other_token =
      state_.SuiteToken(kOther, "other-secret", ticket, kT0).value;
  const std::string others = state_.Install(kOther, kCorp, kT0);
  EXPECT_EQ(state_.PermanentCode(token, others, kT0).errcode, 40029);
  EXPECT_EQ(state_.PermanentCode(other_token, others, kT0).errcode, 0);
  // A corp that uninstalled before the code was spent.
  const std::string abandoned = state_.Install(kSuite, kCorp, kT0);
  ASSERT_TRUE(state_.Uninstall(kSuite, kCorp, kT0));
  EXPECT_EQ(state_.PermanentCode(token, abandoned, kT0).errcode, 40029);

  const WeComSuiteStats stats = state_.Stats()[kSuite];
  EXPECT_EQ(stats.permanent_code_calls, 6);
  EXPECT_EQ(stats.permanent_codes_issued, 1);
  EXPECT_EQ(stats.installs, 3);
  EXPECT_EQ(stats.uninstalls, 1);
  EXPECT_EQ(stats.corp_tokens_issued, 1);
}

TEST_F(WeComSuiteStateTest, ACorpTokenNeedsTheCurrentPermanentCode) {
  const std::string token = SuiteToken(kT0);
  const PermanentCodeAnswer installed = Install(token, kT0);
  const Answer first =
      state_.CorpToken(token, kCorp, installed.permanent_code, At(10));
  ASSERT_EQ(first.errcode, 0) << first.errmsg;
  EXPECT_EQ(first.expires_in, 7200);
  EXPECT_EQ(state_.Check(first.value, At(10)).kind, ValueKind::kSuiteCorpToken);
  // The token it replaced (get_permanent_code's) keeps the overlap.
  EXPECT_EQ(state_.Check(installed.access_token, At(10)).valid_until, At(310));

  const Answer wrong = state_.CorpToken(token, kCorp, "wrong", At(10));
  EXPECT_EQ(wrong.errcode, 40084);
  EXPECT_EQ(wrong.errmsg, "invalid permanent_code");
  EXPECT_EQ(state_.CorpToken(token, kCorp, "", At(10)).errcode, 40084);
  EXPECT_EQ(state_.CorpToken(token, "wwcorpB", installed.permanent_code, At(10))
                .errcode,
            40084);

  const Answer second =
      state_.CorpToken(token, kCorp, installed.permanent_code, At(20));
  ASSERT_EQ(second.errcode, 0);
  EXPECT_TRUE(state_.Check(first.value, At(319)).valid());
  EXPECT_EQ(state_.Check(first.value, At(320)).status, Status::kRevoked);

  const std::map<std::string, WeComSuiteCorpStats> corps = state_.CorpStats();
  ASSERT_EQ(corps.size(), 1u);
  const WeComSuiteCorpStats& corp = corps.at("wwsuite1/wwcorpA");
  EXPECT_EQ(corp.installed, 1);
  EXPECT_EQ(corp.installs, 1);
  EXPECT_EQ(corp.permanent_codes_issued, 1);
  EXPECT_EQ(corp.corp_token_calls, 4);  // wwcorpB's is the suite's only
  EXPECT_EQ(corp.corp_token_failures, 2);
  EXPECT_EQ(corp.corp_tokens_issued, 3);
  const WeComSuiteStats suite = state_.Stats()[kSuite];
  EXPECT_EQ(suite.corp_token_calls, 5);
  EXPECT_EQ(suite.corp_token_failures, 3);
}

TEST_F(WeComSuiteStateTest, AnUninstallRevokesThePermanentCodeAndTokensAtOnce) {
  const std::string token = SuiteToken(kT0);
  const PermanentCodeAnswer installed = Install(token, kT0);
  const Answer corp_token =
      state_.CorpToken(token, kCorp, installed.permanent_code, At(10));
  ASSERT_TRUE(state_.Uninstall(kSuite, kCorp, At(20)));
  EXPECT_EQ(state_.Check(corp_token.value, At(20)).status, Status::kRevoked);
  EXPECT_EQ(state_.Check(installed.access_token, At(20)).status,
            Status::kRevoked);
  EXPECT_EQ(
      state_.CorpToken(token, kCorp, installed.permanent_code, At(20)).errcode,
      40084);
  EXPECT_FALSE(state_.Uninstall(kSuite, kCorp, At(20)));
  EXPECT_FALSE(state_.Uninstall(kSuite, "wwcorpB", At(20)));
  EXPECT_EQ(state_.CorpStats()["wwsuite1/wwcorpA"].installed, 0);

  // Installed again: a new permanent code; the old one is gone for good.
  const PermanentCodeAnswer again = Install(token, At(30));
  EXPECT_NE(again.permanent_code, installed.permanent_code);
  EXPECT_EQ(
      state_.CorpToken(token, kCorp, installed.permanent_code, At(30)).errcode,
      40084);
  EXPECT_EQ(
      state_.CorpToken(token, kCorp, again.permanent_code, At(30)).errcode, 0);
  EXPECT_THAT(state_.IssuedPermanentCodes(),
              ElementsAre(installed.permanent_code, again.permanent_code));
  const WeComSuiteCorpStats corp = state_.CorpStats()["wwsuite1/wwcorpA"];
  EXPECT_EQ(corp.installed, 1);
  EXPECT_EQ(corp.installs, 2);
  EXPECT_EQ(corp.uninstalls, 1);
}

TEST_F(WeComSuiteStateTest, CountsPushesAndFaultedCalls) {
  state_.RecordPush(kSuite, SuitePush::kTicket, true);
  state_.RecordPush(kSuite, SuitePush::kTicket, false);
  state_.RecordPush(kSuite, SuitePush::kAuth, true);
  const std::string token = SuiteToken(kT0);
  Install(token, kT0);
  state_.CountSuiteTokenCall(kSuite);
  state_.CountPermanentCodeCall(token);
  state_.CountCorpTokenCall(token, kCorp);
  state_.CountCorpTokenCall("never-issued", kCorp);

  std::map<std::string, WeComSuiteStats> stats = state_.Stats();
  EXPECT_EQ(stats[kSuite].ticket_pushes, 2);
  EXPECT_EQ(stats[kSuite].ticket_pushes_success, 1);
  EXPECT_EQ(stats[kSuite].auth_pushes, 1);
  EXPECT_EQ(stats[kSuite].auth_pushes_success, 1);
  EXPECT_EQ(stats[kSuite].suite_token_calls, 2);
  EXPECT_EQ(stats[kSuite].suite_token_failures, 0);
  EXPECT_EQ(stats[kSuite].permanent_code_calls, 2);
  EXPECT_EQ(stats[kSuite].corp_token_calls, 1);
  EXPECT_EQ(stats[""].corp_token_calls, 1);
  EXPECT_EQ(state_.CorpStats()["wwsuite1/wwcorpA"].corp_token_calls, 1);
  EXPECT_EQ(stats[kOther].suite_token_calls, 0);
}

}  // namespace
}  // namespace wxtoken::sandbox
