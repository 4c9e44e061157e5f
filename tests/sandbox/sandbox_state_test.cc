#include "tests/sandbox/sandbox_state.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/fault_queue.h"

namespace wxtoken::sandbox {
namespace {

using ::testing::MatchesRegex;
using Status = Validity::Status;

const absl::Time kT0 = absl::FromUnixSeconds(1714000000);

absl::Time At(int64_t seconds) { return kT0 + absl::Seconds(seconds); }

SandboxOptions TestOptions() {
  SandboxOptions options;
  options.lifetime = absl::Seconds(7200);
  options.overlap = absl::Seconds(300);
  options.daily_quota = 5;
  options.ticket_lifetime = absl::Seconds(3600);
  options.force_daily_limit = 3;
  options.force_min_interval = absl::Seconds(30);
  return options;
}

Credentials Creds(std::string appid = "wxapp1", std::string secret = "s1") {
  return Credentials{"client_credential", std::move(appid), std::move(secret)};
}

class SandboxStateTest : public ::testing::Test {
 protected:
  SandboxStateTest()
      : state_(TestOptions(), {{"wxapp1", "s1"}, {"wxapp2", "s2"}}) {}

  std::string Classic(absl::Time now, std::string appid = "wxapp1",
                      std::string secret = "s1") {
    Answer answer = state_.FetchClassic(Creds(appid, secret), now);
    EXPECT_EQ(answer.errcode, 0) << answer.errmsg;
    return answer.value;
  }

  Answer Stable(absl::Time now, bool force = false) {
    Answer answer = state_.FetchStable(Creds(), force, now);
    EXPECT_EQ(answer.errcode, 0) << answer.errmsg;
    return answer;
  }

  Status StatusOf(const std::string& value, absl::Time now) {
    return state_.Check(value, now).status;
  }

  SandboxState state_;
};

TEST_F(SandboxStateTest, QuotaGetCountsWhatTheQuotaCounts) {
  const std::string token = Classic(kT0);
  Classic(kT0);
  QuotaAnswer quota = state_.Quota(token, "/cgi-bin/token", kT0);
  EXPECT_EQ(quota.errcode, 0) << quota.errmsg;
  EXPECT_EQ(quota.used, 2);
  EXPECT_EQ(quota.daily_limit, TestOptions().daily_quota);
  EXPECT_EQ(quota.remain, TestOptions().daily_quota - 2);
  EXPECT_EQ(state_.Quota(token, "/cgi-bin/nothing", kT0).errcode, 76021);
  EXPECT_EQ(state_.Quota("not-a-token", "/cgi-bin/token", kT0).errcode, 40001);
  // Asking counts nothing.
  EXPECT_EQ(state_.Quota(token, "/cgi-bin/token", kT0).used, 2);
}

TEST_F(SandboxStateTest, ClassicTokenLooksLikeWeChats) {
  const Answer answer = state_.FetchClassic(Creds(), kT0);
  ASSERT_EQ(answer.errcode, 0);
  EXPECT_THAT(answer.value, MatchesRegex("[A-Za-z0-9_-]+"));
  EXPECT_GE(answer.value.size(), 128u);
  EXPECT_LE(answer.value.size(), 160u);
  EXPECT_EQ(answer.expires_in, 7200);
  const Validity validity = state_.Check(answer.value, kT0);
  EXPECT_TRUE(validity.valid());
  EXPECT_EQ(validity.appid, "wxapp1");
  EXPECT_EQ(validity.kind, ValueKind::kClassic);
}

TEST_F(SandboxStateTest, ClassicRotationRevokesPreviousAfterOverlapNotBefore) {
  const std::string first = Classic(At(0));
  const std::string second = Classic(At(1000));
  ASSERT_NE(first, second);
  // Both work during the overlap...
  EXPECT_EQ(StatusOf(first, At(1000)), Status::kValid);
  EXPECT_EQ(StatusOf(first, At(1300) - absl::Nanoseconds(1)), Status::kValid);
  // ...and the old one stops exactly when it ends.
  EXPECT_EQ(StatusOf(first, At(1300)), Status::kRevoked);
  EXPECT_EQ(StatusOf(second, At(1300)), Status::kValid);
  EXPECT_EQ(state_.FetchTicket(first, "jsapi", At(1300)).errcode, 40001);
}

TEST_F(SandboxStateTest, ClassicOverlapNeverOutlivesTheOldTokensExpiry) {
  const std::string first = Classic(At(0));
  Classic(At(7100));  // overlap would end at 7400
  EXPECT_EQ(StatusOf(first, At(7199)), Status::kValid);
  EXPECT_EQ(StatusOf(first, At(7200)), Status::kExpired);
}

TEST_F(SandboxStateTest, OlderTokensKeepTheirEarlierDeadline) {
  const std::string first = Classic(At(0));
  const std::string second = Classic(At(10));
  const std::string third = Classic(At(20));
  // The third fetch does not give the first another overlap.
  EXPECT_EQ(StatusOf(first, At(309)), Status::kValid);
  EXPECT_EQ(StatusOf(first, At(310)), Status::kRevoked);
  EXPECT_EQ(StatusOf(second, At(319)), Status::kValid);
  EXPECT_EQ(StatusOf(second, At(320)), Status::kRevoked);
  EXPECT_EQ(StatusOf(third, At(320)), Status::kValid);
}

TEST_F(SandboxStateTest, AppsAndApisDoNotRevokeEachOther) {
  const std::string app1 = Classic(At(0));
  const std::string stable = Stable(At(0)).value;
  Classic(At(1), "wxapp2", "s2");
  Classic(At(2));  // rotates app1's classic token only
  EXPECT_EQ(StatusOf(app1, At(1000)), Status::kRevoked);
  EXPECT_EQ(StatusOf(stable, At(1000)), Status::kValid);
  EXPECT_EQ(state_.Check(stable, At(0)).kind, ValueKind::kStable);
}

TEST_F(SandboxStateTest, StableNormalModeKeepsTokenUntilTheWindow) {
  const Answer first = Stable(At(0));
  EXPECT_EQ(first.expires_in, 7200);
  const Answer later = Stable(At(100));
  EXPECT_EQ(later.value, first.value);
  EXPECT_EQ(later.expires_in, 7100);
  const Answer edge = Stable(At(6899) + absl::Milliseconds(500));
  EXPECT_EQ(edge.value, first.value);
  EXPECT_EQ(edge.expires_in, 300);  // 300.5 s left, never rounded up

  // With `overlap` left, the next token comes early and both work.
  const Answer next = Stable(At(6900));
  EXPECT_NE(next.value, first.value);
  EXPECT_EQ(next.expires_in, 7200);
  EXPECT_EQ(Stable(At(6901)).value, next.value);
  EXPECT_EQ(StatusOf(first.value, At(7199)), Status::kValid);
  EXPECT_EQ(StatusOf(first.value, At(7200)), Status::kExpired);
  EXPECT_EQ(StatusOf(next.value, At(7200)), Status::kValid);
  EXPECT_EQ(state_.Stats(At(7200)).at("wxapp1").tokens_issued, 2);
}

TEST_F(SandboxStateTest, StableIssuesAgainAfterExpiry) {
  const Answer first = Stable(At(0));
  const Answer second = Stable(At(8000));
  EXPECT_NE(second.value, first.value);
  EXPECT_EQ(second.expires_in, 7200);
}

TEST_F(SandboxStateTest, StableForceRefreshIsSpacedAndRevokesAfterOverlap) {
  const Answer first = Stable(At(0));
  const Answer forced = Stable(At(10), /*force=*/true);
  EXPECT_NE(forced.value, first.value);
  EXPECT_EQ(forced.expires_in, 7200);
  EXPECT_EQ(StatusOf(first.value, At(309)), Status::kValid);
  EXPECT_EQ(StatusOf(first.value, At(310)), Status::kRevoked);

  // 29 s later: no refresh, the current token comes back.
  const Answer too_soon = Stable(At(39), /*force=*/true);
  EXPECT_EQ(too_soon.value, forced.value);
  EXPECT_EQ(too_soon.expires_in, 7200 - 29);

  const Answer again = Stable(At(40), /*force=*/true);
  EXPECT_NE(again.value, forced.value);
  EXPECT_EQ(StatusOf(forced.value, At(339)), Status::kValid);
  EXPECT_EQ(StatusOf(forced.value, At(340)), Status::kRevoked);

  const AppStats stats = state_.Stats(At(40)).at("wxapp1");
  EXPECT_EQ(stats.stable_calls, 4);
  EXPECT_EQ(stats.stable_force_calls, 3);
  EXPECT_EQ(stats.tokens_issued, 3);
}

TEST_F(SandboxStateTest, StableForceRefreshDailyLimit) {
  // Beijing midnight, with the day before spent on forced refreshes.
  const absl::Time midnight = absl::FromCivil(absl::CivilSecond(2024, 4, 26),
                                              absl::FixedTimeZone(8 * 3600));
  absl::Time t = midnight - absl::Hours(1);
  Stable(t);
  for (int i = 0; i < 3; ++i) {
    t += absl::Seconds(30);
    Stable(t, /*force=*/true);
  }
  t += absl::Seconds(30);
  EXPECT_EQ(state_.FetchStable(Creds(), true, t).errcode, 45009);
  const std::string current = Stable(t).value;  // normal mode still works
  EXPECT_NE(Stable(midnight, /*force=*/true).value, current);
}

TEST_F(SandboxStateTest, CredentialErrors) {
  const auto classic = [&](Credentials creds) {
    return state_.FetchClassic(creds, kT0).errcode;
  };
  const auto stable = [&](Credentials creds) {
    return state_.FetchStable(creds, false, kT0).errcode;
  };
  for (const auto& fetch : {std::function<int(Credentials)>(classic),
                            std::function<int(Credentials)>(stable)}) {
    EXPECT_EQ(fetch({"password", "wxapp1", "s1"}), 40002);
    EXPECT_EQ(fetch({"client_credential", "", "s1"}), 41002);
    EXPECT_EQ(fetch({"client_credential", "wxapp1", ""}), 41004);
    EXPECT_EQ(fetch({"client_credential", "wxnobody", "s1"}), 40013);
    EXPECT_EQ(fetch({"client_credential", "wxapp1", "s2"}), 40125);
    EXPECT_EQ(fetch({"client_credential", "wxapp1", "s1"}), 0);
  }
  // Calls naming no configured app are counted under "".
  const auto stats = state_.Stats(kT0);
  EXPECT_EQ(stats.at("").token_calls, 2);
  EXPECT_EQ(stats.at("").stable_calls, 2);
  EXPECT_EQ(stats.at("wxapp1").token_calls, 4);
  EXPECT_EQ(stats.at("wxapp1").stable_calls, 4);
}

TEST_F(SandboxStateTest, DailyQuotaCountsFailuresAndResetsAtBeijingMidnight) {
  const absl::Time midnight = absl::FromCivil(absl::CivilSecond(2024, 4, 26),
                                              absl::FixedTimeZone(8 * 3600));
  const absl::Time evening = midnight - absl::Hours(2);
  EXPECT_EQ(state_.FetchClassic(Creds("wxapp1", "wrong"), evening).errcode,
            40125);
  state_.CountClassicCall("wxapp1", evening);  // e.g. an injected fault
  for (int i = 0; i < 3; ++i) Classic(evening);
  EXPECT_EQ(state_.FetchClassic(Creds(), evening).errcode, 45009);
  EXPECT_EQ(state_.FetchClassic(Creds(), midnight - absl::Seconds(1)).errcode,
            45009);
  // Other apps have their own quota.
  Classic(evening, "wxapp2", "s2");

  const AppStats before = state_.Stats(evening).at("wxapp1");
  EXPECT_EQ(before.token_calls, 7);
  EXPECT_EQ(before.quota_used_today, 7);
  EXPECT_EQ(before.tokens_issued, 3);

  Classic(midnight);
  EXPECT_EQ(state_.Stats(midnight).at("wxapp1").quota_used_today, 1);
}

TEST_F(SandboxStateTest, TicketNeedsAValidAccessToken) {
  const std::string token = Classic(At(0));
  const Answer ticket = state_.FetchTicket(token, "jsapi", At(1));
  ASSERT_EQ(ticket.errcode, 0) << ticket.errmsg;
  EXPECT_EQ(ticket.errmsg, "ok");
  EXPECT_EQ(ticket.expires_in, 3600);
  const Validity validity = state_.Check(ticket.value, At(1));
  EXPECT_TRUE(validity.valid());
  EXPECT_EQ(validity.kind, ValueKind::kTicket);
  EXPECT_EQ(validity.appid, "wxapp1");

  const std::string stable = Stable(At(0)).value;
  EXPECT_EQ(state_.FetchTicket(stable, "wx_card", At(1)).errcode, 0);

  EXPECT_EQ(state_.FetchTicket("", "jsapi", At(1)).errcode, 41001);
  EXPECT_EQ(state_.FetchTicket("nonsense", "jsapi", At(1)).errcode, 40001);
  EXPECT_EQ(state_.FetchTicket(ticket.value, "jsapi", At(1)).errcode, 40001);
  EXPECT_EQ(state_.FetchTicket(token, "other", At(1)).errcode, 40097);
  Classic(At(2));
  EXPECT_EQ(state_.FetchTicket(token, "jsapi", At(302)).errcode, 40001);
  EXPECT_EQ(state_.FetchTicket(token, "jsapi", At(7200)).errcode, 42001);

  const auto stats = state_.Stats(At(7200));
  EXPECT_EQ(stats.at("wxapp1").ticket_calls, 5);
  EXPECT_EQ(stats.at("wxapp1").tickets_issued, 2);
  EXPECT_EQ(stats.at("").ticket_calls, 3);  // "", "nonsense", a ticket
}

TEST_F(SandboxStateTest, NewTicketRevokesThePreviousAfterOverlap) {
  const std::string token = Classic(At(0));
  const std::string jsapi = state_.FetchTicket(token, "jsapi", At(0)).value;
  const std::string card = state_.FetchTicket(token, "wx_card", At(0)).value;
  const std::string jsapi2 = state_.FetchTicket(token, "jsapi", At(100)).value;
  EXPECT_NE(jsapi2, jsapi);
  EXPECT_EQ(StatusOf(jsapi, At(399)), Status::kValid);
  EXPECT_EQ(StatusOf(jsapi, At(400)), Status::kRevoked);
  EXPECT_EQ(StatusOf(card, At(400)), Status::kValid);  // other type
  EXPECT_EQ(StatusOf(jsapi2, At(3699)), Status::kValid);
  EXPECT_EQ(StatusOf(jsapi2, At(3700)), Status::kExpired);
}

TEST_F(SandboxStateTest, LongDeadValuesAreForgotten) {
  const std::string old = Classic(At(0));
  EXPECT_EQ(StatusOf(old, At(7200)), Status::kExpired);
  Classic(At(7200) + absl::Minutes(11));  // issuing prunes
  EXPECT_EQ(StatusOf(old, At(7200) + absl::Minutes(11)), Status::kUnknown);
  EXPECT_EQ(StatusOf("never issued", kT0), Status::kUnknown);
}

TEST(SandboxBeijingDayTest, ChangesAtBeijingMidnight) {
  const absl::Time midnight = absl::FromCivil(absl::CivilSecond(2024, 4, 26),
                                              absl::FixedTimeZone(8 * 3600));
  EXPECT_EQ(BeijingDay(midnight), BeijingDay(midnight - absl::Seconds(1)) + 1);
  EXPECT_EQ(BeijingDay(midnight), BeijingDay(midnight + absl::Hours(23)));
}

Fault MakeFault(Fault::Kind kind, int count,
                std::optional<Endpoint> endpoint = std::nullopt) {
  Fault fault;
  fault.kind = kind;
  fault.count = count;
  fault.endpoint = endpoint;
  return fault;
}

TEST(SandboxFaultQueueTest, FaultsApplyInOrderAndCountDown) {
  FaultQueue queue;
  queue.Add(MakeFault(Fault::Kind::kErrcode, 2, Endpoint::kToken));
  queue.Add(MakeFault(Fault::Kind::kHttp500, 1));
  queue.Add(MakeFault(Fault::Kind::kDrop, 1));
  ASSERT_EQ(queue.size(), 3u);

  // A stable_token request skips the token-only fault.
  EXPECT_EQ(queue.Take(Endpoint::kStableToken)->kind, Fault::Kind::kHttp500);
  EXPECT_EQ(queue.Take(Endpoint::kToken)->kind, Fault::Kind::kErrcode);
  EXPECT_EQ(queue.Take(Endpoint::kToken)->kind, Fault::Kind::kErrcode);
  EXPECT_EQ(queue.Take(Endpoint::kToken)->kind, Fault::Kind::kDrop);
  EXPECT_EQ(queue.Take(Endpoint::kToken), std::nullopt);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(SandboxFaultQueueTest, CountMinusOneLastsUntilCleared) {
  FaultQueue queue;
  queue.Add(MakeFault(Fault::Kind::kMalformed, -1, Endpoint::kGetTicket));
  queue.Add(MakeFault(Fault::Kind::kDrop, 1));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(queue.Take(Endpoint::kGetTicket)->kind, Fault::Kind::kMalformed);
  }
  EXPECT_EQ(queue.size(), 2u);
  queue.Clear();
  EXPECT_EQ(queue.Take(Endpoint::kGetTicket), std::nullopt);
}

TEST(SandboxFaultQueueTest, ParseFaultDefaultsAndErrors) {
  absl::StatusOr<Fault> fault = ParseFault("errcode", "", "", "", "");
  ASSERT_TRUE(fault.ok());
  EXPECT_EQ(fault->count, 1);
  EXPECT_EQ(fault->errcode, -1);
  EXPECT_EQ(fault->endpoint, std::nullopt);

  fault = ParseFault("slow", "-1", "", "250", "stable_token");
  ASSERT_TRUE(fault.ok());
  EXPECT_EQ(fault->kind, Fault::Kind::kSlow);
  EXPECT_EQ(fault->count, -1);
  EXPECT_EQ(fault->delay, absl::Milliseconds(250));
  EXPECT_EQ(fault->endpoint, Endpoint::kStableToken);

  EXPECT_EQ(ParseFault("errcode", "3", "40164", "", "token")->errcode, 40164);
  EXPECT_EQ(ParseFault("drop", "", "", "", "gettoken")->endpoint,
            Endpoint::kWeComToken);
  EXPECT_EQ(ParseFault("drop", "", "", "", "get_jsapi_ticket")->endpoint,
            Endpoint::kWeComCorpTicket);
  EXPECT_EQ(ParseFault("drop", "", "", "", "ticket_get")->endpoint,
            Endpoint::kWeComAgentTicket);
  EXPECT_EQ(ParseFault("drop", "", "", "", "get_provider_token")->endpoint,
            Endpoint::kProviderToken);
  EXPECT_EQ(ParseFault("drop", "", "", "", "get_suite_token")->endpoint,
            Endpoint::kSuiteToken);
  EXPECT_EQ(ParseFault("drop", "", "", "", "get_permanent_code")->endpoint,
            Endpoint::kPermanentCode);
  EXPECT_EQ(ParseFault("drop", "", "", "", "get_corp_token")->endpoint,
            Endpoint::kSuiteCorpToken);
  EXPECT_FALSE(ParseFault("explode", "", "", "", "").ok());
  EXPECT_FALSE(ParseFault("drop", "0", "", "", "").ok());
  EXPECT_FALSE(ParseFault("drop", "-2", "", "", "").ok());
  EXPECT_FALSE(ParseFault("drop", "x", "", "", "").ok());
  EXPECT_FALSE(ParseFault("drop", "", "", "", "cgi").ok());
  EXPECT_FALSE(ParseFault("slow", "", "", "-5", "").ok());
}

}  // namespace
}  // namespace wxtoken::sandbox
