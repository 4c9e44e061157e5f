// The refresh engine as one of several replicas sharing a store (DESIGN.md
// "Replicas"): followers send nothing and serve what they read only while
// their last read says they may; the leader sends only while its lease
// outlives the request; a store that lost writes gets them back.
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/token/refresh_engine.h"
#include "server/token/state_record.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"
#include "tests/fakes/fake_upstream.h"

namespace wxtoken::server {
namespace {

using testing::FakeClock;
using testing::FakeStateStore;
using testing::FakeUpstream;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kApp[] = "wx0123456789abcdef";

class Health final : public HealthSink {
 public:
  void SetAppServing(const std::string&, bool serving) override {
    app = serving;
  }
  void SetAllAppsServing(bool) override {}
  void SetStartupDone() override { ++startup_done; }
  void SetLeader(bool is_leader) override { leader = is_leader; }
  bool app = false;
  int startup_done = 0;
  std::optional<bool> leader;
};

class ReplicaEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AppConfig app;
    app.app_id = kApp;
    app.secret = "s";
    config_.apps.push_back(app);
    store_.shared = true;
    table_ = std::make_unique<TokenTable>(
        RefreshEngine::TableEntries(config_),
        CacheLimits{config_.refresh.client_max_cache, config_.refresh.overlap});
    engine_ =
        std::make_unique<RefreshEngine>(config_, clock_, upstream_, *table_,
                                        store_, health_, [] { return 1.0; });
  }
  void Pump() {
    for (int i = 0; i < 100 && (store_.pending() > 0 || i == 0); ++i) {
      store_.CompleteAll();
      engine_->RunDue();
    }
  }
  // What the leader wrote: a record of kApp with one access token.
  AppRecord Record(const std::string& value, uint64_t generation,
                   absl::Duration age = absl::Minutes(1),
                   std::optional<absl::Duration> intent_age = std::nullopt,
                   uint64_t epoch = 0) {
    AppRecord record;
    record.app_id = kApp;
    TokenState state;
    state.value = value;
    state.generation = generation;
    state.epoch = epoch;
    state.fetched = clock_.InstantNow() - age;
    state.expires = state.fetched + absl::Hours(2);
    if (intent_age) state.intent = clock_.InstantNow() - *intent_age;
    record.tokens.push_back(ToTokenRecord(TokenKind::kAccessToken, state));
    return record;
  }
  // Leads (epoch 1) and sends a refresh of "old".
  void LeadWithARequestInFlight() {
    engine_->Start();
    engine_->OnLeader({Record("old", 2, absl::Minutes(115))}, /*epoch=*/1,
                      clock_.SteadyNow(), clock_.SteadyNow());
    Pump();
    ASSERT_EQ(upstream_.InFlight(), 1);
  }
  // Leads, sends a refresh of "old", loses the lease and takes it again
  // (reading "other") while that request is in flight.
  void LeadAgainWithARequestInFlight() {
    ASSERT_NO_FATAL_FAILURE(LeadWithARequestInFlight());
    engine_->OnFollower();
    engine_->OnLeader({Record("other", 5, absl::Seconds(1))}, /*epoch=*/1,
                      clock_.SteadyNow(), clock_.SteadyNow());
  }
  absl::StatusOr<Token> Get() {
    return table_->Get(kApp, TokenKind::kAccessToken, clock_.SteadyNow());
  }

  Config config_;
  FakeClock clock_;
  FakeUpstream upstream_;
  FakeStateStore store_;
  Health health_;
  std::unique_ptr<TokenTable> table_;
  std::unique_ptr<RefreshEngine> engine_;
};

TEST_F(ReplicaEngineTest, AFollowerSendsNothingAndServesWhatItRead) {
  store_.durable[kApp] = Record("from-the-leader", 4);
  engine_->Start();
  Pump();
  EXPECT_EQ(store_.listener, engine_.get());
  EXPECT_EQ(upstream_.started().size(), 0u);
  EXPECT_EQ(health_.startup_done, 1) << "a replica's start is its first read";
  auto token = Get();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "from-the-leader");
  EXPECT_EQ(token->generation, 4u);
  EXPECT_EQ(token->max_cache, absl::Minutes(4));
  // Hours later, with no refresh of its own, it still sends nothing.
  clock_.AdvanceTime(absl::Hours(3));
  engine_->RunDue();
  EXPECT_EQ(upstream_.started().size(), 0u);
}

TEST_F(ReplicaEngineTest, AFollowerCutOffRunsItsMaxCacheDown) {
  engine_->Start();
  const SteadyTime read = clock_.SteadyNow();
  engine_->OnRecords({Record("v", 1)}, ReadKind::kAll, read, read);
  ASSERT_TRUE(Get().ok());
  // No read confirms the record any more (Redis unreachable): the value it
  // read stays valid for overlap after the read began, less a margin.
  clock_.AdvanceTime(absl::Minutes(2));
  EXPECT_EQ(Get()->max_cache,
            config_.refresh.overlap - kReplicaSafety - absl::Minutes(2));
  clock_.AdvanceTime(config_.refresh.overlap - kReplicaSafety -
                     absl::Minutes(2) - absl::Milliseconds(1));
  EXPECT_TRUE(Get().ok());
  clock_.AdvanceTime(absl::Milliseconds(1));
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
  engine_->RunDue();
  EXPECT_FALSE(health_.app) << "the app's health follows the token";
  // A new read brings it back.
  engine_->OnRecords({Record("v", 1)}, ReadKind::kAll, clock_.SteadyNow(),
                     clock_.SteadyNow());
  EXPECT_EQ(Get()->max_cache, absl::Minutes(4));
  EXPECT_TRUE(health_.app);
}

TEST_F(ReplicaEngineTest, ANewLeaderWaitsThenRefreshesOnlyWhileItsLeaseAllows) {
  engine_->Start();
  const SteadyTime now = clock_.SteadyNow();
  // A token past its refresh time: due at once, but not before
  // first_request_at.
  engine_->OnLeader({Record("old", 2, absl::Minutes(115))}, /*epoch=*/1, now,
                    now + absl::Seconds(3));
  EXPECT_EQ(health_.leader, true);
  Pump();
  EXPECT_EQ(upstream_.started().size(), 0u);
  clock_.AdvanceTime(absl::Seconds(3));
  store_.may_send = false;  // the lease would end before the answer
  Pump();
  EXPECT_EQ(upstream_.started().size(), 0u);
  store_.may_send = true;
  clock_.AdvanceTime(absl::Milliseconds(200));
  Pump();
  ASSERT_EQ(upstream_.started().size(), 1u);
  upstream_.Succeed();
  Pump();
  EXPECT_EQ(Get()->generation, 3u);
  EXPECT_EQ(store_.modes.back(), StateStore::WriteMode::kLeader);
}

TEST_F(ReplicaEngineTest, LosingTheLeaseStopsRequestsAndDiscardsLateAnswers) {
  ASSERT_NO_FATAL_FAILURE(LeadWithARequestInFlight());
  ForceRefreshCommand command;
  command.app_id = kApp;
  std::optional<absl::Status> answer;
  command.done = [&](absl::StatusOr<ForceRefreshReply> reply) {
    answer = reply.status();
  };
  engine_->ForceRefresh(std::move(command));  // joins the request in flight
  EXPECT_FALSE(answer);
  const int writes = store_.writes;
  engine_->OnFollower();
  EXPECT_EQ(health_.leader, false);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->code(), absl::StatusCode::kUnavailable);
  upstream_.Succeed();  // the late answer
  Pump();
  EXPECT_EQ(store_.writes, writes) << "nothing written without the lease";
  EXPECT_EQ(Get()->value, "old");
  clock_.AdvanceTime(absl::Hours(1));
  Pump();
  EXPECT_EQ(upstream_.started().size(), 1u);
}

TEST_F(ReplicaEngineTest, WhatTheStoreLostIsWrittenBack) {
  engine_->Start();
  engine_->OnRecords({Record("v", 7)}, ReadKind::kAll, clock_.SteadyNow(),
                     clock_.SteadyNow());
  Pump();
  const int writes = store_.writes;
  // Redis restarted empty: the next read finds nothing.
  engine_->OnRecords({}, ReadKind::kAfterLoss, clock_.SteadyNow(),
                     clock_.SteadyNow());
  ASSERT_EQ(store_.pending(), 1u);
  EXPECT_EQ(store_.modes.back(), StateStore::WriteMode::kHeal);
  store_.CompleteAll();
  EXPECT_EQ(store_.writes, writes + 1);
  ASSERT_EQ(store_.durable.at(kApp).tokens.size(), 1u);
  EXPECT_EQ(store_.durable.at(kApp).tokens[0].generation, 7u);
  // A later fetch from the leader is simply taken.
  engine_->OnRecords({Record("w", 8, absl::Seconds(30))}, ReadKind::kChanges,
                     clock_.SteadyNow(), clock_.SteadyNow());
  EXPECT_EQ(store_.pending(), 0u);
  EXPECT_EQ(Get()->value, "w");
}

TEST_F(ReplicaEngineTest, TheLeadersRenewalsKeepItsMaxCacheFull) {
  engine_->Start();
  engine_->OnLeader({Record("v", 1)}, /*epoch=*/1, clock_.SteadyNow(),
                    clock_.SteadyNow());
  clock_.AdvanceTime(absl::Minutes(3));
  EXPECT_LT(Get()->max_cache, absl::Minutes(4));
  engine_->OnConfirmed(clock_.SteadyNow());
  EXPECT_EQ(Get()->max_cache, absl::Minutes(4));
}

TEST_F(ReplicaEngineTest, AGenerationTheStoreAssignedIsTaken) {
  engine_->Start();
  engine_->OnLeader({Record("old", 2, absl::Minutes(115))}, /*epoch=*/1,
                    clock_.SteadyNow(), clock_.SteadyNow());
  Pump();
  upstream_.SucceedWith("new", absl::Hours(2));
  ASSERT_EQ(store_.pending(), 1u);
  // The store held a generation this replica never saw: it assigns 9.
  store_.AssignGeneration(TokenKind::kAccessToken, 9);
  store_.CompleteAll();
  EXPECT_EQ(Get()->value, "new");
  EXPECT_EQ(Get()->generation, 9u);
}

// The store keeps a later token a leader has not read yet rather than its
// write (the Redis write script): the leader's own fetches carry its lease's
// epoch, so they always count as later than anything stored before.
TEST_F(ReplicaEngineTest, ALeadersFetchCarriesItsLeasesEpoch) {
  engine_->Start();
  engine_->OnLeader({Record("old", 2, absl::Minutes(115), std::nullopt, 3)},
                    /*epoch=*/7, clock_.SteadyNow(), clock_.SteadyNow());
  Pump();
  upstream_.SucceedWith("new", absl::Hours(2));
  store_.CompleteAll();
  ASSERT_EQ(Get()->value, "new");
  EXPECT_EQ(store_.durable[kApp].tokens[0].epoch, 7u);
}

TEST_F(ReplicaEngineTest, AnAppTheLeaderLacksIsNotServingAndSaysWhy) {
  engine_->Start();
  engine_->OnRecords({Record("v", 1)}, ReadKind::kAll, clock_.SteadyNow(),
                     clock_.SteadyNow());
  ASSERT_TRUE(health_.app);
  engine_->OnUnservedApps({kApp, "wx-not-configured-here"});
  EXPECT_FALSE(health_.app) << "nothing refreshes it";
  EXPECT_TRUE(Get().ok()) << "its value is still valid";
  clock_.AdvanceTime(config_.refresh.overlap);
  EXPECT_THAT(Get().status().message(),
              HasSubstr("the leader replica does not have this app "
                        "configured"));
  // The leader's config catches up.
  engine_->OnUnservedApps({});
  EXPECT_THAT(Get().status().message(), Not(HasSubstr("leader replica")));
  engine_->OnRecords({Record("v", 1)}, ReadKind::kAll, clock_.SteadyNow(),
                     clock_.SteadyNow());
  EXPECT_TRUE(health_.app);
  // A leader has every app it serves.
  engine_->OnUnservedApps({kApp});
  engine_->OnLeader({Record("v", 1)}, /*epoch=*/1, clock_.SteadyNow(),
                    clock_.SteadyNow());
  EXPECT_TRUE(health_.app);
}

// A read that brings a token of an old, higher epoch (healed back after
// Redis lost its data), fetched later by a clock running ahead, does not
// replace the leader's own fetch of this term: that one came later.
TEST_F(ReplicaEngineTest, TheLeadersOwnFetchStandsAgainstAHealOfAnOldEpoch) {
  engine_->Start();
  engine_->OnLeader({Record("old", 2, absl::Minutes(115), std::nullopt, 1)},
                    /*epoch=*/2, clock_.SteadyNow(), clock_.SteadyNow());
  Pump();
  upstream_.SucceedWith("mine", absl::Hours(2));
  store_.CompleteAll();
  ASSERT_EQ(Get()->value, "mine");
  const int writes = store_.writes;
  clock_.AdvanceTime(absl::Seconds(1));  // a read begun after the write
  engine_->OnRecords(
      {Record("healed", 9, -absl::Minutes(1), std::nullopt, /*epoch=*/7)},
      ReadKind::kAfterLoss, clock_.SteadyNow(), clock_.SteadyNow());
  Pump();
  EXPECT_EQ(Get()->value, "mine");
  EXPECT_GT(store_.writes, writes) << "written back over the heal";
  EXPECT_EQ(store_.durable[kApp].tokens[0].value, "mine");
}

// An app removed while its request was out: its state no longer follows
// the store, so a late answer in a new term cannot be judged and is not
// kept.
TEST_F(ReplicaEngineTest, ALateAnswerOfARemovedAppIsNotKept) {
  ASSERT_NO_FATAL_FAILURE(LeadWithARequestInFlight());
  engine_->RemoveApp(kApp);
  engine_->OnFollower();
  engine_->OnLeader({store_.durable[kApp]}, /*epoch=*/3, clock_.SteadyNow(),
                    clock_.SteadyNow());
  upstream_.SucceedWith("late", absl::Hours(2));
  Pump();
  EXPECT_NE(store_.durable[kApp].tokens[0].value, "late");
}

TEST_F(ReplicaEngineTest, AFollowerAnswersForceRefreshNotTheLeader) {
  engine_->Start();
  ForceRefreshCommand command;
  command.app_id = kApp;
  std::optional<absl::Status> answer;
  command.done = [&](absl::StatusOr<ForceRefreshReply> reply) {
    answer = reply.status();
  };
  engine_->ForceRefresh(std::move(command));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(answer->message(), HasSubstr("leader"));
}

// After lost writes generations restart (epochs never do): the fetch that
// came later by the clock and the lease wins, whatever its generation, and
// the earlier one is never put back.
TEST_F(ReplicaEngineTest, ALaterFetchWinsOverAHigherGeneration) {
  engine_->Start();
  engine_->OnRecords({Record("x", 11, absl::Minutes(2), std::nullopt, 1)},
                     ReadKind::kAfterLoss, clock_.SteadyNow(),
                     clock_.SteadyNow());
  engine_->OnRecords({Record("y", 1, absl::Seconds(30), std::nullopt, 2)},
                     ReadKind::kAfterLoss, clock_.SteadyNow(),
                     clock_.SteadyNow());
  EXPECT_EQ(Get()->value, "y");
  EXPECT_EQ(store_.pending(), 0u);
  // A store holding the earlier fetch lost ours: we write ours back.
  engine_->OnRecords({Record("x", 11, absl::Minutes(2), std::nullopt, 1)},
                     ReadKind::kAfterLoss, clock_.SteadyNow(),
                     clock_.SteadyNow());
  EXPECT_EQ(Get()->value, "y");
  ASSERT_EQ(store_.pending(), 1u);
  EXPECT_EQ(store_.modes.back(), StateStore::WriteMode::kHeal);
  EXPECT_FALSE(store_.durable.count(kApp) == 1 &&
               store_.durable.at(kApp).tokens[0].intent.has_value());
}

// Clocks and leases disagree on which fetch came later (a replica's clock
// runs ahead): the store's value stands, and ours, which WeChat may have
// issued after it, counts as a request that revokes it.
TEST_F(ReplicaEngineTest, WhenClockAndLeaseDisagreeTheOtherFetchIsAnIntent) {
  engine_->Start();
  engine_->OnRecords({Record("mine", 3, absl::Seconds(30), std::nullopt, 1)},
                     ReadKind::kAll, clock_.SteadyNow(), clock_.SteadyNow());
  const absl::Time mine_fetched = clock_.Now() - absl::Seconds(30);
  // Fetched earlier by our clock, under a later lease.
  engine_->OnRecords({Record("theirs", 1, absl::Minutes(1), std::nullopt, 2)},
                     ReadKind::kAfterLoss, clock_.SteadyNow(),
                     clock_.SteadyNow());
  auto token = Get();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "theirs");
  // Valid until our fetch + overlap at the latest, less the safety margin.
  EXPECT_LE(clock_.Now() + token->max_cache,
            mine_fetched + config_.refresh.overlap);
  // The intent goes to the store.
  ASSERT_EQ(store_.pending(), 1u);
  store_.CompleteAll();
  ASSERT_TRUE(store_.durable.at(kApp).tokens[0].intent.has_value());
  EXPECT_EQ(absl::ToUnixMicros(*store_.durable.at(kApp).tokens[0].intent),
            absl::ToUnixMicros(mine_fetched));
  EXPECT_EQ(store_.durable.at(kApp).tokens[0].value, "theirs");
}

// A follower reading a store that lost nothing takes the leader's copy as
// it is: an intent the leader lifted is not written back.
TEST_F(ReplicaEngineTest, AFollowersCompleteReadTakesTheLeadersClearedIntent) {
  engine_->Start();
  engine_->OnRecords({Record("v", 1, absl::Minutes(1), absl::Seconds(40))},
                     ReadKind::kChanges, clock_.SteadyNow(),
                     clock_.SteadyNow());
  EXPECT_LE(Get()->max_cache, absl::Minutes(4));
  // Reconnected (a complete read), the intent is gone: lifted by the leader.
  engine_->OnRecords({Record("v", 1)}, ReadKind::kAll, clock_.SteadyNow(),
                     clock_.SteadyNow());
  EXPECT_EQ(store_.pending(), 0u) << "nothing written back";
  EXPECT_EQ(Get()->max_cache, absl::Minutes(4));
  // Only a read after lost writes merges.
  engine_->OnRecords({Record("v", 1, absl::Minutes(1), absl::Seconds(40))},
                     ReadKind::kChanges, clock_.SteadyNow(),
                     clock_.SteadyNow());
  engine_->OnRecords({Record("v", 1)}, ReadKind::kAfterLoss, clock_.SteadyNow(),
                     clock_.SteadyNow());
  EXPECT_EQ(store_.pending(), 1u) << "the intent written back";
}

// A follower's incremental read brings the leader's newer token even when
// this replica's own clock would call it older.
TEST_F(ReplicaEngineTest, AFollowerTakesTheLeadersTokenWhateverItsClockSays) {
  engine_->Start();
  engine_->OnRecords({Record("a", 1, absl::Seconds(10), std::nullopt, 1)},
                     ReadKind::kAll, clock_.SteadyNow(), clock_.SteadyNow());
  engine_->OnRecords({Record("b", 2, absl::Seconds(20), std::nullopt, 1)},
                     ReadKind::kChanges, clock_.SteadyNow(),
                     clock_.SteadyNow());
  EXPECT_EQ(Get()->value, "b");
  EXPECT_EQ(store_.pending(), 0u);
}

// A replica re-wrote an intent the new leader never read: the leader takes
// it from its next read and refreshes in time.
TEST_F(ReplicaEngineTest, TheLeaderTakesAnIntentAnotherReplicaRewrote) {
  engine_->Start();
  engine_->OnLeader({Record("v", 1, absl::Minutes(4))}, /*epoch=*/1,
                    clock_.SteadyNow(), clock_.SteadyNow());
  Pump();
  EXPECT_EQ(upstream_.started().size(), 0u) << "v is fresh";
  clock_.AdvanceTime(absl::Seconds(1));
  engine_->OnRecords({Record("v", 1, absl::Minutes(4), absl::Minutes(3))},
                     ReadKind::kChanges, clock_.SteadyNow(),
                     clock_.SteadyNow());
  // Revoked 5 minutes after the intent: 2 minutes from now.
  EXPECT_LE(Get()->max_cache, absl::Minutes(2));
  Pump();
  EXPECT_EQ(upstream_.started().size(), 1u);
}

// The store merged another replica's intent into a leader write: the
// leader takes it, and its next write names it as seen.
TEST_F(ReplicaEngineTest, ALeaderTakesAnIntentTheStoreMergedIntoItsWrite) {
  engine_->Start();
  engine_->OnLeader({Record("v", 1, absl::Minutes(4))}, /*epoch=*/1,
                    clock_.SteadyNow(), clock_.SteadyNow());
  Pump();
  const absl::Time foreign = clock_.Now() - absl::Minutes(3);
  ForceRefreshCommand command;
  command.app_id = kApp;
  command.stale_value = "v";
  command.wechat_errcode = 40001;
  command.done = [](absl::StatusOr<ForceRefreshReply>) {};
  engine_->ForceRefresh(std::move(command));
  engine_->RunDue();
  ASSERT_EQ(store_.pending(), 1u) << "the intent of the ForceRefresh";
  store_.CompleteAll();
  ASSERT_EQ(upstream_.InFlight(), 1);
  // A clean errcode: nothing issued, the intent is lifted.
  upstream_.Fail(FailureClass::kTransient, -1);
  ASSERT_EQ(store_.pending(), 1u) << "the intent lifted";
  store_.MergeIntent(TokenKind::kAccessToken, foreign);
  store_.CompleteAll();
  // Revoked 5 minutes after the merged intent: 2 minutes from now.
  EXPECT_LE(Get()->max_cache, absl::Minutes(2));
  // The retry's write names it as what it saw stored.
  clock_.AdvanceTime(absl::Seconds(2));
  Pump();
  const auto& seen = store_.durable.at(kApp).tokens[0].seen_intents;
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [&](const auto& intent) {
    return intent.earliest &&
           absl::ToUnixMicros(*intent.earliest) == absl::ToUnixMicros(foreign);
  }));
}

// Lease lost and taken again while a request was in flight: its answer
// belongs to the earlier term and is not stored over what came since.
TEST_F(ReplicaEngineTest, AnAnswerOfAnEarlierLeaseTermIsDiscarded) {
  ASSERT_NO_FATAL_FAILURE(LeadAgainWithARequestInFlight());
  upstream_.Succeed();
  Pump();
  EXPECT_EQ(Get()->value, "other");
  // The slot is scheduled again: "other" is refreshed in its time.
  clock_.AdvanceTime(absl::Hours(2));
  Pump();
  EXPECT_EQ(upstream_.started().size(), 2u);
}

// The lease lapsed and came back to the same replica, and nobody sent
// anything meanwhile: the late answer is the newest token and is kept (a
// discarded one would cost a fetch, and the value WeChat counted).
TEST_F(ReplicaEngineTest, AnAnswerAfterTheLeaseCameBackWithNothingSentIsKept) {
  ASSERT_NO_FATAL_FAILURE(LeadWithARequestInFlight());
  engine_->OnFollower();
  // What the store holds: "old" and the request's own intent.
  engine_->OnLeader({store_.durable[kApp]}, /*epoch=*/3, clock_.SteadyNow(),
                    clock_.SteadyNow());
  upstream_.SucceedWith("new", absl::Hours(2));
  Pump();
  ASSERT_TRUE(Get().ok());
  EXPECT_EQ(Get()->value, "new");
  EXPECT_EQ(store_.durable[kApp].tokens[0].value, "new");
  EXPECT_FALSE(store_.durable[kApp].tokens[0].intent) << "its own, answered";
  EXPECT_EQ(store_.durable[kApp].tokens[0].epoch, 1u) << "fetched under 1";
  // Nothing else goes out before "new" is due.
  clock_.AdvanceTime(absl::Hours(1));
  Pump();
  EXPECT_EQ(upstream_.started().size(), 1u);
}

// A ForceRefresh that joined a request of an earlier term is answered by
// a request of this one.
TEST_F(ReplicaEngineTest, AJoinedForceRefreshOutlivesADiscardedAnswer) {
  ASSERT_NO_FATAL_FAILURE(LeadAgainWithARequestInFlight());
  ForceRefreshCommand command;
  command.app_id = kApp;
  command.stale_value = "other";
  std::optional<absl::StatusOr<ForceRefreshReply>> answer;
  command.done = [&](absl::StatusOr<ForceRefreshReply> reply) {
    answer = std::move(reply);
  };
  engine_->ForceRefresh(std::move(command));
  upstream_.Succeed();  // the earlier term's answer: discarded
  Pump();
  EXPECT_FALSE(answer);
  clock_.AdvanceTime(config_.refresh.force_min_interval);
  Pump();
  ASSERT_EQ(upstream_.started().size(), 2u);
  upstream_.SucceedWith("newest", absl::Hours(2));
  Pump();
  ASSERT_TRUE(answer);
  ASSERT_TRUE(answer->ok()) << answer->status();
  EXPECT_EQ(Get()->value, "newest");
}

// Recording the request took so long that the lease was lost and taken
// again: it goes only once the new term may send.
TEST_F(ReplicaEngineTest, ARequestRecordedInAnEarlierTermWaitsForTheNewOne) {
  engine_->Start();
  engine_->OnLeader({Record("old", 2, absl::Minutes(115))}, /*epoch=*/1,
                    clock_.SteadyNow(), clock_.SteadyNow());
  engine_->RunDue();
  ASSERT_EQ(store_.pending(), 1u) << "the intent being recorded";
  engine_->OnFollower();
  engine_->OnLeader({Record("old", 2, absl::Minutes(115))}, /*epoch=*/1,
                    clock_.SteadyNow(), clock_.SteadyNow() + absl::Seconds(3));
  store_.CompleteAll();
  EXPECT_EQ(upstream_.started().size(), 0u);
  clock_.AdvanceTime(absl::Seconds(3));
  Pump();
  EXPECT_EQ(upstream_.started().size(), 1u);
}

// A first request that failed cleanly lifts its intent in the store too,
// though there is no value to write.
TEST_F(ReplicaEngineTest, ALiftedIntentWithoutAValueReachesTheStore) {
  engine_->Start();
  engine_->OnLeader({}, /*epoch=*/1, clock_.SteadyNow(), clock_.SteadyNow());
  Pump();
  ASSERT_EQ(upstream_.InFlight(), 1);
  ASSERT_TRUE(store_.durable.at(kApp).tokens[0].intent.has_value());
  upstream_.Fail(FailureClass::kTransient, -1);  // a clean errcode
  Pump();
  ASSERT_EQ(store_.durable.at(kApp).tokens.size(), 1u);
  EXPECT_FALSE(store_.durable.at(kApp).tokens[0].intent.has_value());
}

// Apps added by a reload (DESIGN.md "Configuration", Live changes): a
// replica already holds what the store has of them, and serves it once a
// read confirms it.
constexpr char kOtherApp[] = "wxfedcba9876543210";

AppConfig OtherApp() {
  AppConfig app;
  app.app_id = kOtherApp;
  app.secret = "other";
  return app;
}

TEST_F(ReplicaEngineTest, AFollowerServesAnAddedAppFromWhatItReadBefore) {
  engine_->Start();
  AppRecord theirs = Record("theirs", 3);
  theirs.app_id = kOtherApp;
  engine_->OnRecords({Record("v", 1), theirs}, ReadKind::kAll,
                     clock_.SteadyNow(), clock_.SteadyNow());
  clock_.AdvanceTime(absl::Seconds(1));
  engine_->AddApp(OtherApp());
  Pump();
  // Not confirmed by a read since it was added.
  auto token =
      table_->Get(kOtherApp, TokenKind::kAccessToken, clock_.SteadyNow());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  engine_->OnRecords({}, ReadKind::kChanges, clock_.SteadyNow(),
                     clock_.SteadyNow());
  token = table_->Get(kOtherApp, TokenKind::kAccessToken, clock_.SteadyNow());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "theirs");
  EXPECT_EQ(token->generation, 3u);
  EXPECT_EQ(upstream_.started().size(), 0u);
}

TEST_F(ReplicaEngineTest, TheLeaderFetchesAnAddedAppOnlyWhenTheStoreHasNone) {
  engine_->Start();
  AppRecord theirs = Record("theirs", 3);
  theirs.app_id = kOtherApp;
  engine_->OnLeader({Record("v", 1), theirs}, /*epoch=*/1, clock_.SteadyNow(),
                    clock_.SteadyNow());
  Pump();
  engine_->AddApp(OtherApp());
  Pump();
  EXPECT_EQ(upstream_.started().size(), 0u) << "the stored value is good";
  engine_->OnConfirmed(clock_.SteadyNow());
  EXPECT_EQ(table_->Get(kOtherApp, TokenKind::kAccessToken, clock_.SteadyNow())
                ->value,
            "theirs");
  AppConfig third = OtherApp();
  third.app_id = "wx1111111111111111";
  engine_->AddApp(third);
  Pump();
  ASSERT_EQ(upstream_.started().size(), 1u);
  EXPECT_EQ(upstream_.started()[0].app_id, third.app_id);
  EXPECT_EQ(store_.modes.back(), StateStore::WriteMode::kLeader);
}

// Review finding: a read after the store lost writes replaced the kept
// record of an unconfigured app with the store's older one, so adding the
// app served a value its later fetch had revoked.
TEST_F(ReplicaEngineTest, AReadAfterALossNeverTakesAKeptRecordBack) {
  engine_->Start();
  AppRecord later = Record("later", 2, absl::Minutes(1), std::nullopt, 2);
  later.app_id = kOtherApp;
  later.day = 1;
  later.fetches = 5;
  engine_->OnRecords({later}, ReadKind::kAll, clock_.SteadyNow(),
                     clock_.SteadyNow());
  AppRecord older = Record("older", 1, absl::Minutes(30), std::nullopt, 1);
  older.app_id = kOtherApp;
  engine_->OnRecords({older}, ReadKind::kAfterLoss, clock_.SteadyNow(),
                     clock_.SteadyNow());
  engine_->AddApp(OtherApp());
  engine_->OnRecords({}, ReadKind::kChanges, clock_.SteadyNow(),
                     clock_.SteadyNow());
  auto token =
      table_->Get(kOtherApp, TokenKind::kAccessToken, clock_.SteadyNow());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "later");
}

}  // namespace
}  // namespace wxtoken::server
