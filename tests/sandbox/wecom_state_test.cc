#include "tests/sandbox/wecom_state.h"

#include <map>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/sliding_window.h"

namespace wxtoken::sandbox {
namespace {

using Status = Validity::Status;

const absl::Time kT0 = absl::FromUnixSeconds(1714000000);

absl::Time At(int64_t seconds) { return kT0 + absl::Seconds(seconds); }

// Two apps of one corp, one of another.
class WeComStateTest : public ::testing::Test {
 protected:
  WeComStateTest()
      : state_(WeComOptions(), {{"wwcorp1/1000001", "secret-a"},
                                {"wwcorp1/1000002", "secret-b"},
                                {"wwcorp2/1000001", "secret-c"}}) {}

  std::string Token(absl::Time now, const std::string& corpid = "wwcorp1",
                    const std::string& secret = "secret-a") {
    const Answer answer = state_.GetToken(corpid, secret, now);
    EXPECT_EQ(answer.errcode, 0) << answer.errmsg;
    return answer.value;
  }

  WeComStats StatsOf(const std::string& key, absl::Time now) {
    return state_.Stats(now)[key];
  }

  WeComState state_;
};

TEST_F(WeComStateTest, TwoAppsOfOneCorpGetDistinctTokens) {
  const Answer a = state_.GetToken("wwcorp1", "secret-a", kT0);
  ASSERT_EQ(a.errcode, 0) << a.errmsg;
  EXPECT_EQ(a.errmsg, "ok");
  EXPECT_EQ(a.expires_in, 7200);
  const std::string b = Token(kT0, "wwcorp1", "secret-b");
  EXPECT_NE(a.value, b);

  // The secret picked the app: each token is its own app's.
  const Validity of_a = state_.Check(a.value, kT0);
  EXPECT_TRUE(of_a.valid());
  EXPECT_EQ(of_a.appid, "wwcorp1/1000001");
  EXPECT_EQ(of_a.kind, ValueKind::kWeComToken);
  EXPECT_EQ(state_.Check(b, kT0).appid, "wwcorp1/1000002");

  // One app's new token leaves the other app's alone.
  Token(At(1000), "wwcorp1", "secret-b");
  Token(At(1000), "wwcorp1", "secret-b");
  EXPECT_TRUE(state_.Check(a.value, At(7199)).valid());
  EXPECT_EQ(state_.Check(a.value, At(7200)).status, Status::kExpired);

  EXPECT_EQ(StatsOf("wwcorp1/1000001", kT0).gettoken_calls, 1);
  EXPECT_EQ(StatsOf("wwcorp1/1000002", kT0).gettoken_calls, 3);
  EXPECT_EQ(StatsOf("wwcorp1/1000002", kT0).tokens_issued, 3);
  EXPECT_EQ(StatsOf("wwcorp1", kT0).gettoken_calls, 0);
}

TEST_F(WeComStateTest, RefusesBadCredentialsAndCountsWhere) {
  EXPECT_EQ(state_.GetToken("wwcorp1", "secret-c", kT0).errcode, 40001);
  EXPECT_EQ(state_.GetToken("wwnobody", "secret-a", kT0).errcode, 40013);
  EXPECT_EQ(state_.GetToken("", "secret-a", kT0).errcode, 41002);
  EXPECT_EQ(state_.GetToken("wwcorp1", "", kT0).errcode, 41004);

  std::map<std::string, WeComStats> stats = state_.Stats(kT0);
  // A secret that is none of the corp's apps' counts under the corp.
  EXPECT_EQ(stats["wwcorp1"].gettoken_calls, 2);
  EXPECT_EQ(stats["wwcorp1"].gettoken_failures, 2);
  EXPECT_EQ(stats[""].gettoken_calls, 2);
  EXPECT_EQ(stats[""].gettoken_failures, 2);
  EXPECT_EQ(stats["wwcorp1/1000001"].gettoken_calls, 0);
  EXPECT_EQ(stats["wwcorp2/1000001"].gettoken_calls, 0);
}

TEST_F(WeComStateTest, ReplacedTokenLastsTheOverlapThenIsExpired) {
  const std::string first = Token(kT0);
  const std::string second = Token(At(100));
  EXPECT_NE(first, second);
  // WeChat's classic model: the replaced token keeps the overlap (300 s).
  EXPECT_EQ(state_.Check(first, At(100)).valid_until, At(400));
  EXPECT_EQ(state_.CorpTicket(first, At(399)).errcode, 0);
  EXPECT_EQ(state_.AgentTicket(first, "agent_config", At(399)).errcode, 0);
  EXPECT_EQ(state_.CorpTicket(first, At(400)).errcode, 42001);
  EXPECT_EQ(state_.AgentTicket(first, "agent_config", At(400)).errcode, 42001);
  EXPECT_EQ(state_.CorpTicket(second, At(400)).errcode, 0);
  // Past its lifetime the current one is expired too.
  EXPECT_EQ(state_.CorpTicket(second, At(100 + 7200)).errcode, 42001);

  // Never issued, or not a token: 40014; none at all: 41001.
  EXPECT_EQ(state_.CorpTicket("never-issued", kT0).errcode, 40014);
  const Answer ticket = state_.CorpTicket(second, At(401));
  ASSERT_EQ(ticket.errcode, 0);
  EXPECT_EQ(state_.AgentTicket(ticket.value, "agent_config", At(401)).errcode,
            40014);
  EXPECT_EQ(state_.CorpTicket("", kT0).errcode, 41001);
}

TEST_F(WeComStateTest, TicketsAreTheCorpsAndTheAppsOwn) {
  const std::string a = Token(kT0);
  const std::string b = Token(kT0, "wwcorp1", "secret-b");
  const Answer corp = state_.CorpTicket(a, kT0);
  ASSERT_EQ(corp.errcode, 0);
  EXPECT_EQ(corp.errmsg, "ok");
  EXPECT_EQ(corp.expires_in, 7200);
  EXPECT_EQ(state_.Check(corp.value, kT0).appid, "wwcorp1");
  EXPECT_EQ(state_.Check(corp.value, kT0).kind, ValueKind::kWeComJsapiTicket);
  const Answer agent = state_.AgentTicket(b, "agent_config", kT0);
  ASSERT_EQ(agent.errcode, 0);
  EXPECT_EQ(state_.Check(agent.value, kT0).appid, "wwcorp1/1000002");
  EXPECT_EQ(state_.Check(agent.value, kT0).kind, ValueKind::kWeComAgentTicket);

  // Another app's token renews the corp's one ticket: the old one gets the
  // overlap.
  const Answer next = state_.CorpTicket(b, At(10));
  ASSERT_EQ(next.errcode, 0);
  EXPECT_EQ(state_.Check(corp.value, At(10)).valid_until, At(310));

  // agent_config is the only type.
  EXPECT_EQ(state_.AgentTicket(b, "jsapi", At(10)).errcode, 40058);
  EXPECT_EQ(state_.AgentTicket(b, "", At(10)).errcode, 40058);

  std::map<std::string, WeComStats> stats = state_.Stats(At(10));
  EXPECT_EQ(stats["wwcorp1"].corp_ticket_calls, 2);
  EXPECT_EQ(stats["wwcorp1"].tickets_issued, 2);
  EXPECT_EQ(stats["wwcorp1/1000002"].agent_ticket_calls, 3);
  EXPECT_EQ(stats["wwcorp1/1000002"].tickets_issued, 1);
  EXPECT_EQ(stats["wwcorp1/1000001"].agent_ticket_calls, 0);
}

TEST_F(WeComStateTest, CorpTicketsAre400AnHourPerCorp) {
  const std::string a = Token(kT0);
  const std::string b = Token(kT0, "wwcorp1", "secret-b");
  const std::string other = Token(kT0, "wwcorp2", "secret-c");
  // The corp's budget is shared by its apps: 40 calls at each of
  // At(0)..At(9).
  for (int i = 0; i < 400; ++i) {
    ASSERT_EQ(state_.CorpTicket(i % 2 == 0 ? a : b, At(i / 40)).errcode, 0)
        << i;
  }
  const Answer refused = state_.CorpTicket(a, At(10));
  EXPECT_EQ(refused.errcode, 45009);
  EXPECT_EQ(refused.errmsg, "api freq out of limit");
  EXPECT_EQ(state_.CorpTicket(b, At(10)).errcode, 45009);
  // Another corp has its own.
  EXPECT_EQ(state_.CorpTicket(other, At(10)).errcode, 0);

  WeComStats stats = StatsOf("wwcorp1", At(10));
  EXPECT_EQ(stats.corp_ticket_calls, 402);
  EXPECT_EQ(stats.ticket_rate_limited, 2);
  EXPECT_EQ(stats.ticket_calls_last_hour, 402);
  EXPECT_EQ(stats.ticket_calls_peak_hour, 402);
  EXPECT_EQ(StatsOf("wwcorp2", At(10)).ticket_rate_limited, 0);

  // Refused calls count too, so a caller that keeps calling stays
  // refused...
  const std::string fresh = Token(At(3599));
  EXPECT_EQ(state_.CorpTicket(fresh, At(3599)).errcode, 45009);
  // ... until calls leave the window: at At(3600) the 40 of At(0) do, and
  // of the 363 left 37 more fit.
  for (int i = 0; i < 37; ++i) {
    ASSERT_EQ(state_.CorpTicket(fresh, At(3600)).errcode, 0) << i;
  }
  EXPECT_EQ(state_.CorpTicket(fresh, At(3600)).errcode, 45009);
  stats = StatsOf("wwcorp1", At(3600));
  EXPECT_EQ(stats.ticket_rate_limited, 4);
  EXPECT_EQ(stats.ticket_calls_last_hour, 401);
  EXPECT_EQ(stats.ticket_calls_peak_hour, 403);
  // Two hours on, nothing is left in the window.
  EXPECT_EQ(StatsOf("wwcorp1", At(7300)).ticket_calls_last_hour, 0);
}

TEST_F(WeComStateTest, AgentTicketsAre100AnHourPerApp) {
  const std::string a = Token(kT0);
  const std::string b = Token(kT0, "wwcorp1", "secret-b");
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(state_.AgentTicket(a, "agent_config", kT0).errcode, 0) << i;
  }
  EXPECT_EQ(state_.AgentTicket(a, "agent_config", At(1)).errcode, 45009);
  // Another app of the corp, and the corp's own ticket, have their own.
  EXPECT_EQ(state_.AgentTicket(b, "agent_config", At(1)).errcode, 0);
  EXPECT_EQ(state_.CorpTicket(a, At(1)).errcode, 0);

  std::map<std::string, WeComStats> stats = state_.Stats(At(1));
  EXPECT_EQ(stats["wwcorp1/1000001"].ticket_rate_limited, 1);
  EXPECT_EQ(stats["wwcorp1/1000001"].agent_ticket_calls, 101);
  EXPECT_EQ(stats["wwcorp1/1000002"].ticket_rate_limited, 0);
  EXPECT_EQ(stats["wwcorp1"].ticket_rate_limited, 0);

  // An hour on the 100 of kT0 have left the window, the refused call of
  // At(1) not yet: 99 fit.
  const std::string fresh = Token(At(3600));
  for (int i = 0; i < 99; ++i) {
    ASSERT_EQ(state_.AgentTicket(fresh, "agent_config", At(3600)).errcode, 0)
        << i;
  }
  EXPECT_EQ(state_.AgentTicket(fresh, "agent_config", At(3600)).errcode, 45009);
  EXPECT_EQ(StatsOf("wwcorp1/1000001", At(3600)).ticket_calls_peak_hour, 101);
}

TEST_F(WeComStateTest, TwoThousandFailuresInAnHourBlockGetTokenForAnHour) {
  // 1999 failures, and an hour later one more: not 2000 within an hour.
  for (int i = 0; i < 1999; ++i) {
    ASSERT_EQ(state_.GetToken("wwcorp1", "wrong", kT0).errcode, 40001);
  }
  EXPECT_EQ(state_.GetToken("wwnobody", "wrong", At(3600)).errcode, 40013);
  EXPECT_EQ(state_.GetToken("wwcorp1", "secret-a", At(3600)).errcode, 0);

  for (int i = 0; i < 1998; ++i) {
    ASSERT_EQ(state_.GetToken("wwcorp1", "", At(3700)).errcode, 41004);
  }
  // The 2000th failure within the hour is still answered as it was...
  EXPECT_EQ(state_.GetToken("wwcorp1", "wrong", At(3700)).errcode, 40001);
  // ... and from then on every gettoken is refused for an hour.
  const Answer blocked = state_.GetToken("wwcorp1", "secret-a", At(3701));
  EXPECT_EQ(blocked.errcode, 60020);
  EXPECT_EQ(blocked.errmsg, "not allow to access from your ip");
  EXPECT_EQ(state_.GetToken("wwcorp2", "secret-c", At(7299)).errcode, 60020);
  EXPECT_EQ(state_.GetToken("wwcorp1", "secret-a", At(7300)).errcode, 0);

  std::map<std::string, WeComStats> stats = state_.Stats(At(7300));
  EXPECT_EQ(stats["wwcorp1/1000001"].gettoken_calls, 3);
  EXPECT_EQ(stats["wwcorp1/1000001"].gettoken_failures, 1);
  EXPECT_EQ(stats["wwcorp2/1000001"].gettoken_failures, 1);
  EXPECT_EQ(stats["wwcorp1"].gettoken_failures, 1999 + 1998 + 1);
  EXPECT_EQ(stats[""].gettoken_failures, 1);
}

TEST_F(WeComStateTest, FaultedCallsCountToo) {
  const std::string a = Token(kT0);
  state_.CountGetTokenCall("wwcorp1", "secret-b");
  state_.CountCorpTicketCall(a);
  state_.CountAgentTicketCall(a);
  state_.CountAgentTicketCall("never-issued");
  std::map<std::string, WeComStats> stats = state_.Stats(kT0);
  EXPECT_EQ(stats["wwcorp1/1000002"].gettoken_calls, 1);
  EXPECT_EQ(stats["wwcorp1/1000002"].gettoken_failures, 0);
  EXPECT_EQ(stats["wwcorp1"].corp_ticket_calls, 1);
  EXPECT_EQ(stats["wwcorp1/1000001"].agent_ticket_calls, 1);
  EXPECT_EQ(stats[""].agent_ticket_calls, 1);
  // They reach no limit.
  EXPECT_EQ(stats["wwcorp1"].ticket_calls_last_hour, 0);
}

TEST(SlidingWindowTest, CountsTheLastWidthAndTheMostEver) {
  SlidingWindow window(absl::Seconds(10));
  EXPECT_EQ(window.Count(kT0), 0);
  window.Add(At(0));
  window.Add(At(5));
  window.Add(At(5));
  EXPECT_EQ(window.Count(At(5)), 3);
  EXPECT_EQ(window.Count(At(9)), 3);
  EXPECT_EQ(window.Count(At(10)), 2);  // (0, 10]
  EXPECT_EQ(window.Count(At(15)), 0);
  window.Add(At(12));
  EXPECT_EQ(window.Count(At(12)), 3);
  EXPECT_EQ(window.peak(), 3);
  window.Add(At(30));
  EXPECT_EQ(window.Count(At(30)), 1);
  EXPECT_EQ(window.peak(), 3);
  // A clock that steps back a little still counts right.
  window.Add(At(29));
  EXPECT_EQ(window.Count(At(29)), 1);
  EXPECT_EQ(window.Count(At(30)), 2);
}

}  // namespace
}  // namespace wxtoken::sandbox
