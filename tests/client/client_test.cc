// wxtoken::Client against an in-process fake TokenController over real gRPC
// on loopback. Cache expiry runs on a fake clock: nothing sleeps to let time
// pass; threads meet on barriers and on the client's own wait counter.
#include "wxtoken/client.h"

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "absl/time/clock.h"
#include "client/src/client_impl.h"
#include "client/src/grpc_token_source.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_token_controller.h"
#include "tests/fakes/fake_clock.h"

namespace wxtoken::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ClientImpl = ::wxtoken::client_internal::ClientImpl;
using ::wxtoken::server::testing::FakeClock;

constexpr char kApp[] = "wxclient0000000001";
constexpr int kThreads = 8;
// Bounds a broken run's waits; a good run never gets near them.
constexpr absl::Duration kWaitLimit = absl::Seconds(30);
// Generous for a loaded machine: only the deadline tests use shorter ones.
constexpr absl::Duration kRpcTimeout = absl::Seconds(20);

// What a WeChat API call returns to CallWithToken.
struct WeChatReply {
  int errcode = 0;
  std::string token_used;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(fake_.Start());
    fake_.SetToken(MakeFakeToken("token-A", 1));
  }

  // A token fetched now that expires in `lifetime` and may be cached for
  // `max_cache`.
  wxtoken::v1::Token MakeFakeToken(
      const std::string& value, uint64_t generation,
      absl::Duration lifetime = absl::Minutes(10),
      absl::Duration max_cache = absl::Minutes(1)) {
    return MakeToken(value, clock_.Now() + lifetime, max_cache, generation,
                     clock_.Now());
  }

  ClientOptions Options() {
    ClientOptions options;
    options.target = fake_.address();
    options.rpc_timeout = kRpcTimeout;
    options.now = [this] { return clock_.Now(); };
    // The polling cache; client_watch_test.cc covers the stream.
    options.watch = false;
    return options;
  }

  std::unique_ptr<ClientImpl> NewClient(ClientOptions options) {
    absl::StatusOr<std::unique_ptr<ClientImpl>> client =
        client_internal::NewClientImpl(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // GetToken that must succeed, returning the value.
  std::string ValueOf(Client& client,
                      TokenKind kind = TokenKind::kAccessToken) {
    absl::StatusOr<Token> token = client.GetToken(kApp, kind);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? token->value : "";
  }

  // Runs `call` on kThreads threads at once while the fake holds RPCs, and
  // lets the held RPC go only once the fake has seen `calls` RPCs of
  // `method` and the other threads wait on that one in the client. Returns
  // each thread's result.
  std::vector<absl::StatusOr<Token>> RunConcurrentlyWhileHeld(
      ClientImpl& client, const std::string& method, int calls,
      const std::function<absl::StatusOr<Token>()>& call) {
    fake_.Hold();
    std::vector<absl::StatusOr<Token>> results(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] { results[i] = call(); });
    }
    EXPECT_TRUE(fake_.AwaitCalls(method, calls, kWaitLimit));
    EXPECT_TRUE(client.AwaitWaitersForTesting(kApp, TokenKind::kAccessToken,
                                              kThreads - 1, kWaitLimit));
    fake_.Release();
    for (std::thread& thread : threads) thread.join();
    return results;
  }

  FakeClock clock_;
  FakeTokenController fake_;
};

TEST_F(ClientTest, CreateRejectsIncompleteOptions) {
  ClientOptions options;
  EXPECT_EQ(Client::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.target = fake_.address();
  options.rpc_timeout = absl::ZeroDuration();
  EXPECT_EQ(Client::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.rpc_timeout = absl::Seconds(1);
  options.report_timeout = absl::ZeroDuration();
  EXPECT_EQ(Client::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.report_timeout = absl::Seconds(1);
  options.fallback_retry = -absl::Seconds(1);
  EXPECT_EQ(Client::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.fallback_retry = absl::ZeroDuration();
  options.max_entries = 0;
  EXPECT_EQ(Client::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.max_entries = 1;
  EXPECT_TRUE(Client::Create(options).ok());
}

TEST_F(ClientTest, ChecksArgumentsWithoutRpc) {
  auto client = NewClient(Options());
  EXPECT_EQ(client->GetToken("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->GetToken(kApp, static_cast<TokenKind>(7)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->ReportInvalid("", TokenKind::kAccessToken, "x", 40001)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fake_.AllCalls().empty());
}

TEST_F(ClientTest, FirstCallAsksTheControllerAndConvertsTheToken) {
  const absl::Time fetched = clock_.Now() - absl::Seconds(30);
  fake_.SetToken(MakeToken("token-A", clock_.Now() + absl::Minutes(90),
                           absl::Seconds(240), 7, fetched));
  auto client = NewClient(Options());
  absl::StatusOr<Token> token = client->GetToken(kApp);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->app_id, kApp);
  EXPECT_EQ(token->kind, TokenKind::kAccessToken);
  EXPECT_EQ(token->value, "token-A");
  EXPECT_EQ(token->expires_at, clock_.Now() + absl::Minutes(90));
  EXPECT_EQ(token->max_cache, absl::Seconds(240));
  EXPECT_EQ(token->generation, 7u);
  EXPECT_EQ(token->fetched_at, fetched);
  EXPECT_FALSE(token->stale_fallback);
  const std::vector<FakeCall> calls = fake_.AllCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "GetToken");
  EXPECT_EQ(calls[0].app_id, kApp);
  EXPECT_EQ(calls[0].kind, wxtoken::v1::TOKEN_KIND_ACCESS_TOKEN);
}

// A service that passes app_ids from its own requests cannot grow the
// cache without bound: past max_entries a pair is answered, uncached.
TEST_F(ClientTest, PairsPastMaxEntriesAreAnsweredUncached) {
  ClientOptions options = Options();
  options.max_entries = 1;
  auto client = NewClient(std::move(options));
  EXPECT_EQ(ValueOf(*client), "token-A");
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Token> other = client->GetToken("wxother");
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_EQ(other->app_id, "wxother");
    EXPECT_EQ(other->value, "token-A");
    Token into;
    ASSERT_TRUE(
        client->GetToken("wxother", TokenKind::kAccessToken, &into).ok());
    EXPECT_EQ(into.app_id, "wxother");
    EXPECT_EQ(ValueOf(*client), "token-A") << "the cached pair stays cached";
  }
  EXPECT_EQ(fake_.Calls("GetToken"), 1 + 3 * 2);
  fake_.QueueRefreshToken(MakeFakeToken("token-B", 2));
  absl::StatusOr<Token> reported = client->ReportInvalid(
      "wxother", TokenKind::kAccessToken, "token-A", 40001);
  ASSERT_TRUE(reported.ok()) << reported.status();
  EXPECT_EQ(reported->value, "token-B");
  EXPECT_EQ(reported->app_id, "wxother");
}

TEST_F(ClientTest, CacheHitMakesNoRpc) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  fake_.SetToken(MakeFakeToken("token-B", 2));
  for (int i = 0; i < 100; ++i) {
    clock_.AdvanceTime(absl::Milliseconds(500));  // 50 s < max_cache
    ASSERT_EQ(ValueOf(*client), "token-A");
  }
  EXPECT_EQ(fake_.Calls("GetToken"), 1);
}

// GetToken's caller-buffer form: the same answers, into a Token reused
// across calls.
TEST_F(ClientTest, GetTokenIntoACallersTokenHitsWithoutAnRpc) {
  auto client = NewClient(Options());
  Token token;
  ASSERT_TRUE(client->GetToken(kApp, TokenKind::kAccessToken, &token).ok());
  EXPECT_EQ(token.value, "token-A");
  EXPECT_EQ(token.app_id, kApp);
  EXPECT_EQ(token.kind, TokenKind::kAccessToken);
  EXPECT_EQ(token.generation, 1u);
  fake_.SetToken(MakeFakeToken("token-Bee", 2));
  for (int i = 0; i < 50; ++i) {
    clock_.AdvanceTime(absl::Milliseconds(500));  // 25 s < max_cache
    ASSERT_TRUE(client->GetToken(kApp, TokenKind::kAccessToken, &token).ok());
    ASSERT_EQ(token.value, "token-A");
  }
  EXPECT_EQ(fake_.Calls("GetToken"), 1);
  clock_.AdvanceTime(absl::Minutes(1));
  ASSERT_TRUE(client->GetToken(kApp, TokenKind::kAccessToken, &token).ok());
  EXPECT_EQ(token.value, "token-Bee");
  EXPECT_EQ(token.generation, 2u);
  EXPECT_EQ(client->GetToken("", TokenKind::kAccessToken, &token).code(),
            absl::StatusCode::kInvalidArgument);
  fake_.SetControllerError(grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(client->GetToken("wxother", TokenKind::kAccessToken, &token).code(),
            absl::StatusCode::kNotFound);
}

// Hits read a cheaper clock that lags the client's (the kernel's coarse
// monotonic clock): by the client's clock, no hit outlives its max_cache.
int64_t lagging_hit_now_ns = 0;

TEST_F(ClientTest, ALaggingHitClockNeverServesPastMaxCache) {
  constexpr absl::Duration kLag = absl::Milliseconds(8);
  client_internal::HitClock hit_clock{[] { return lagging_hit_now_ns; }, kLag};
  ClientImpl client(
      std::make_unique<client_internal::GrpcTokenSource>(
          grpc::CreateChannel(fake_.address(),
                              grpc::InsecureChannelCredentials()),
          kRpcTimeout, kRpcTimeout),
      [this] { return clock_.Now(); }, absl::Seconds(1),
      /*watch=*/false, /*max_entries=*/10, hit_clock);
  // The hit clock as far behind as it may be, a little less than kLag.
  auto advance = [&](absl::Duration by) {
    clock_.AdvanceTime(by);
    lagging_hit_now_ns =
        absl::ToUnixNanos(clock_.Now() - kLag + absl::Nanoseconds(1));
  };
  advance(absl::ZeroDuration());
  Token token;
  ASSERT_TRUE(client.GetToken(kApp, TokenKind::kAccessToken, &token).ok());
  fake_.SetToken(MakeFakeToken("token-B", 2));
  advance(absl::Minutes(1) - absl::Nanoseconds(1));  // still fresh
  ASSERT_TRUE(client.GetToken(kApp, TokenKind::kAccessToken, &token).ok());
  EXPECT_EQ(token.value, "token-A");
  EXPECT_EQ(fake_.Calls("GetToken"), 1);
  // max_cache is over by the client's clock, not yet by the hit clock: the
  // hit must not be served (it would be without the lag taken off).
  advance(absl::Nanoseconds(1));
  ASSERT_TRUE(client.GetToken(kApp, TokenKind::kAccessToken, &token).ok());
  EXPECT_EQ(token.value, "token-B");
  EXPECT_EQ(fake_.Calls("GetToken"), 2);
}

TEST_F(ClientTest, MaxCacheCountsFromWhenTheQuestionWasSent) {
  // The answer takes 10 s (fake time) to arrive: the controller's max_cache
  // started no later than the question, so the cache keeps it 50 s more.
  fake_.SetOnCall([this] { clock_.AdvanceTime(absl::Seconds(10)); });
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  fake_.SetToken(MakeFakeToken("token-B", 2));
  clock_.AdvanceTime(absl::Seconds(50) - absl::Milliseconds(1));
  EXPECT_EQ(ValueOf(*client), "token-A");
  EXPECT_EQ(fake_.Calls("GetToken"), 1);
  clock_.AdvanceTime(absl::Milliseconds(1));
  EXPECT_EQ(ValueOf(*client), "token-B");
  EXPECT_EQ(fake_.Calls("GetToken"), 2);
}

TEST_F(ClientTest, EachKindIsItsOwnEntry) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  fake_.SetToken(MakeFakeToken("ticket-J", 1));
  EXPECT_EQ(ValueOf(*client, TokenKind::kJsapiTicket), "ticket-J");
  EXPECT_EQ(ValueOf(*client), "token-A");
  EXPECT_EQ(ValueOf(*client, TokenKind::kJsapiTicket), "ticket-J");
  const std::vector<FakeCall> calls = fake_.AllCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].kind, wxtoken::v1::TOKEN_KIND_JSAPI_TICKET);
}

TEST_F(ClientTest, StaleEntryEightConcurrentCallersShareOneRpc) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  clock_.AdvanceTime(absl::Minutes(2));
  fake_.SetToken(MakeFakeToken("token-B", 2));
  const std::vector<absl::StatusOr<Token>> results = RunConcurrentlyWhileHeld(
      *client, "GetToken", 2, [&] { return client->GetToken(kApp); });
  EXPECT_EQ(fake_.Calls("GetToken"), 2);
  for (const absl::StatusOr<Token>& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->value, "token-B");
  }
}

TEST_F(ClientTest, UnreachableControllerServesCachedValueUntilExpiresAt) {
  ClientOptions options = Options();
  options.fallback_retry = absl::Seconds(5);
  auto client = NewClient(options);
  const absl::Time expires_at = clock_.Now() + absl::Minutes(10);
  EXPECT_EQ(ValueOf(*client), "token-A");
  fake_.SetError(grpc::StatusCode::UNAVAILABLE);

  clock_.AdvanceTime(absl::Minutes(2));
  absl::StatusOr<Token> token = client->GetToken(kApp);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "token-A");
  EXPECT_TRUE(token->stale_fallback);
  EXPECT_EQ(fake_.Calls("GetToken"), 2);

  // Inside fallback_retry the fallback is served from memory.
  clock_.AdvanceTime(absl::Seconds(4));
  token = client->GetToken(kApp);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->stale_fallback);
  EXPECT_EQ(fake_.Calls("GetToken"), 2);

  // Until the last moment before expires_at, asking again each time.
  clock_.SetTime(expires_at - absl::Milliseconds(1));
  token = client->GetToken(kApp);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "token-A");
  EXPECT_TRUE(token->stale_fallback);
  EXPECT_EQ(fake_.Calls("GetToken"), 3);

  clock_.SetTime(expires_at);
  token = client->GetToken(kApp);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(), HasSubstr("no cached token"));

  // The controller is back: the next call gets its answer.
  fake_.ClearError();
  fake_.SetToken(MakeFakeToken("token-B", 2));
  token = client->GetToken(kApp);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "token-B");
  EXPECT_FALSE(token->stale_fallback);
}

TEST_F(ClientTest, FallbackRetryNeverOutlivesExpiresAt) {
  ClientOptions options = Options();
  options.fallback_retry = absl::Minutes(5);
  auto client = NewClient(options);
  fake_.SetToken(MakeFakeToken("token-A", 1, absl::Seconds(90)));
  const absl::Time expires_at = clock_.Now() + absl::Seconds(90);
  EXPECT_EQ(ValueOf(*client), "token-A");
  fake_.SetError(grpc::StatusCode::UNAVAILABLE);
  clock_.AdvanceTime(absl::Seconds(61));
  EXPECT_TRUE(client->GetToken(kApp)->stale_fallback);
  clock_.SetTime(expires_at);
  EXPECT_EQ(client->GetToken(kApp).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(fake_.Calls("GetToken"), 3);
}

TEST_F(ClientTest, FallbackEndsWithStaleIfErrorNotExpiresAt) {
  // WeChat's own expiry is 10 minutes away, but the controller guarantees
  // the value only 5 minutes from the question: it may rotate it meanwhile.
  fake_.SetToken(MakeToken("token-A", clock_.Now() + absl::Minutes(10),
                           absl::Minutes(1), 1, clock_.Now(),
                           absl::Minutes(5)));
  auto client = NewClient(Options());
  const absl::Time asked = clock_.Now();
  absl::StatusOr<Token> first = client->GetToken(kApp);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->stale_if_error, absl::Minutes(5));
  fake_.SetError(grpc::StatusCode::UNAVAILABLE);
  clock_.SetTime(asked + absl::Minutes(5) - absl::Milliseconds(1));
  absl::StatusOr<Token> token = client->GetToken(kApp);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->stale_fallback);
  clock_.SetTime(asked + absl::Minutes(5));
  token = client->GetToken(kApp);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(), HasSubstr("certainly valid"));
}

TEST_F(ClientTest, TheControllersOwnUnavailableIsNeverAFallback) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  // wxtokend answers UNAVAILABLE: e.g. the token's validity was cut short by
  // a refresh WeChat never answered. The cached value may be revoked.
  fake_.SetControllerError(grpc::StatusCode::UNAVAILABLE);
  clock_.AdvanceTime(absl::Minutes(2));
  absl::StatusOr<Token> token = client->GetToken(kApp);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(), HasSubstr("fake controller error"));
  // Nor later, once the controller is unreachable: the value was dropped.
  fake_.SetError(grpc::StatusCode::UNAVAILABLE);
  clock_.AdvanceTime(absl::Seconds(2));
  token = client->GetToken(kApp);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fake_.Calls("GetToken"), 3);
}

TEST_F(ClientTest, RecoveryAfterFallbackClearsTheFlag) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  fake_.SetError(grpc::StatusCode::UNAVAILABLE);
  clock_.AdvanceTime(absl::Minutes(2));
  EXPECT_TRUE(client->GetToken(kApp)->stale_fallback);
  fake_.ClearError();
  clock_.AdvanceTime(absl::Seconds(1));  // the default fallback_retry
  absl::StatusOr<Token> token = client->GetToken(kApp);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "token-A");
  EXPECT_FALSE(token->stale_fallback);
  // And it is cached normally again.
  EXPECT_FALSE(client->GetToken(kApp)->stale_fallback);
  EXPECT_EQ(fake_.Calls("GetToken"), 3);
}

TEST_F(ClientTest, SlowControllerCountsAsUnreachable) {
  ClientOptions options = Options();
  options.rpc_timeout = absl::Milliseconds(300);
  auto client = NewClient(options);
  EXPECT_EQ(ValueOf(*client), "token-A");
  clock_.AdvanceTime(absl::Minutes(2));
  fake_.Hold();
  const absl::Time start = absl::Now();
  absl::StatusOr<Token> token = client->GetToken(kApp);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->stale_fallback);
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Seconds(10));
  fake_.Release();

  // With nothing cached, a missed deadline is UNAVAILABLE.
  fake_.Hold();
  token = client->GetToken(kApp, TokenKind::kJsapiTicket);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(), HasSubstr("deadline"));
  fake_.Release();
}

TEST_F(ClientTest, StoppedControllerFallsBackAndRecoversOnRestart) {
  // Reconnect quickly once the controller is back.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  ClientOptions options = Options();
  options.target.clear();
  options.channel = grpc::CreateCustomChannel(
      fake_.address(), grpc::InsecureChannelCredentials(), args);
  auto client = NewClient(options);
  // Outlives the polling below, which moves the fake clock.
  fake_.SetToken(MakeFakeToken("token-A", 1, absl::Hours(2)));
  EXPECT_EQ(ValueOf(*client), "token-A");

  const int port = fake_.port();
  fake_.Stop();
  clock_.AdvanceTime(absl::Minutes(2));
  absl::StatusOr<Token> token = client->GetToken(kApp);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->stale_fallback);

  ASSERT_NO_FATAL_FAILURE(fake_.Start(port));
  fake_.SetToken(MakeFakeToken("token-B", 2));
  // Real reconnection takes real time: poll, each call past fallback_retry.
  const absl::Time deadline = absl::Now() + kWaitLimit;
  while (token.ok() && token->stale_fallback && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    clock_.AdvanceTime(absl::Seconds(1));
    token = client->GetToken(kApp);
  }
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "token-B");
  EXPECT_FALSE(token->stale_fallback);
}

TEST_F(ClientTest, NothingCachedAndNothingListeningIsUnavailable) {
  const int port = fake_.port();
  fake_.Stop();
  ClientOptions options = Options();
  options.target = absl::StrCat("127.0.0.1:", port);
  auto client = NewClient(options);
  absl::StatusOr<Token> token = client->GetToken(kApp);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ClientTest, ControllerErrorsPassThroughWithoutFallback) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  clock_.AdvanceTime(absl::Minutes(2));
  for (grpc::StatusCode code :
       {grpc::StatusCode::NOT_FOUND, grpc::StatusCode::FAILED_PRECONDITION,
        grpc::StatusCode::PERMISSION_DENIED}) {
    fake_.SetControllerError(code);
    absl::StatusOr<Token> token = client->GetToken(kApp);
    EXPECT_EQ(static_cast<int>(token.status().code()), static_cast<int>(code));
    EXPECT_THAT(token.status().message(), HasSubstr("fake controller error"));
  }
}

TEST_F(ClientTest, ReportInvalidRefreshesAndUpdatesTheCache) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  fake_.QueueRefreshToken(MakeFakeToken("token-B", 2));
  absl::StatusOr<Token> token =
      client->ReportInvalid(kApp, TokenKind::kAccessToken, "token-A", 40001);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "token-B");
  EXPECT_EQ(token->generation, 2u);
  const std::vector<FakeCall> calls = fake_.AllCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].method, "ForceRefresh");
  EXPECT_EQ(calls[1].app_id, kApp);
  EXPECT_EQ(calls[1].stale_value, "token-A");
  EXPECT_EQ(calls[1].errcode, 40001);
  // The cache now holds the new value, without asking.
  EXPECT_EQ(ValueOf(*client), "token-B");
  EXPECT_EQ(fake_.Calls("GetToken"), 1);
  // A late report of the replaced value is answered from memory.
  token =
      client->ReportInvalid(kApp, TokenKind::kAccessToken, "token-A", 42001);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "token-B");
  EXPECT_EQ(fake_.Calls("ForceRefresh"), 1);
}

TEST_F(ClientTest, FailedReportNeverServesTheRejectedValue) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  fake_.SetError(grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(
      client->ReportInvalid(kApp, TokenKind::kAccessToken, "token-A", 40001)
          .status()
          .code(),
      absl::StatusCode::kUnavailable);
  // Inside max_cache, yet the rejected value is neither served nor a
  // fallback.
  EXPECT_EQ(client->GetToken(kApp).status().code(),
            absl::StatusCode::kUnavailable);
  fake_.ClearError();
  fake_.SetToken(MakeFakeToken("token-B", 2));
  EXPECT_EQ(ValueOf(*client), "token-B");
}

TEST_F(ClientTest, ARejectedValueIsNeverCachedAgain) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  // The report does not get through (say, its deadline passed).
  fake_.SetError(grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(
      client->ReportInvalid(kApp, TokenKind::kAccessToken, "token-A", 40001)
          .ok());
  fake_.ClearError();
  // The controller still hands out token-A (its refresh is on the way): the
  // client returns it as asked, but does not cache it.
  EXPECT_EQ(ValueOf(*client), "token-A");
  EXPECT_EQ(ValueOf(*client), "token-A");
  EXPECT_EQ(fake_.Calls("GetToken"), 3);
  fake_.SetToken(MakeFakeToken("token-B", 2));
  EXPECT_EQ(ValueOf(*client), "token-B");
  EXPECT_EQ(ValueOf(*client), "token-B");
  EXPECT_EQ(fake_.Calls("GetToken"), 4) << "a new value is cached again";
}

TEST_F(ClientTest, ConcurrentReportsOfOneValueShareOneRpc) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  fake_.QueueRefreshToken(MakeFakeToken("token-B", 2));
  const std::vector<absl::StatusOr<Token>> results =
      RunConcurrentlyWhileHeld(*client, "ForceRefresh", 1, [&] {
        return client->ReportInvalid(kApp, TokenKind::kAccessToken, "token-A",
                                     40001);
      });
  EXPECT_EQ(fake_.Calls("ForceRefresh"), 1);
  for (const absl::StatusOr<Token>& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->value, "token-B");
  }
}

TEST_F(ClientTest, EveryRpcCarriesItsDeadline) {
  ClientOptions options = Options();
  options.rpc_timeout = ClientOptions().rpc_timeout;        // the default, 2 s
  options.report_timeout = ClientOptions().report_timeout;  // 45 s
  auto client = NewClient(options);
  EXPECT_EQ(ValueOf(*client), "token-A");
  EXPECT_TRUE(
      client->ReportInvalid(kApp, TokenKind::kAccessToken, "token-A", 40001)
          .ok());
  clock_.AdvanceTime(absl::Minutes(2));
  EXPECT_EQ(ValueOf(*client), "token-A");
  const std::vector<FakeCall> calls = fake_.AllCalls();
  ASSERT_EQ(calls.size(), 3u);
  for (const FakeCall& call : calls) {
    // A ForceRefresh may wait out force_min_interval (30 s) and the fetch:
    // it gets the longer deadline. gRPC rounds the timeout it sends up.
    const absl::Duration timeout =
        call.method == "ForceRefresh" ? absl::Seconds(45) : absl::Seconds(2);
    EXPECT_GT(call.deadline_left, timeout - absl::Seconds(1)) << call.method;
    EXPECT_LE(call.deadline_left, timeout + absl::Milliseconds(250))
        << call.method;
  }
}

TEST_F(ClientTest, CallWithTokenRetriesEachCallOnceWithOneRefresh) {
  auto client = NewClient(Options());
  EXPECT_EQ(ValueOf(*client), "token-A");
  fake_.QueueRefreshToken(MakeFakeToken("token-B", 2));
  // WeChat has revoked token-A; every caller got it before anyone reported.
  absl::Barrier all_have_a(kThreads);
  std::vector<std::vector<std::string>> used(kThreads);
  std::vector<absl::StatusOr<WeChatReply>> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[i] = client->CallWithToken(kApp, [&](const std::string& token) {
        used[i].push_back(token);
        if (token != "token-A") return WeChatReply{0, token};
        all_have_a.Block();
        return WeChatReply{40001, token};
      });
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(fake_.Calls("ForceRefresh"), 1);
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_THAT(used[i], ElementsAre("token-A", "token-B"));
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    EXPECT_EQ(results[i]->errcode, 0);
    EXPECT_EQ(results[i]->token_used, "token-B");
  }
  EXPECT_EQ(fake_.AllCalls()[1].errcode, 40001);
}

TEST_F(ClientTest, CallWithTokenNeverLoops) {
  auto client = NewClient(Options());
  fake_.QueueRefreshToken(MakeFakeToken("token-B", 2));
  int calls = 0;
  absl::StatusOr<WeChatReply> reply =
      client->CallWithToken(kApp, [&](const std::string& token) {
        ++calls;
        return WeChatReply{42001, token};
      });
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->errcode, 42001);
  EXPECT_EQ(reply->token_used, "token-B");
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(fake_.Calls("ForceRefresh"), 1);
}

TEST_F(ClientTest, CallWithTokenKeepsOtherErrcodes) {
  auto client = NewClient(Options());
  std::vector<int> errcodes;
  for (int errcode : {0, 45009, 40013, -1}) {
    absl::StatusOr<WeChatReply> reply =
        client->CallWithToken(kApp, [&](const std::string& token) {
          errcodes.push_back(errcode);
          return WeChatReply{errcode, token};
        });
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->errcode, errcode);
  }
  EXPECT_THAT(errcodes, ElementsAre(0, 45009, 40013, -1));
  EXPECT_EQ(fake_.Calls("ForceRefresh"), 0);
}

TEST_F(ClientTest, CallWithTokenWithoutTokenReturnsTheStatus) {
  auto client = NewClient(Options());
  fake_.SetError(grpc::StatusCode::NOT_FOUND);
  bool called = false;
  absl::StatusOr<WeChatReply> reply =
      client->CallWithToken(kApp, [&](const std::string& token) {
        called = true;
        return WeChatReply{0, token};
      });
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(called);

  // A failed report ends the call with the report's status: no second call.
  fake_.ClearError();
  int calls = 0;
  reply = client->CallWithToken(kApp, [&](const std::string& token) {
    ++calls;
    fake_.SetError(grpc::StatusCode::RESOURCE_EXHAUSTED);
    return WeChatReply{40001, token};
  });
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace wxtoken::testing
