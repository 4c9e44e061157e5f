// The Redis store against a real redis-server (and redis-sentinel) on
// loopback: the lease, fenced writes, the max-generation register, what
// followers read, and what a Redis restarted empty or a failover does.
#include "server/store/redis_state_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/base/clock.h"
#include "server/token/inbox.h"
#include "tests/e2e/redis_process.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using wxtoken::testing::MakeTempDir;
using wxtoken::testing::RedisProcess;

// Bounds for a loaded 2-core machine; a good run is far quicker.
constexpr absl::Duration kWait = absl::Seconds(20);
constexpr absl::Duration kLeaseTtl = absl::Seconds(1);

// What a store tells the engine, as the engine would see it.
struct Heard : ReplicaListener {
  int leader = 0;
  int follower = 0;
  int reads = 0;
  int complete_reads = 0;
  int after_loss_reads = 0;
  int confirmed = 0;
  uint64_t epoch = 0;  // of the lease OnLeader named
  // What the last read started at and confirmed.
  SteadyTime read_start = SteadyTime::InfinitePast();
  SteadyTime read_confirmed = SteadyTime::InfinitePast();
  // What the first read after a loss started at and confirmed.
  SteadyTime after_loss_start = SteadyTime::InfinitePast();
  SteadyTime after_loss_confirmed = SteadyTime::InfinitePast();
  // Of OnLeader or the last read that returned any: a poll that finds no
  // change posts an empty read, and one may land right after the read the
  // test waits for, in the same batch of posted tasks.
  std::vector<AppRecord> records;

  void OnLeader(std::vector<AppRecord> read, uint64_t lease_epoch, SteadyTime,
                SteadyTime) override {
    ++leader;
    epoch = lease_epoch;
    if (!read.empty()) records = std::move(read);
  }
  void OnFollower() override { ++follower; }
  void OnRecords(std::vector<AppRecord> read, ReadKind kind, SteadyTime start,
                 SteadyTime confirmed) override {
    ++reads;
    complete_reads += kind != ReadKind::kChanges ? 1 : 0;
    if (kind == ReadKind::kAfterLoss && ++after_loss_reads == 1) {
      after_loss_start = start;
      after_loss_confirmed = confirmed;
    }
    read_start = start;
    read_confirmed = confirmed;
    if (!read.empty()) records = std::move(read);
  }
  void OnConfirmed(SteadyTime) override { ++confirmed; }
  void OnUnservedApps(std::vector<std::string> app_ids) override {
    unserved = std::move(app_ids);
    ++unserved_reports;
  }
  std::vector<std::string> unserved;
  int unserved_reports = 0;
};

// The system's clocks, with the wall clock `shift` ahead.
class ShiftedClock final : public Clock {
 public:
  explicit ShiftedClock(absl::Duration shift) : shift_(shift) {}
  absl::Time Now() const override { return system_.Now() + shift_; }
  SteadyTime SteadyNow() const override { return system_.SteadyNow(); }

 private:
  const absl::Duration shift_;
  SystemClock system_;
};

// One replica's store, with its listener and the tasks it posts, run on
// the test's thread as the worker would run them.
class Replica {
 public:
  Replica(const RedisConfig& config, const std::string& address,
          absl::Duration wall_shift = absl::ZeroDuration())
      : address_(address),
        clock_(wall_shift),
        inbox_([] {}),
        store_(std::make_unique<RedisStateStore>(
            config, address, absl::Milliseconds(100), absl::Milliseconds(100),
            clock_, [this](std::function<void()> task) {
              inbox_.Post(std::move(task));
            })) {
    store_->SetListener(&heard);
  }
  ~Replica() { Stop(); }

  std::vector<AppRecord> Load() { return store_->Load(); }
  void Stop() {
    store_.reset();
    RunPosted();
  }

  // Runs what the store posted until `done()`; false after kWait.
  bool RunUntil(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + kWait;
    while (true) {
      RunPosted();
      if (done()) return true;
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  // A write, waited for.
  absl::StatusOr<AppRecord> Write(const AppRecord& record,
                                  StateStore::WriteMode mode) {
    std::optional<absl::StatusOr<AppRecord>> result;
    store_->Write(record, mode,
                  [&](absl::StatusOr<AppRecord> r) { result = std::move(r); });
    EXPECT_TRUE(RunUntil([&] { return result.has_value(); }));
    if (!result) return absl::DeadlineExceededError("no answer");
    return *std::move(result);
  }

  RedisStateStore& store() { return *store_; }
  // What it advertises: which replica of a Pair() leads is a race.
  const std::string& address() const { return address_; }
  bool MaySend() const {
    return store_->MaySend(clock_.SteadyNow(), absl::Milliseconds(100));
  }

  Heard heard;

 private:
  void RunPosted() {
    for (auto& task : inbox_.Take()) task();
  }

  const std::string address_;
  ShiftedClock clock_;
  Inbox inbox_;
  std::unique_ptr<RedisStateStore> store_;
};

// A record of one access token fetched `fetched_after` past a fixed time.
AppRecord Record(const std::string& value, uint64_t generation,
                 std::optional<absl::Time> intent = std::nullopt,
                 absl::Duration fetched_after = absl::ZeroDuration(),
                 std::vector<SeenIntent> seen_intents = {},
                 uint64_t epoch = 0) {
  AppRecord record;
  record.app_id = "wx0123456789abcdef";
  record.day = 20261201;
  record.fetches = 3;
  TokenRecord token;
  token.value = value;
  token.generation = generation;
  token.epoch = epoch;
  token.fetched_at = absl::FromUnixSeconds(1764547200) + fetched_after;
  token.expires_at = token.fetched_at + absl::Hours(2);
  token.intent = intent;
  token.seen_intents = std::move(seen_intents);
  record.tokens.push_back(token);
  return record;
}

std::string MicrosText(absl::Time time) {
  return absl::StrCat(absl::ToUnixMicros(time));
}

class RedisStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_.StartServer(MakeTempDir("redis"));
    config_.addresses = {redis_.address()};
    config_.lease_ttl = kLeaseTtl;
  }

  std::string Field(const std::string& field) {
    auto value =
        redis_.Command({"HGET", "wxtoken:app:wx0123456789abcdef", field});
    return value.ok() ? value->string : "(error)";
  }

  // Makes two replicas; returns them as (leader, follower).
  std::pair<std::unique_ptr<Replica>, std::unique_ptr<Replica>> Pair() {
    auto a = std::make_unique<Replica>(config_, "127.0.0.1:1001");
    auto b = std::make_unique<Replica>(config_, "127.0.0.1:1002");
    a->Load();
    b->Load();
    EXPECT_TRUE(a->RunUntil([&] {
      b->RunUntil([] { return true; });
      return a->store().IsLeader() || b->store().IsLeader();
    }));
    if (b->store().IsLeader()) std::swap(a, b);
    return {std::move(a), std::move(b)};
  }

  RedisProcess redis_;
  RedisConfig config_;
};

TEST_F(RedisStateStoreTest, ExactlyOneReplicaLeadsAndSendsTheOthersKnowIt) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  ASSERT_TRUE(leader->RunUntil([&] { return leader->heard.leader == 1; }));
  EXPECT_TRUE(leader->MaySend());
  EXPECT_FALSE(follower->store().IsLeader());
  EXPECT_FALSE(follower->MaySend());
  // It learns the leader's address at its next attempt on the lease.
  EXPECT_TRUE(follower->RunUntil(
      [&] { return follower->store().LeaderAddress() == leader->address(); }));
  // Renewals keep it; each confirms the leader's copy.
  ASSERT_TRUE(leader->RunUntil([&] { return leader->heard.confirmed >= 3; }));
  EXPECT_TRUE(leader->store().IsLeader());
  EXPECT_FALSE(follower->store().IsLeader());
  EXPECT_EQ(follower->heard.leader, 0);
}

TEST_F(RedisStateStoreTest, FollowersReadTheLeadersWrites) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  absl::StatusOr<AppRecord> stored =
      leader->Write(Record("A", 1), StateStore::WriteMode::kLeader);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->tokens[0].generation, 1u);
  ASSERT_TRUE(follower->RunUntil([&] {
    return !follower->heard.records.empty() &&
           follower->heard.records[0].tokens[0].value == "A";
  }));
  const AppRecord& read = follower->heard.records[0];
  EXPECT_EQ(read.tokens[0].generation, 1u);
  EXPECT_EQ(read.tokens[0].expires_at, Record("A", 1).tokens[0].expires_at);
  EXPECT_EQ(read.fetches, 3);
  EXPECT_EQ(read.day, 20261201);
}

TEST_F(RedisStateStoreTest, OwnerStateIsTheLeadersAndAHealAddsOnlyWhatIsLost) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  AppRecord record = Record("A", 1);
  record.owner = {{"refresh_token", "v1:k:one"}, {"code", "v1:k:code"}};
  ASSERT_TRUE(leader->Write(record, StateStore::WriteMode::kLeader).ok());
  EXPECT_EQ(Field("owner.refresh_token"), "v1:k:one");
  ASSERT_TRUE(follower->RunUntil([&] {
    return !follower->heard.records.empty() &&
           follower->heard.records.back().owner.contains("code");
  }));
  EXPECT_EQ(follower->heard.records.back().owner, record.owner);
  // The leader's write replaces them all: one it leaves out is gone.
  record.owner = {{"refresh_token", "v1:k:two"}};
  ASSERT_TRUE(leader->Write(record, StateStore::WriteMode::kLeader).ok());
  EXPECT_EQ(Field("owner.refresh_token"), "v1:k:two");
  EXPECT_EQ(Field("owner.code"), "");
  // A heal never replaces what is stored; it adds what was lost.
  AppRecord heal = Record("A", 1);
  heal.owner = {{"refresh_token", "v1:k:old"}, {"revoked", "1"}};
  ASSERT_TRUE(follower->Write(heal, StateStore::WriteMode::kHeal).ok());
  EXPECT_EQ(Field("owner.refresh_token"), "v1:k:two");
  EXPECT_EQ(Field("owner.revoked"), "1");
}

// A WeCom corp's installation (its permanent code, given once, and its
// revocation) is replaced only by a later one, whoever writes.
TEST_F(RedisStateStoreTest, AnInstallationIsReplacedOnlyByALaterOne) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  auto write = [&](auto& replica, StateStore::WriteMode mode,
                   std::map<std::string, std::string> owner) {
    AppRecord record = Record("A", 1);
    record.owner = std::move(owner);
    ASSERT_TRUE(replica->Write(record, mode).ok());
  };
  using Mode = StateStore::WriteMode;
  write(leader, Mode::kLeader,
        {{"installed_at", "100"}, {"refresh_token", "v1:k:old"}});
  write(leader, Mode::kLeader,
        {{"installed_at", "100"},
         {"refresh_token", "v1:k:old"},
         {"revoked", "1"}});
  EXPECT_EQ(Field("owner.revoked"), "1");
  // A later one, from a replica that lost the lease before its write: it
  // replaces the code and drops the earlier one's revocation.
  write(follower, Mode::kHeal,
        {{"installed_at", "200"}, {"refresh_token", "v1:k:new"}});
  EXPECT_EQ(Field("owner.installed_at"), "200");
  EXPECT_EQ(Field("owner.refresh_token"), "v1:k:new");
  EXPECT_EQ(Field("owner.revoked"), "");
  // The earlier one again, from a leader that has not read it yet or a
  // stale heal: nothing of it comes back.
  write(leader, Mode::kLeader,
        {{"installed_at", "100"},
         {"refresh_token", "v1:k:old"},
         {"revoked", "1"}});
  write(follower, Mode::kHeal,
        {{"installed_at", "100"},
         {"refresh_token", "v1:k:old"},
         {"revoked", "1"}});
  // A writer that knows no installation either.
  write(leader, Mode::kLeader, {{"refresh_token", "v1:k:other"}});
  EXPECT_EQ(Field("owner.installed_at"), "200");
  EXPECT_EQ(Field("owner.refresh_token"), "v1:k:new");
  EXPECT_EQ(Field("owner.revoked"), "");
  // The same installation follows the usual rules: a revocation is added.
  write(follower, Mode::kHeal,
        {{"installed_at", "200"},
         {"refresh_token", "v1:k:new"},
         {"revoked", "1"}});
  EXPECT_EQ(Field("owner.revoked"), "1");
}

// Send-time lists (a WeCom app's hourly ticket budget): a heal merges its
// sends into the stored ones, so none the budget counts is lost.
TEST_F(RedisStateStoreTest, AHealMergesSendTimeLists) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  AppRecord record = Record("A", 1);
  record.owner = {{"ticket_hour", "1733500000000001,1733500000000005"}};
  ASSERT_TRUE(leader->Write(record, StateStore::WriteMode::kLeader).ok());
  AppRecord heal = Record("A", 1);
  heal.owner = {
      {"ticket_hour", "1733500000000001,1733500000000003,1733500000000009"}};
  ASSERT_TRUE(follower->Write(heal, StateStore::WriteMode::kHeal).ok());
  EXPECT_EQ(Field("owner.ticket_hour"),
            "1733500000000001,1733500000000003,1733500000000005,"
            "1733500000000009");
  // The leader's own list still replaces: it may prune and take back.
  record.owner = {{"ticket_hour", "1733500000000009"}};
  ASSERT_TRUE(leader->Write(record, StateStore::WriteMode::kLeader).ok());
  EXPECT_EQ(Field("owner.ticket_hour"), "1733500000000009");
}

TEST_F(RedisStateStoreTest, ANewFetchTakesTheNextGenerationWhateverItWasSent) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  ASSERT_TRUE(
      leader->Write(Record("A", 5), StateStore::WriteMode::kLeader).ok());
  // A leader that never saw generation 5 (a healer put it there) still
  // never reuses it.
  absl::StatusOr<AppRecord> stored =
      leader->Write(Record("B", 3), StateStore::WriteMode::kLeader);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->tokens[0].generation, 6u);
  EXPECT_EQ(Field("access_token.value"), "B");
  EXPECT_EQ(Field("access_token.generation"), "6");
}

TEST_F(RedisStateStoreTest, AHealReplacesOnlyWithAFetchLaterByClockAndLease) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  // "B" of an earlier lease (the current one's own fetches stand against
  // any heal: WhatTheCurrentLeaderFetchedStandsAgainstAnyHeal).
  const uint64_t epoch = leader->store().Replica()->epoch + 10;
  absl::StatusOr<AppRecord> written = leader->Write(
      Record("B", 1, std::nullopt, absl::ZeroDuration(), {}, epoch),
      StateStore::WriteMode::kLeader);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->tokens[0].epoch, epoch);
  EXPECT_EQ(absl::StrCat(epoch), Field("access_token.epoch"));
  // A replica's copy from before Redis lost its data: a higher generation,
  // but fetched earlier. It never overwrites the newer fetch.
  absl::StatusOr<AppRecord> older = follower->Write(
      Record("A", 11, std::nullopt, -absl::Minutes(1), {}, epoch + 1),
      StateStore::WriteMode::kHeal);
  ASSERT_TRUE(older.ok());
  EXPECT_EQ(older->tokens[0].value, "B") << "the writer learns what is kept";
  EXPECT_EQ(Field("access_token.value"), "B");
  // Later by its clock but of an earlier lease (its clock runs ahead):
  // the stored one stands.
  ASSERT_TRUE(
      follower
          ->Write(Record("S", 5, std::nullopt, absl::Minutes(1), {}, epoch - 1),
                  StateStore::WriteMode::kHeal)
          .ok());
  EXPECT_EQ(Field("access_token.value"), "B");
  // A copy later by both (a leader's write the store lost) is put back,
  // with a generation above the stored one.
  absl::StatusOr<AppRecord> later = follower->Write(
      Record("C", 1, std::nullopt, absl::Minutes(1), {}, epoch + 1),
      StateStore::WriteMode::kHeal);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(Field("access_token.value"), "C");
  EXPECT_EQ(later->tokens[0].generation, 2u);
  EXPECT_EQ(later->tokens[0].epoch, epoch + 1);
}

TEST_F(RedisStateStoreTest, ALeadersWriteKeepsALaterTokenItHasNotReadYet) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  const uint64_t epoch = leader->store().Replica()->epoch;
  ASSERT_TRUE(leader
                  ->Write(Record("A", 1, std::nullopt, absl::ZeroDuration(), {},
                                 epoch - 1),
                          StateStore::WriteMode::kLeader)
                  .ok());
  // A replica puts back "B", fetched later under an earlier lease (the
  // store lost it).
  ASSERT_TRUE(
      follower
          ->Write(Record("B", 2, std::nullopt, absl::Minutes(1), {}, epoch - 1),
                  StateStore::WriteMode::kHeal)
          .ok());
  ASSERT_EQ(Field("access_token.value"), "B");
  // The leader, before reading it, writes its older "A" again (a counter
  // changed): "B" stays, and the leader learns it from the answer instead
  // of fetching once more.
  absl::StatusOr<AppRecord> kept = leader->Write(
      Record("A", 1, std::nullopt, absl::ZeroDuration(), {}, epoch - 1),
      StateStore::WriteMode::kLeader);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->tokens[0].value, "B");
  EXPECT_EQ(kept->tokens[0].generation, 2u);
  EXPECT_EQ(Field("access_token.value"), "B");
  // Its own fetch in this lease replaces "B" even when its clock says it
  // came earlier: the lease orders it after anything stored.
  absl::StatusOr<AppRecord> own =
      leader->Write(Record("C", 2, std::nullopt, absl::Seconds(30), {}, epoch),
                    StateStore::WriteMode::kLeader);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(Field("access_token.value"), "C");
  EXPECT_EQ(own->tokens[0].generation, 3u);
  EXPECT_EQ(own->tokens[0].epoch, epoch);
}

TEST_F(RedisStateStoreTest, AFollowerLearnsWhichOfItsAppsTheLeaderLacks) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  leader->store().SetConfiguredApps({"wxa", "wxb"});
  follower->store().SetConfiguredApps({"wxc", "wxa", "wxd"});
  ASSERT_TRUE(follower->RunUntil([&] {
    return follower->heard.unserved == std::vector<std::string>{"wxc", "wxd"};
  }));
  EXPECT_EQ(leader->heard.unserved_reports, 0) << "the leader is never told";
  // The leader's reload adds one of them, the follower's drops the other.
  leader->store().SetConfiguredApps({"wxa", "wxb", "wxc"});
  follower->store().SetConfiguredApps({"wxa", "wxc"});
  ASSERT_TRUE(follower->RunUntil([&] {
    return follower->heard.unserved.empty() &&
           follower->heard.unserved_reports >= 2;
  }));
  // Only the leader publishes which apps it refreshes.
  EXPECT_EQ(redis_.Command({"HGET", "wxtoken:leader_apps", "apps"})->string,
            "wxa wxb wxc");
}

// After Redis lost its data a new lease may take a lower epoch than a token
// a replica heals back, and clocks may disagree: what the current leader
// fetched in its term is still the latest, and only its next fetch
// replaces it.
TEST_F(RedisStateStoreTest, WhatTheCurrentLeaderFetchedStandsAgainstAnyHeal) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  const uint64_t term = leader->store().Replica()->epoch;
  // A heal from an old, higher epoch lands first; the leader's own fetch,
  // earlier by a clock running behind, replaces it.
  ASSERT_TRUE(follower
                  ->Write(Record("OLD", 9, std::nullopt, absl::Minutes(2), {},
                                 term + 5),
                          StateStore::WriteMode::kHeal)
                  .ok());
  ASSERT_EQ(Field("access_token.value"), "OLD");
  ASSERT_TRUE(leader
                  ->Write(Record("MINE", 1, std::nullopt, absl::ZeroDuration(),
                                 {}, term),
                          StateStore::WriteMode::kLeader)
                  .ok());
  EXPECT_EQ(Field("access_token.value"), "MINE");
  // The same heal again, later by both orders: refused.
  absl::StatusOr<AppRecord> heal = follower->Write(
      Record("OLD", 9, std::nullopt, absl::Minutes(2), {}, term + 5),
      StateStore::WriteMode::kHeal);
  ASSERT_TRUE(heal.ok());
  EXPECT_EQ(heal->tokens[0].value, "MINE") << "the healer learns what stands";
  EXPECT_EQ(Field("access_token.value"), "MINE");
}

TEST_F(RedisStateStoreTest,
       IntentsMergeEarliestAndLatestOnlyTheLeaderClearsItsOwn) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  const absl::Time early = absl::FromUnixSeconds(1764547300);
  const absl::Time late = early + absl::Minutes(1);
  ASSERT_TRUE(
      leader->Write(Record("B", 1, late), StateStore::WriteMode::kLeader).ok());
  EXPECT_EQ(Field("access_token.intent"), MicrosText(late));
  EXPECT_EQ(Field("access_token.latest_intent"), MicrosText(late));
  // A replica re-writes an earlier intent the store lost: the earliest holds,
  // and so does the latest.
  ASSERT_TRUE(
      follower->Write(Record("B", 1, early), StateStore::WriteMode::kHeal)
          .ok());
  EXPECT_EQ(Field("access_token.intent"), MicrosText(early));
  EXPECT_EQ(Field("access_token.latest_intent"), MicrosText(late));
  ASSERT_TRUE(
      follower->Write(Record("B", 1, late), StateStore::WriteMode::kHeal).ok());
  EXPECT_EQ(Field("access_token.intent"), MicrosText(early));
  // The leader, after a clean answer, clears what it last saw there (late):
  // the re-written one is not its to clear, and the answer says so.
  absl::StatusOr<AppRecord> cleared = leader->Write(
      Record("B", 1, std::nullopt, absl::ZeroDuration(), {{late, late}}),
      StateStore::WriteMode::kLeader);
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(Field("access_token.intent"), MicrosText(early));
  ASSERT_TRUE(cleared->tokens[0].intent.has_value());
  EXPECT_EQ(*cleared->tokens[0].intent, early);
  EXPECT_EQ(cleared->tokens[0].latest_intent, late);
  // Knowing only the earliest is not enough: the pair must be what it saw.
  ASSERT_TRUE(leader
                  ->Write(Record("B", 1, std::nullopt, absl::ZeroDuration(),
                                 {{early, early}}),
                          StateStore::WriteMode::kLeader)
                  .ok());
  EXPECT_EQ(Field("access_token.intent"), MicrosText(early));
  EXPECT_EQ(Field("access_token.latest_intent"), MicrosText(late));
  // Once it knows it, it may.
  ASSERT_TRUE(leader
                  ->Write(Record("B", 1, std::nullopt, absl::ZeroDuration(),
                                 {{early, late}}),
                          StateStore::WriteMode::kLeader)
                  .ok());
  EXPECT_EQ(Field("access_token.intent"), "");
  EXPECT_EQ(Field("access_token.latest_intent"), "");
}

TEST_F(RedisStateStoreTest,
       ADeposedLeadersWritesAreFencedOffAndItStopsSending) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  ASSERT_TRUE(leader->RunUntil([&] { return leader->heard.leader == 1; }));
  ASSERT_TRUE(
      leader->Write(Record("A", 1), StateStore::WriteMode::kLeader).ok());
  // Another holder took the lease (as after a pause longer than its TTL).
  ASSERT_TRUE(redis_.Command({"SET", "wxtoken:lease", "intruder 99 x"}).ok());
  absl::StatusOr<AppRecord> late =
      leader->Write(Record("Z", 1), StateStore::WriteMode::kLeader);
  EXPECT_FALSE(late.ok());
  EXPECT_THAT(late.status().message(), HasSubstr("FENCED"));
  EXPECT_EQ(Field("access_token.value"), "A");
  EXPECT_FALSE(leader->store().IsLeader());
  EXPECT_FALSE(leader->MaySend());
  ASSERT_TRUE(leader->RunUntil([&] { return leader->heard.follower == 1; }));
  // And it knows the new holder.
  ASSERT_TRUE(
      leader->RunUntil([&] { return leader->store().LeaderAddress() == "x"; }));
}

TEST_F(RedisStateStoreTest, ALapsedRenewalStopsSendingBeforeTheLeaseExpires) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  ASSERT_TRUE(leader->RunUntil([&] { return leader->heard.leader == 1; }));
  ASSERT_TRUE(leader->MaySend());
  redis_.Pause();  // no renewal gets through
  // MaySend() turns false while Redis still holds the lease for us: the
  // margin covers a request sent at the last moment.
  const absl::Time paused = absl::Now();
  ASSERT_TRUE(leader->RunUntil([&] { return !leader->MaySend(); }));
  EXPECT_LT(absl::Now() - paused, kLeaseTtl);
  redis_.Resume();
}

TEST_F(RedisStateStoreTest, ACleanStopHandsTheLeaseOverAtOnce) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  ASSERT_TRUE(leader->RunUntil([&] { return leader->heard.leader == 1; }));
  leader->Stop();
  // Released: gone, or the follower's already (it may ask at any moment);
  // never the stopped leader's, which it would be for most of a TTL.
  absl::StatusOr<RedisValue> lease = redis_.Command({"GET", "wxtoken:lease"});
  ASSERT_TRUE(lease.ok());
  EXPECT_THAT(lease->string, Not(HasSubstr(leader->address())));
  ASSERT_TRUE(follower->RunUntil([&] { return follower->heard.leader == 1; }));
  EXPECT_EQ(follower->store().LeaderAddress(), follower->address());
}

TEST_F(RedisStateStoreTest,
       ARedisRestartedEmptyIsReadWholeAndEpochsNeverRepeat) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  ASSERT_TRUE(leader->RunUntil([&] { return leader->heard.leader == 1; }));
  ASSERT_TRUE(
      leader->Write(Record("A", 1), StateStore::WriteMode::kLeader).ok());
  const std::string epoch = redis_.Command({"GET", "wxtoken:epoch"})->string;
  ASSERT_TRUE(
      follower->RunUntil([&] { return !follower->heard.records.empty(); }));
  const int leads_before = leader->heard.leader + follower->heard.leader;
  EXPECT_EQ(follower->heard.after_loss_reads, 0);
  redis_.Kill();
  redis_.Restart();
  // Each replica knows the store lost writes (a new replication id, a
  // version gone back) and merges what it holds into what it reads,
  // writing back what is missing: in a read after the loss, or as a new
  // leader. Whoever leads next has a higher epoch.
  ASSERT_TRUE(follower->RunUntil([&] {
    leader->RunUntil([] { return true; });
    const int new_leads =
        leader->heard.leader + follower->heard.leader - leads_before;
    return new_leads + leader->heard.after_loss_reads +
               follower->heard.after_loss_reads >=
           2;
  }));
  ASSERT_TRUE(leader->RunUntil([&] {
    follower->RunUntil([] { return true; });
    auto now = redis_.Command({"GET", "wxtoken:epoch"});
    return now.ok() && !now->is_nil() && now->string != epoch &&
           (leader->store().IsLeader() || follower->store().IsLeader());
  }));
  int64_t before = 0, after = 0;
  ASSERT_TRUE(absl::SimpleAtoi(epoch, &before));
  ASSERT_TRUE(absl::SimpleAtoi(redis_.Command({"GET", "wxtoken:epoch"})->string,
                               &after));
  EXPECT_GT(after, before);
}

// A follower that reads a store that lost writes must not vouch for its
// copy as of that read: the intent of a request sent before the loss may be
// gone until the replica that holds it writes it back.
TEST_F(RedisStateStoreTest, AReadAfterLostWritesConfirmsOnlyOnceHealsLanded) {
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  auto& follower = replicas.second;
  ASSERT_TRUE(leader->RunUntil([&] { return leader->heard.leader == 1; }));
  for (uint64_t generation = 1; generation <= 3; ++generation) {
    const AppRecord record = Record(absl::StrCat("A", generation), generation,
                                    std::nullopt, absl::Seconds(generation));
    ASSERT_TRUE(leader->Write(record, StateStore::WriteMode::kLeader).ok());
  }
  ASSERT_TRUE(follower->RunUntil([&] {
    return !follower->heard.records.empty() &&
           follower->heard.records[0].tokens[0].value == "A3";
  }));
  // Reads before the loss confirm as of their start.
  EXPECT_EQ(follower->heard.read_confirmed, follower->heard.read_start);
  // The writes are lost, the lease is not (so which replica leads is no
  // race): the version goes back, and the follower's next read is whole.
  ASSERT_TRUE(redis_
                  .Command({"DEL", "wxtoken:version", "wxtoken:changed",
                            "wxtoken:app:wx0123456789abcdef"})
                  .ok());
  const Heard& heard = follower->heard;
  ASSERT_TRUE(follower->RunUntil([&] {
    leader->RunUntil([] { return true; });
    return heard.after_loss_reads >= 1;
  }));
  // That read keeps what was confirmed before it.
  EXPECT_LT(heard.after_loss_confirmed, heard.after_loss_start);
  EXPECT_NE(heard.after_loss_confirmed, SteadyTime::InfinitePast());
  // A read that starts a poll interval (100 ms here) and a write later
  // confirms again, as of its own start.
  ASSERT_TRUE(follower->RunUntil([&] {
    leader->RunUntil([] { return true; });
    return heard.read_confirmed > heard.after_loss_confirmed;
  }));
  EXPECT_EQ(heard.read_confirmed, heard.read_start);
  EXPECT_GE(heard.read_start, heard.after_loss_start + absl::Milliseconds(100));
  EXPECT_TRUE(leader->store().IsLeader());
}

TEST_F(RedisStateStoreTest, TheStoresWallClockIsMeasuredAgainstOurs) {
  Replica ahead(config_, "127.0.0.1:1001", absl::Seconds(30));
  ahead.Load();
  ASSERT_TRUE(ahead.RunUntil(
      [&] { return ahead.store().Replica()->clock_offset.has_value(); }));
  // Redis's clock is this machine's: 30 s behind ours, within a loaded
  // machine's round trip.
  EXPECT_NEAR(absl::ToDoubleSeconds(*ahead.store().Replica()->clock_offset),
              -30.0, 1.0);
}

TEST_F(RedisStateStoreTest, AnIntentWaitsForTheRedisReplicasItAsksFor) {
  config_.wait_replicas = 1;
  auto replicas = Pair();  // not a structured binding: lambdas capture these
  auto& leader = replicas.first;
  ASSERT_TRUE(leader->RunUntil([&] { return leader->heard.leader == 1; }));
  absl::StatusOr<AppRecord> alone =
      leader->Write(Record("A", 1), StateStore::WriteMode::kLeader);
  EXPECT_FALSE(alone.ok());
  EXPECT_THAT(alone.status().message(), HasSubstr("reached 0 of the 1"));
  RedisProcess replica;
  replica.StartServer(MakeTempDir("replica"), redis_.address());
  ASSERT_TRUE(leader->RunUntil([&] {
    return leader->Write(Record("B", 2), StateStore::WriteMode::kLeader).ok();
  }));
  EXPECT_EQ(replica
                .Command({"HGET", "wxtoken:app:wx0123456789abcdef",
                          "access_token.value"})
                ->string,
            "B");
}

TEST(RedisStoreAuthTest, APasswordIsSentAndAWrongOneNamesNoPassword) {
  RedisProcess redis;
  redis.StartServer(MakeTempDir("redis"), "", "s3cret-pass");
  RedisConfig config;
  config.addresses = {redis.address()};
  config.lease_ttl = kLeaseTtl;
  config.password = "s3cret-pass";
  Replica good(config, "127.0.0.1:1001");
  good.Load();
  ASSERT_TRUE(good.RunUntil([&] { return good.heard.leader == 1; }));

  auto wrong =
      RedisConnection::Connect(redis.address(), absl::Seconds(2), "wrong-pass");
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), Not(HasSubstr("wrong-pass")));
  EXPECT_THAT(wrong.status().message(), HasSubstr(redis.address()));
}

// The store's config for master "wxmaster" behind `sentinel`.
RedisConfig SentinelConfig(const RedisProcess& sentinel) {
  RedisConfig config;
  config.addresses = {sentinel.address()};
  config.master_name = "wxmaster";
  config.wait_replicas = 1;
  config.lease_ttl = kLeaseTtl;
  return config;
}

// A promoted replica holds every write WAIT covered, intents included: a
// follower's read after the failover confirms its copy at once (whereas a
// store that may have lost anything, above, confirms only once heals can
// have landed).
TEST(RedisSentinelStoreTest, AReadAfterAPromotionConfirmsAtOnce) {
  RedisProcess master, replica, sentinel;
  master.StartServer(MakeTempDir("master"));
  replica.StartServer(MakeTempDir("replica"), master.address());
  sentinel.StartSentinel(MakeTempDir("sentinel"), master.address(), "wxmaster");
  // Another holder leads, on the replica too, so this store stays a
  // follower through the failover. WAIT covers only its own connection's
  // writes: on a fresh connection it would wait for offset 0, which a
  // replica still in its first sync already has.
  auto writer =
      RedisConnection::Connect(master.address(), absl::Seconds(10), "");
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE(
      (*writer)
          ->Command({"SET", "wxtoken:lease", "intruder 99 x", "PX", "120000"})
          .ok());
  absl::StatusOr<RedisValue> acked = (*writer)->Command({"WAIT", "1", "10000"});
  ASSERT_TRUE(acked.ok()) << acked.status();
  ASSERT_EQ(acked->integer, 1) << "the replica never took the lease";
  const RedisConfig config = SentinelConfig(sentinel);
  Replica follower(config, "127.0.0.1:1002");
  follower.Load();
  const Heard& heard = follower.heard;
  ASSERT_TRUE(follower.RunUntil([&] { return heard.reads >= 2; }));
  ASSERT_TRUE(sentinel.Failover("wxmaster").ok());
  ASSERT_TRUE(follower.RunUntil([&] { return heard.after_loss_reads >= 1; }));
  EXPECT_EQ(heard.after_loss_confirmed, heard.after_loss_start);
  EXPECT_FALSE(follower.store().IsLeader());
}

// Sentinels that stop answering (SIGSTOP: connections are accepted,
// commands time out) must not delay the renewals a leader sends by: its
// lease keeps allowing requests.
TEST(RedisSentinelStoreTest, StoppedSentinelsDoNotDelayTheLeasesRenewals) {
  RedisProcess master;
  std::vector<std::unique_ptr<RedisProcess>> sentinels;
  master.StartServer(MakeTempDir("master"));
  RedisConfig config;
  for (int i = 0; i < 3; ++i) {
    sentinels.push_back(std::make_unique<RedisProcess>());
    sentinels.back()->StartSentinel(MakeTempDir("sentinel"), master.address(),
                                    "wxmaster");
    config.addresses.push_back(sentinels.back()->address());
  }
  config.master_name = "wxmaster";
  // Renewals every second, 600 ms a command: three Sentinels asked in turn
  // would hold the store's thread for 1.8 s.
  config.lease_ttl = absl::Seconds(3);
  Replica one(config, "127.0.0.1:1001");
  one.Load();
  ASSERT_TRUE(one.RunUntil([&] { return one.heard.leader == 1; }));
  for (auto& sentinel : sentinels) sentinel->Pause();
  const int renewals = one.heard.confirmed;
  const absl::Time end = absl::Now() + absl::Seconds(6);
  bool could_not_send = false;
  one.RunUntil([&] {
    could_not_send = could_not_send || !one.MaySend();
    return absl::Now() > end;
  });
  for (auto& sentinel : sentinels) sentinel->Resume();
  EXPECT_FALSE(could_not_send);
  EXPECT_EQ(one.heard.follower, 0);
  EXPECT_GE(one.heard.confirmed - renewals, 3);
}

TEST(RedisSentinelStoreTest,
     TheStoreFollowsAFailoverAndNeverWritesADeadMaster) {
  RedisProcess master, replica1, replica2, sentinel;
  master.StartServer(MakeTempDir("master"));
  replica1.StartServer(MakeTempDir("replica1"), master.address());
  replica2.StartServer(MakeTempDir("replica2"), master.address());
  sentinel.StartSentinel(MakeTempDir("sentinel"), master.address(), "wxmaster");
  const RedisConfig config = SentinelConfig(sentinel);
  Replica one(config, "127.0.0.1:1001");
  Replica two(config, "127.0.0.1:1002");
  one.Load();
  two.Load();
  // Runs both until `done`; the one holding the lease, or null after kWait.
  auto leader_once = [&](const std::function<bool(Replica&)>& done) {
    Replica* found = nullptr;
    one.RunUntil([&] {
      two.RunUntil([] { return true; });
      for (Replica* replica : {&one, &two}) {
        if (replica->store().IsLeader() && done(*replica)) found = replica;
      }
      return found != nullptr;
    });
    return found;
  };
  auto writes = [](const char* value, uint64_t generation) {
    return [=](Replica& replica) {
      return replica
          .Write(Record(value, generation), StateStore::WriteMode::kLeader)
          .ok();
    };
  };
  ASSERT_NE(leader_once(writes("A", 1)), nullptr);
  const int leads_before = one.heard.leader + two.heard.leader;
  EXPECT_EQ(one.heard.after_loss_reads + two.heard.after_loss_reads, 0);
  // Sentinel promotes a replica; the store finds it and writes there.
  master.Kill();
  ASSERT_NE(leader_once(writes("B", 2)), nullptr);
  // A promoted master (a new replication id) may lack the last writes:
  // a replica that does not take the lease knows its read follows a loss
  // (and merges what it holds); one that does merges as a new leader.
  ASSERT_TRUE(one.RunUntil([&] {
    two.RunUntil([] { return true; });
    const int new_leads = one.heard.leader + two.heard.leader - leads_before;
    return new_leads + one.heard.after_loss_reads +
               two.heard.after_loss_reads >=
           2;
  }));
  auto promoted =
      sentinel.Command({"SENTINEL", "get-master-addr-by-name", "wxmaster"});
  ASSERT_TRUE(promoted.ok());
  const std::string address =
      absl::StrCat(promoted->array[0].string, ":", promoted->array[1].string);
  ASSERT_NE(address, master.address());
  RedisProcess& now_master =
      address == replica1.address() ? replica1 : replica2;
  EXPECT_EQ(now_master
                .Command({"HGET", "wxtoken:app:wx0123456789abcdef",
                          "access_token.value"})
                ->string,
            "B");
}

}  // namespace
}  // namespace wxtoken::server
