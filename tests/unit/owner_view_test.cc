// The operations view of the refresh engine (DESIGN.md "Operations"), with
// a fake clock and upstream: each owner's state says whose move it is, and
// ListOwners pages in key order, filtered, bounded.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/token/refresh_engine.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"
#include "tests/fakes/fake_upstream.h"

namespace wxtoken::server {
namespace {

using ::testing::ElementsAre;
using testing::FakeClock;
using testing::FakeStateStore;
using testing::FakeUpstream;
using ::testing::HasSubstr;

class NoHealth final : public HealthSink {
 public:
  void SetAppServing(const std::string&, bool) override {}
  void SetAllAppsServing(bool) override {}
  void SetStartupDone() override {}
};

class OwnerViewTest : public ::testing::Test {
 protected:
  // Quota polls (requests of their own) only where a test asks for them.
  OwnerViewTest() { config_.quota.poll_interval = absl::ZeroDuration(); }
  // Apps wxapp0 .. wxapp<count - 1>, each with a first request sent.
  void StartApps(int count) {
    for (int i = 0; i < count; ++i) {
      AppConfig app;
      app.app_id = absl::StrCat("wxapp", i);
      app.secret = "secret";
      config_.apps.push_back(app);
    }
    table_ = std::make_unique<TokenTable>(
        RefreshEngine::TableEntries(config_),
        CacheLimits{config_.refresh.client_max_cache, config_.refresh.overlap});
    engine_ =
        std::make_unique<RefreshEngine>(config_, clock_, upstream_, *table_,
                                        store_, health_, [] { return 1.0; });
    engine_->Start();
    Pump();
  }
  void Pump() {
    for (int i = 0; i < 20; ++i) {
      store_.CompleteAll();
      engine_->RunDue();
    }
  }
  OwnerView Describe(const std::string& app_id) {
    std::optional<OwnerView> view = engine_->DescribeOwner(app_id);
    EXPECT_TRUE(view.has_value()) << app_id;
    return view.value_or(OwnerView{});
  }
  std::string Get(const std::string& app_id) {
    absl::StatusOr<Token> token =
        table_->Get(app_id, TokenKind::kAccessToken, clock_.SteadyNow());
    return token.ok() ? token->value : "";
  }
  int CountQuotaPolls(size_t from) const {
    int polls = 0;
    for (size_t i = from; i < upstream_.started().size(); ++i) {
      if (upstream_.started()[i].api == FetchApi::kQuotaGet) ++polls;
    }
    return polls;
  }
  static std::vector<std::string> Keys(const OwnerPage& page) {
    std::vector<std::string> keys;
    for (const OwnerView& owner : page.owners) keys.push_back(owner.app_id);
    return keys;
  }

  Config config_;
  FakeClock clock_;
  FakeUpstream upstream_;
  FakeStateStore store_;
  NoHealth health_;
  std::unique_ptr<TokenTable> table_;
  std::unique_ptr<RefreshEngine> engine_;
};

TEST_F(OwnerViewTest, EachStateSaysWhatIsWrong) {
  StartApps(3);
  ASSERT_EQ(upstream_.InFlight(), 3);
  // wxapp0: fetched; wxapp1: its IP refused; wxapp2: its secret refused.
  // Requests due together go in no set order.
  std::string value;
  while (upstream_.InFlight() > 0) {
    const std::string app_id = upstream_.front().app_id;
    if (app_id == "wxapp0") {
      value = upstream_.Succeed();
    } else if (app_id == "wxapp1") {
      upstream_.FailFromIp(40164, "203.0.113.7");
    } else {
      upstream_.Fail(FailureClass::kPermanent, 40125);
    }
  }
  Pump();

  const OwnerView serving = Describe("wxapp0");
  EXPECT_EQ(serving.state, OwnerState::kServing);
  ASSERT_EQ(serving.kinds.size(), 1u);
  EXPECT_EQ(serving.kinds[0].generation, 1u);
  EXPECT_EQ(serving.kinds[0].fingerprint, Fingerprint(value));
  EXPECT_EQ(serving.kinds[0].fetched_at, clock_.Now());
  EXPECT_EQ(serving.kinds[0].expires_at, clock_.Now() + absl::Hours(2));
  EXPECT_GT(serving.kinds[0].servable_until, clock_.Now());
  EXPECT_GT(serving.kinds[0].next_request, clock_.Now());
  EXPECT_FALSE(serving.kinds[0].last_error);
  EXPECT_EQ(serving.fetches_today, 1);
  EXPECT_EQ(serving.daily_budget, 1900);

  const OwnerView blocked = Describe("wxapp1");
  EXPECT_EQ(blocked.state, OwnerState::kWhitelistBlocked);
  ASSERT_TRUE(blocked.kinds[0].last_error);
  EXPECT_EQ(blocked.kinds[0].last_error->errcode, 40164);
  EXPECT_EQ(blocked.kinds[0].last_error->egress_ip, "203.0.113.7");
  EXPECT_EQ(blocked.kinds[0].last_error->at, clock_.Now());
  EXPECT_EQ(blocked.kinds[0].fingerprint, "");
  EXPECT_THAT(blocked.kinds[0].why, HasSubstr("203.0.113.7"));

  EXPECT_EQ(Describe("wxapp2").state, OwnerState::kCredentialError);
  EXPECT_FALSE(engine_->DescribeOwner("wxnobody").has_value());

  // Fixed: the next attempt succeeds and the error is gone.
  clock_.AdvanceTime(config_.refresh.permanent_retry);
  Pump();
  while (upstream_.InFlight() > 0) upstream_.Succeed();
  Pump();
  EXPECT_EQ(Describe("wxapp1").state, OwnerState::kServing);
  EXPECT_FALSE(Describe("wxapp1").kinds[0].last_error);
}

TEST_F(OwnerViewTest, ASpentBudgetIsQuotaExhausted) {
  config_.refresh.daily_budget = 1;
  config_.refresh.force_budget = 1;
  StartApps(1);
  upstream_.TimeOut();  // spent the one fetch of the day
  Pump();
  clock_.AdvanceTime(absl::Minutes(1));
  Pump();
  const OwnerView view = Describe("wxapp0");
  EXPECT_EQ(view.state, OwnerState::kQuotaExhausted);
  EXPECT_EQ(view.fetches_today, 1);
  EXPECT_EQ(view.daily_budget, 1);
  EXPECT_THAT(view.kinds[0].why, HasSubstr("daily_budget"));
}

TEST_F(OwnerViewTest, PagesAreInKeyOrderFilteredAndBounded) {
  StartApps(12);
  // Half serve, half wait.
  for (int i = 0; i < 6; ++i) upstream_.Succeed();
  Pump();

  OwnerQuery query;
  query.limit = 5;
  OwnerPage page = engine_->ListOwners(query);
  EXPECT_THAT(Keys(page),
              ElementsAre("wxapp0", "wxapp1", "wxapp10", "wxapp11", "wxapp2"));
  EXPECT_TRUE(page.more);
  query.after = page.owners.back().app_id;
  page = engine_->ListOwners(query);
  EXPECT_THAT(Keys(page),
              ElementsAre("wxapp3", "wxapp4", "wxapp5", "wxapp6", "wxapp7"));
  query.after = page.owners.back().app_id;
  page = engine_->ListOwners(query);
  EXPECT_THAT(Keys(page), ElementsAre("wxapp8", "wxapp9"));
  EXPECT_FALSE(page.more);

  // The first six requests went to wxapp0..wxapp5 (in start order).
  query = OwnerQuery{};
  query.state = OwnerState::kServing;
  query.limit = 100;
  std::vector<std::string> serving = Keys(engine_->ListOwners(query));
  EXPECT_EQ(serving.size(), 6u);
  query.state = OwnerState::kNoToken;
  EXPECT_EQ(engine_->ListOwners(query).owners.size(), 6u);

  query = OwnerQuery{};
  query.prefix = "wxapp1";
  EXPECT_THAT(Keys(engine_->ListOwners(query)),
              ElementsAre("wxapp1", "wxapp10", "wxapp11"));
  query.visible = [](const std::string& app_id) { return app_id != "wxapp10"; };
  EXPECT_THAT(Keys(engine_->ListOwners(query)),
              ElementsAre("wxapp1", "wxapp11"));
  query.limit = 0;
  page = engine_->ListOwners(query);
  EXPECT_TRUE(page.owners.empty());
  EXPECT_TRUE(page.more);
}

class QuotaObserver final : public RefreshObserver {
 public:
  void OnQuota(const std::string& app_id, const std::string& cgi_path,
               const QuotaView& quota) override {
    seen[app_id + " " + cgi_path] = quota.used;
  }
  std::map<std::string, int64_t> seen;
};

// DESIGN.md "Operations": every poll_interval, WeChat's own count of each
// token endpoint an owner uses, asked with its own token, one at a time;
// nothing budgeted, nothing revoked.
TEST_F(OwnerViewTest, QuotaIsPolledWithEachOwnersTokenEveryInterval) {
  config_.quota.poll_interval = absl::Minutes(30);
  StartApps(2);
  QuotaObserver observer;
  engine_->SetObserver(&observer);
  while (upstream_.InFlight() > 0) upstream_.Succeed();
  Pump();
  const size_t before = upstream_.started().size();
  // The first round comes a minute after the start.
  clock_.AdvanceTime(absl::Seconds(59));
  Pump();
  EXPECT_EQ(upstream_.started().size(), before);
  clock_.AdvanceTime(absl::Seconds(1));
  Pump();
  // One request at a time, each with the owner's own token.
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(upstream_.InFlight(), 1);
    const FetchRequest asked = upstream_.front();
    EXPECT_EQ(asked.api, FetchApi::kQuotaGet);
    EXPECT_EQ(asked.cgi_path, "/cgi-bin/token");
    EXPECT_EQ(asked.access_token, Get(asked.app_id));
    FetchResult answer;
    answer.quota_daily_limit = 2000;
    answer.quota_used = 7 + i;
    answer.quota_remain = 1993 - i;
    upstream_.Complete(answer);
    Pump();
    EXPECT_EQ(observer.seen[asked.app_id + " /cgi-bin/token"], 7 + i);
  }
  // Not a fetch: no budget spent, the token unchanged.
  EXPECT_EQ(Describe("wxapp0").fetches_today, 1);
  EXPECT_EQ(Describe("wxapp0").kinds[0].generation, 1u);
  // The next round, poll_interval after this one began; none before.
  const size_t after_round = upstream_.started().size();
  EXPECT_EQ(CountQuotaPolls(before), 2);
  clock_.AdvanceTime(absl::Minutes(30) - absl::Seconds(1));
  Pump();
  EXPECT_EQ(CountQuotaPolls(after_round), 0);
  clock_.AdvanceTime(absl::Seconds(1));
  Pump();
  EXPECT_EQ(CountQuotaPolls(after_round), 1);
}

TEST(OwnerStateNameTest, NamesRoundTrip) {
  for (int i = 0; i < kOwnerStateCount; ++i) {
    const OwnerState state = static_cast<OwnerState>(i);
    EXPECT_EQ(OwnerStateFromName(OwnerStateName(state)), state);
  }
  EXPECT_EQ(OwnerStateName(OwnerState::kWhitelistBlocked), "whitelist_blocked");
  EXPECT_FALSE(OwnerStateFromName("Serving").has_value());
}

}  // namespace
}  // namespace wxtoken::server
