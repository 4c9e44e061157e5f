// End-to-end: wxtokend replicas on one real redis-server (or Sentinel-
// managed pair), the real sandbox, real gRPC, real signals (DESIGN.md
// "Replicas"). Every answer any replica gives must be valid at the sandbox
// for its whole max_cache, and fetches must not multiply with replicas or
// faults.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "tests/e2e/redis_process.h"
#include "tests/e2e/token_load.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kApp[] = "wxreplica000000001";
constexpr char kSecret[] = "replica-app-secret-5e2a";
constexpr int kReplicas = 3;
// The lease the tests run with, and how long a takeover may take beyond
// it: the successor's next attempt (lease_ttl / 3), its poll interval, and
// slack for a loaded 2-core machine.
constexpr absl::Duration kLeaseTtl = absl::Seconds(3);
constexpr absl::Duration kTakeoverSlack = absl::Seconds(5);

// The line wxtokend logs for each request it sends to WeChat.
int RequestsIn(const std::string& logs) {
  int count = 0;
  for (size_t at = logs.find("sending a request to WeChat");
       at != std::string::npos;
       at = logs.find("sending a request to WeChat", at + 1)) {
    ++count;
  }
  return count;
}

class ReplicaE2eTest : public ::testing::Test {
 protected:
  // Redis, the sandbox (tokens living `lifetime`) and three replicas.
  void StartAll(absl::Duration lifetime, Controller::Options options = {}) {
    dir_ = MakeTempDir("replicas");
    if (redis_addresses_.empty()) {
      ASSERT_NO_FATAL_FAILURE(redis_.StartServer(MakeTempDir("redis")));
      redis_addresses_ = redis_.address();
    }
    Sandbox::Options sandbox;
    sandbox.apps = {{kApp, kSecret}};
    sandbox.lifetime = lifetime;
    sandbox.overlap = timing_.overlap;
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox, dir_));
    options.base_url = sandbox_.base_url();
    options.apps = {{kApp, kSecret}};
    options.overlap = absl::FormatDuration(timing_.overlap);
    options.margin = absl::FormatDuration(timing_.margin);
    options.client_max_cache = absl::FormatDuration(timing_.client_max_cache);
    if (timing_.timeout)
      options.timeout = absl::FormatDuration(*timing_.timeout);
    options.force_min_interval = "1s";
    options.redis_addresses = redis_addresses_;
    options.lease_ttl = absl::FormatDuration(kLeaseTtl);
    options_ = options;
    for (int i = 0; i < kReplicas; ++i) {
      dirs_.push_back(MakeTempDir(absl::StrCat("replica", i)));
      ASSERT_NO_FATAL_FAILURE(replicas_[i].Start(options_, dirs_[i]));
    }
    ASSERT_GE(WaitForLeader(kStartTimeout), 0);
    ASSERT_TRUE(WaitForTokenEverywhere());
  }

  void TearDown() override {
    for (int i = 0; i < kReplicas; ++i) {
      replicas_[i].Resume();
      if (!HasFailure()) {
        ExpectJsonLogLines(replicas_[i].Logs());
        EXPECT_THAT(replicas_[i].Logs(), ::testing::Not(HasSubstr(kSecret)));
      }
      replicas_[i].Stop();
    }
    sandbox_.Stop();
  }

  // The replica whose leader health is SERVING, skipping `except`; -1 when
  // none is after `timeout`.
  int WaitForLeader(absl::Duration timeout, int except = -1) {
    return testing::WaitForLeader(replicas_, kReplicas, timeout, except);
  }

  // Redis under Sentinel (master "wxmaster" with two replicas, one
  // Sentinel), and `options` pointing the replicas at it.
  void StartSentinelRedis(Controller::Options* options) {
    ASSERT_NO_FATAL_FAILURE(redis_master_.StartServer(MakeTempDir("master")));
    for (int i = 0; i < 2; ++i) {
      ASSERT_NO_FATAL_FAILURE(redis_replicas_[i].StartServer(
          MakeTempDir(absl::StrCat("redis-replica", i)),
          redis_master_.address()));
    }
    ASSERT_NO_FATAL_FAILURE(sentinel_.StartSentinel(
        MakeTempDir("sentinel"), redis_master_.address(), "wxmaster"));
    redis_addresses_ = sentinel_.address();
    options->redis_master_name = "wxmaster";
    options->redis_wait_replicas = 1;
  }

  bool WaitForTokenEverywhere() {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    for (int i = 0; i < kReplicas; ++i) {
      wxtoken::v1::Token token;
      while (!replicas_[i].GetToken(kApp, &token).ok()) {
        if (absl::Now() > deadline) return false;
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
    return true;
  }

  // GetToken at every replica but `skip` every 30 ms for `duration`; each
  // answer is checked at the sandbox while its max_cache lasts. Returns the
  // answers.
  int Observe(absl::Duration duration, int skip = -1) {
    const absl::Time deadline = absl::Now() + duration;
    int answers = 0;
    while (absl::Now() < deadline) {
      for (int i = 0; i < kReplicas; ++i) {
        if (i == skip) continue;
        wxtoken::v1::Token token;
        const grpc::Status status = replicas_[i].GetToken(kApp, &token);
        if (status.ok()) {
          checker_.Record(token, absl::Now());
          seen_.insert(token.value());
          ++answers;
        } else {
          ++failures_[absl::StrCat("replica ", i, ": ",
                                   status.error_message())];
        }
      }
      checks_ += checker_.CheckAll(sandbox_);
      absl::SleepFor(absl::Milliseconds(30));
    }
    return answers;
  }

  wxtoken::v1::Token TokenAt(int replica) {
    wxtoken::v1::Token token;
    EXPECT_TRUE(replicas_[replica].GetToken(kApp, &token).ok());
    return token;
  }

  // Requests every replica's runs logged, all together.
  int RequestsLogged() {
    int total = 0;
    for (Controller& replica : replicas_) total += RequestsIn(replica.Logs());
    return total;
  }

  // A ForceRefresh at `replica`, not waited for.
  std::thread ForceRefreshInBackground(int replica, const std::string& stale) {
    return std::thread([this, replica, stale] {
      grpc::ClientContext context;
      SetDeadline(context, absl::Seconds(10));
      wxtoken::v1::ForceRefreshRequest request;
      request.set_app_id(kApp);
      request.set_stale_value(stale);
      request.set_wechat_errcode(40001);
      wxtoken::v1::ForceRefreshResponse response;
      (void)replicas_[replica].stub().ForceRefresh(&context, request,
                                                   &response);
    });
  }

  void WaitForTokenCalls(int calls) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (sandbox_.TokenCalls(kApp) < calls && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(sandbox_.TokenCalls(kApp), calls);
  }

  std::string dir_;
  std::string redis_addresses_;  // set before StartAll: Sentinels
  RedisProcess redis_;
  RedisProcess redis_master_, redis_replicas_[2], sentinel_;  // Sentinel tests
  Sandbox sandbox_;
  Controller replicas_[kReplicas];
  std::vector<std::string> dirs_;
  Controller::Options options_;
  MaxCacheChecker checker_;
  std::set<std::string> seen_;
  // GetToken's failures during Observe, by replica and message.
  std::map<std::string, int> failures_;
  int checks_ = 0;
  // The sandbox's and wxtokend's timings; a test may change them before
  // StartAll.
  struct Timing {
    absl::Duration overlap = absl::Seconds(5);
    absl::Duration margin = absl::Seconds(2);
    absl::Duration client_max_cache = absl::Seconds(1);
    std::optional<absl::Duration> timeout;
  } timing_;
};

// Must show 1: rotations with short lifetimes, three replicas, one fetch
// per rotation.
TEST_F(ReplicaE2eTest, RotationsAreFetchedOnceWhateverTheReplicaCount) {
  ASSERT_NO_FATAL_FAILURE(StartAll(absl::Seconds(7)));
  EXPECT_GT(Observe(absl::Seconds(16)), 0);
  EXPECT_GT(checks_, 0);
  const int calls = sandbox_.TokenCalls(kApp);
  EXPECT_GE(calls, 3) << "the test saw too few rotations";
  // Every fetched value was handed out (no fetch wasted), and all came
  // from the one leader's requests.
  EXPECT_EQ(static_cast<int>(seen_.size()), calls);
  EXPECT_EQ(RequestsLogged(), calls);
  for (int i = 0; i < kReplicas; ++i) {
    EXPECT_EQ(TokenAt(i).value(), TokenAt(0).value());
  }
}

// A replica configured with an app the leader lacks (a reload that reached
// only some replicas) says that nothing refreshes it, in its health, its
// GetToken answer and its log, rather than staying silent.
TEST_F(ReplicaE2eTest, AnAppOnlyAFollowerHasSaysNothingRefreshesIt) {
  constexpr char kOnlyHere[] = "wxreplica000000002";
  ASSERT_NO_FATAL_FAILURE(StartAll(absl::Seconds(60)));
  const int leader = WaitForLeader(kStartTimeout);
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % kReplicas;
  Controller::Options with_more = options_;
  with_more.apps.push_back({kOnlyHere, "only-here-secret"});
  replicas_[follower].Stop();
  ASSERT_NO_FATAL_FAILURE(
      replicas_[follower].Start(with_more, dirs_[follower]));
  const std::string service =
      absl::StrCat("wxtoken.v1.TokenController/", kOnlyHere);
  // The store logs what it found, then the engine takes it in: wait for
  // the answer, which comes last.
  wxtoken::v1::Token token;
  grpc::Status status;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    status = replicas_[follower].GetToken(kOnlyHere, &token);
    if (absl::StrContains(status.error_message(), "leader replica")) break;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < deadline);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(
      status.error_message(),
      HasSubstr("the leader replica does not have this app configured"));
  EXPECT_THAT(replicas_[follower].Logs(),
              HasSubstr("not configured on the leader"));
  EXPECT_EQ(replicas_[follower].Health(service), "NOT_SERVING");
  // The app they share is served there as before.
  EXPECT_TRUE(replicas_[follower].GetToken(kApp, &token).ok());
  EXPECT_EQ(sandbox_.TokenCalls(kOnlyHere), 0);
}

// Ordinary rotations with a short overlap leave every replica a valid token
// at every moment: nothing is UNAVAILABLE.
TEST_F(ReplicaE2eTest, ShortOverlapRotationsLeaveEveryReplicaAValidToken) {
  timing_.overlap = absl::Seconds(2);
  timing_.margin = absl::Seconds(5);
  timing_.client_max_cache = absl::Milliseconds(1200);
  timing_.timeout = absl::Milliseconds(500);
  ASSERT_NO_FATAL_FAILURE(StartAll(absl::Seconds(10)));
  EXPECT_GT(Observe(absl::Seconds(16)), 0);
  EXPECT_GE(sandbox_.TokenCalls(kApp), 3) << "the test saw too few rotations";
  for (const auto& [failure, count] : failures_) {
    ADD_FAILURE() << count << " x " << failure;
  }
}

// Must show 2: ForceRefresh from 100 callers spread over the replicas.
TEST_F(ReplicaE2eTest, AHundredForceRefreshesOverAllReplicasCauseOneFetch) {
  ASSERT_NO_FATAL_FAILURE(StartAll(absl::Seconds(120)));
  const std::string stale = TokenAt(0).value();
  for (int i = 0; i < kReplicas; ++i) ASSERT_EQ(TokenAt(i).value(), stale);
  const int before = sandbox_.TokenCalls(kApp);

  constexpr int kCalls = 100;
  struct Call {
    grpc::ClientContext context;
    wxtoken::v1::ForceRefreshRequest request;
    wxtoken::v1::ForceRefreshResponse response;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  absl::Mutex mu;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto call = std::make_unique<Call>();
    SetDeadline(call->context, absl::Seconds(20));
    call->request.set_app_id(kApp);
    call->request.set_stale_value(stale);
    call->request.set_wechat_errcode(40001);
    Call* raw = call.get();
    calls.push_back(std::move(call));
    replicas_[i % kReplicas].stub().async()->ForceRefresh(
        &raw->context, &raw->request, &raw->response,
        [raw, &mu, &done](grpc::Status status) {
          absl::MutexLock lock(&mu);
          raw->status = std::move(status);
          ++done;
        });
  }
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(
        mu.AwaitWithTimeout(absl::Condition(
                                +[](int* d) { return *d == kCalls; }, &done),
                            absl::Seconds(60)));
  }
  std::set<std::string> values;
  for (const auto& call : calls) {
    EXPECT_TRUE(call->status.ok()) << call->status.error_message();
    values.insert(call->response.token().value());
  }
  EXPECT_EQ(values.size(), 1u);
  EXPECT_EQ(values.count(stale), 0u);
  EXPECT_EQ(sandbox_.TokenCalls(kApp), before + 1);
  for (int i = 0; i < kReplicas; ++i) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (TokenAt(i).value() == stale && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_EQ(TokenAt(i).value(), *values.begin()) << "replica " << i;
  }
}

// Must show 3: the leader killed with a request in flight, twice.
TEST_F(ReplicaE2eTest, KillingTheLeaderMidFetchHandsOverWithoutRevokedAnswers) {
  ASSERT_NO_FATAL_FAILURE(StartAll(absl::Seconds(120)));
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const int leader = WaitForLeader(kStartTimeout);
    ASSERT_GE(leader, 0);
    const int before = sandbox_.TokenCalls(kApp);
    sandbox_.InjectFault("slow", 1, "delay_ms=2000");
    std::thread force =
        ForceRefreshInBackground(leader, TokenAt(leader).value());
    ASSERT_NO_FATAL_FAILURE(WaitForTokenCalls(before + 1));
    replicas_[leader].Kill();
    const absl::Time killed = absl::Now();
    force.join();
    const int successor = WaitForLeader(kLeaseTtl + kTakeoverSlack, leader);
    ASSERT_GE(successor, 0) << "no replica took over";
    EXPECT_LT(absl::Now() - killed, kLeaseTtl + kTakeoverSlack);
    // The killed request may revoke what the replicas hold: the successor
    // fetches once, and nobody serves a revoked value meanwhile.
    EXPECT_GT(Observe(absl::Seconds(8), leader), 0);
    EXPECT_LE(sandbox_.TokenCalls(kApp), before + 2);
    ASSERT_NO_FATAL_FAILURE(replicas_[leader].Start(options_, dirs_[leader]));
    ASSERT_TRUE(WaitForTokenEverywhere());
  }
  EXPECT_GT(checks_, 0);
}

// Must show 4: the leader stopped dead (SIGSTOP) past its lease with a
// request in flight, then woken.
TEST_F(ReplicaE2eTest, APausedLeaderSendsNothingAfterWakingAndIsFencedOff) {
  ASSERT_NO_FATAL_FAILURE(StartAll(absl::Seconds(120)));
  const int leader = WaitForLeader(kStartTimeout);
  ASSERT_GE(leader, 0);
  const int before = sandbox_.TokenCalls(kApp);
  sandbox_.InjectFault("slow", 1, "delay_ms=1000");
  std::thread force = ForceRefreshInBackground(leader, TokenAt(leader).value());
  ASSERT_NO_FATAL_FAILURE(WaitForTokenCalls(before + 1));
  replicas_[leader].Pause();
  const int sent_before = RequestsIn(replicas_[leader].Logs());
  const int successor = WaitForLeader(kLeaseTtl + kTakeoverSlack, leader);
  ASSERT_GE(successor, 0);
  EXPECT_GT(Observe(absl::Seconds(2), leader), 0);
  replicas_[leader].Resume();
  force.join();
  // Its answer arrives after it lost the lease: refused by the epoch, and
  // nothing it serves is revoked inside its max_cache.
  EXPECT_GT(Observe(absl::Seconds(8)), 0);
  EXPECT_EQ(RequestsIn(replicas_[leader].Logs()), sent_before);
  EXPECT_THAT(replicas_[leader].Logs(), HasSubstr("lost the leader lease"));
  EXPECT_EQ(WaitForLeader(absl::Seconds(1)), successor);
  EXPECT_LE(sandbox_.TokenCalls(kApp), before + 2);
  EXPECT_GT(checks_, 0);
}

// Must show 5: Redis gone for longer than the overlap, then back empty.
TEST_F(ReplicaE2eTest, RedisDownNobodyFetchesEveryoneServesWithinBounds) {
  ASSERT_NO_FATAL_FAILURE(StartAll(absl::Seconds(120)));
  const int before = sandbox_.TokenCalls(kApp);
  const std::string value = TokenAt(0).value();
  redis_.Kill();
  const absl::Time down = absl::Now();
  // Every replica serves what it holds until its bound runs out:
  // overlap (5 s) after its last confirming read.
  absl::Time last_answer;
  const absl::Time deadline = down + absl::Seconds(8);
  while (absl::Now() < deadline) {
    for (int i = 0; i < kReplicas; ++i) {
      wxtoken::v1::Token token;
      grpc::Status status = replicas_[i].GetToken(kApp, &token);
      if (status.ok()) {
        checker_.Record(token, absl::Now());
        EXPECT_EQ(token.value(), value);
        const absl::Duration max_cache =
            absl::Seconds(token.max_cache().seconds()) +
            absl::Nanoseconds(token.max_cache().nanos());
        last_answer = std::max(last_answer, absl::Now() + max_cache);
      } else {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
      }
    }
    checks_ += checker_.CheckAll(sandbox_);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GT(last_answer, down) << "nobody served while Redis was down";
  EXPECT_LE(last_answer, down + absl::Seconds(5))
      << "a replica served past overlap after its last read";
  for (int i = 0; i < kReplicas; ++i) {
    EXPECT_EQ(replicas_[i].Health(""), "SERVING");
  }
  EXPECT_EQ(sandbox_.TokenCalls(kApp), before);
  // Back, empty: the replicas re-write what they hold, one leads again,
  // and the value (still valid at WeChat) is served without a fetch.
  redis_.Restart();
  ASSERT_GE(WaitForLeader(kLeaseTtl + kTakeoverSlack), 0);
  ASSERT_TRUE(WaitForTokenEverywhere());
  for (int i = 0; i < kReplicas; ++i) EXPECT_EQ(TokenAt(i).value(), value);
  EXPECT_EQ(sandbox_.TokenCalls(kApp), before);
  auto stored = redis_.Command(
      {"HGET", absl::StrCat("wxtoken:app:", kApp), "access_token.value"});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->string, value);
}

// Must show 6: Redis's master killed (kill -9) during rotations; Sentinel
// promotes a replica.
TEST_F(ReplicaE2eTest, ASentinelFailoverDuringRotationsServesNothingRevoked) {
  Controller::Options options;
  ASSERT_NO_FATAL_FAILURE(StartSentinelRedis(&options));
  ASSERT_NO_FATAL_FAILURE(StartAll(absl::Seconds(7), options));
  EXPECT_GT(Observe(absl::Seconds(6)), 0);
  const int before = sandbox_.TokenCalls(kApp);
  redis_master_.Kill();
  EXPECT_GT(Observe(absl::Seconds(16)), 0);
  auto promoted =
      sentinel_.Command({"SENTINEL", "get-master-addr-by-name", "wxmaster"});
  ASSERT_TRUE(promoted.ok());
  EXPECT_NE(
      absl::StrCat(promoted->array[0].string, ":", promoted->array[1].string),
      redis_master_.address())
      << "no failover happened";
  EXPECT_GT(checks_, 0);
  // Rotations went on after the failover, one fetch each (at most one
  // more for a request whose answer the failover cut off).
  EXPECT_GT(sandbox_.TokenCalls(kApp), before);
  EXPECT_TRUE(sandbox_.IsValid(TokenAt(0).value()));
  EXPECT_LE(sandbox_.TokenCalls(kApp), static_cast<int>(seen_.size()) + 1);
  for (int i = 0; i < kReplicas; ++i) replicas_[i].Stop();
}

// Availability: a Sentinel failover during rotations with a short overlap
// (2 s, as a new user tries it) leaves every replica a valid token at every
// moment. The promoted replica holds every intent WAIT counted, so reads
// after the failover confirm at once, and the rotations go on. (With
// wait_replicas covering both Redis replicas, as README asks for full
// safety, refreshes wait until Sentinel re-attaches the demoted master,
// about 10 s here: harmless with WeChat's real lifetimes, fatal with 10 s
// tokens.)
TEST_F(ReplicaE2eTest, ASentinelFailoverWithAShortOverlapFailsNoGetToken) {
  Controller::Options options;
  ASSERT_NO_FATAL_FAILURE(StartSentinelRedis(&options));
  timing_.overlap = absl::Seconds(2);
  timing_.margin = absl::Seconds(5);
  timing_.client_max_cache = absl::Milliseconds(1200);
  timing_.timeout = absl::Milliseconds(500);
  ASSERT_NO_FATAL_FAILURE(StartAll(absl::Seconds(10), options));
  EXPECT_GT(Observe(absl::Seconds(6)), 0);
  const int before = sandbox_.TokenCalls(kApp);
  ASSERT_TRUE(sentinel_.Failover("wxmaster").ok());
  EXPECT_GT(Observe(absl::Seconds(16)), 0);
  EXPECT_GE(sandbox_.TokenCalls(kApp), before + 2) << "rotations went on";
  EXPECT_GT(checks_, 0);
  for (const auto& [failure, count] : failures_) {
    ADD_FAILURE() << count << " x " << failure;
  }
  for (int i = 0; i < kReplicas; ++i) replicas_[i].Stop();
}

// Must show 7: a rolling restart of every replica under GetToken load, at
// a client that balances over them and watches their health.
TEST_F(ReplicaE2eTest, ARollingRestartUnderLoadFailsNoCallAndFetchesNothing) {
  Controller::Options options;
  options.shutdown_delay = "1s";
  ASSERT_NO_FATAL_FAILURE(StartAll(absl::Seconds(120), options));
  const int before = sandbox_.TokenCalls(kApp);
  std::vector<std::string> addresses;
  for (Controller& replica : replicas_) addresses.push_back(replica.address());
  TokenLoad load(TokenLoad::BalancedChannel(addresses), kApp, {});
  for (int i = 0; i < kReplicas; ++i) {
    absl::SleepFor(absl::Milliseconds(500));
    EXPECT_EQ(replicas_[i].Stop(), 0);
    ASSERT_NO_FATAL_FAILURE(replicas_[i].Start(options_, dirs_[i]));
    ASSERT_TRUE(WaitForTokenEverywhere());
    ASSERT_TRUE(replicas_[i].WaitForHealth("", "SERVING", kStartTimeout));
  }
  absl::SleepFor(absl::Milliseconds(500));
  std::map<std::string, int> codes = load.Stop();
  EXPECT_GT(codes["OK"], 100);
  for (const auto& [code, count] : codes) {
    EXPECT_EQ(code, "OK") << count << " calls ended " << code
                          << ", the first with \"" << load.FirstMessage(code)
                          << "\"";
  }
  EXPECT_EQ(sandbox_.TokenCalls(kApp), before);
  EXPECT_GE(WaitForLeader(kLeaseTtl + kTakeoverSlack), 0);
}

}  // namespace
}  // namespace wxtoken::testing
