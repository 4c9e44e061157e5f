// wxtoken::Client's WatchToken stream against the in-process fake
// controller over real gRPC on loopback. The cache's freshness runs on a
// fake clock; the waits below wait for a message to arrive, never for time
// to pass.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "client/src/client_impl.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_token_controller.h"
#include "tests/fakes/fake_clock.h"
#include "wxtoken/client.h"

namespace wxtoken::testing {
namespace {

using ClientImpl = ::wxtoken::client_internal::ClientImpl;
using ::wxtoken::server::testing::FakeClock;

constexpr char kApp[] = "wxclient0000000001";
constexpr absl::Duration kWaitLimit = absl::Seconds(30);

class ClientWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(fake_.Start());
    fake_.SetClock([this] { return clock_.Now(); });
    fake_.EnableWatch();
    fake_.SetToken(Make("token-A", 1));
  }

  wxtoken::v1::Token Make(const std::string& value, uint64_t generation,
                          absl::Duration max_cache = absl::Minutes(1)) {
    return MakeToken(value, clock_.Now() + absl::Minutes(10), max_cache,
                     generation, clock_.Now());
  }

  std::unique_ptr<ClientImpl> NewClient(bool watch = true) {
    ClientOptions options;
    options.target = fake_.address();
    options.rpc_timeout = absl::Seconds(20);
    options.now = [this] { return clock_.Now(); };
    options.watch = watch;
    absl::StatusOr<std::unique_ptr<ClientImpl>> client =
        client_internal::NewClientImpl(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // Asks until the client's answer satisfies `done` (a pushed message has
  // arrived), at most kWaitLimit of real time.
  template <class Predicate>
  absl::StatusOr<Token> GetUntil(Client& client, Predicate done) {
    const absl::Time deadline = absl::Now() + kWaitLimit;
    absl::StatusOr<Token> token = client.GetToken(kApp);
    while (!done(token) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
      token = client.GetToken(kApp);
    }
    return token;
  }
  static bool Is(const absl::StatusOr<Token>& token, absl::string_view value,
                 absl::Duration max_cache) {
    return token.ok() && token->value == value && token->max_cache == max_cache;
  }

  FakeClock clock_;
  FakeTokenController fake_;
};

TEST_F(ClientWatchTest, ARotationReachesTheCacheWithoutAnRpc) {
  auto client = NewClient();
  EXPECT_EQ(client->GetToken(kApp)->value, "token-A");
  ASSERT_TRUE(fake_.AwaitWatchers(1, kWaitLimit));
  fake_.Push(Make("token-B", 2));
  absl::StatusOr<Token> token = GetUntil(
      *client, [](const auto& t) { return t.ok() && t->value == "token-B"; });
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->value, "token-B");
  EXPECT_EQ(token->generation, 2u);
  EXPECT_EQ(token->app_id, kApp);
  EXPECT_EQ(fake_.Calls("GetToken"), 1) << "only the first miss asked";
  EXPECT_EQ(fake_.Calls("WatchToken"), 1);
}

TEST_F(ClientWatchTest, RenewalsKeepTheCacheFreshPastTheFirstMaxCache) {
  auto client = NewClient();
  ASSERT_TRUE(client->GetToken(kApp).ok());
  ASSERT_TRUE(fake_.AwaitWatchers(1, kWaitLimit));
  // Each renewal's max_cache counts from its arrival.
  for (int i = 1; i <= 3; ++i) {
    const absl::Duration max_cache = absl::Minutes(1) - absl::Seconds(i);
    fake_.Push(Make("token-A", 1, max_cache));
    ASSERT_TRUE(
        Is(GetUntil(*client,
                    [&](const auto& t) { return Is(t, "token-A", max_cache); }),
           "token-A", max_cache));
    clock_.AdvanceTime(absl::Seconds(50));
  }
  EXPECT_EQ(fake_.Calls("GetToken"), 1) << "150 s on a 1 min max_cache";
}

TEST_F(ClientWatchTest, AMessageThatWaitedInBuffersCountsFromWhenItWasMade) {
  auto client = NewClient();
  ASSERT_TRUE(client->GetToken(kApp).ok());
  ASSERT_TRUE(fake_.AwaitWatchers(1, kWaitLimit));
  // Made as the stream began, read 30 s later (a stalled process): its 40 s
  // max_cache has 10 s left, not 40.
  clock_.AdvanceTime(absl::Seconds(30));
  fake_.Push(Make("token-B", 2, absl::Seconds(40)), absl::ZeroDuration());
  ASSERT_TRUE(GetUntil(*client, [](const auto& t) {
                return t.ok() && t->value == "token-B";
              }).ok());
  EXPECT_EQ(fake_.Calls("GetToken"), 1) << "pushed, not asked";
  clock_.AdvanceTime(absl::Seconds(15));
  EXPECT_TRUE(client->GetToken(kApp).ok());
  EXPECT_EQ(fake_.Calls("GetToken"), 2)
      << "served 45 s after it was made, on a 40 s max_cache";
}

TEST_F(ClientWatchTest, AStreamEndKeepsTheValueAndReconnects) {
  auto client = NewClient();
  ASSERT_TRUE(client->GetToken(kApp).ok());
  ASSERT_TRUE(fake_.AwaitWatchers(1, kWaitLimit));
  // As at watch.max_stream_age or a controller's shutdown.
  fake_.EndWatches(grpc::StatusCode::UNAVAILABLE, /*marked=*/true);
  ASSERT_TRUE(fake_.AwaitCalls("WatchToken", 2, kWaitLimit));
  ASSERT_TRUE(fake_.AwaitWatchers(1, kWaitLimit));
  EXPECT_EQ(client->GetToken(kApp)->value, "token-A") << "kept meanwhile";
  fake_.Push(Make("token-C", 3));
  EXPECT_TRUE(GetUntil(*client, [](const auto& t) {
                return t.ok() && t->value == "token-C";
              }).ok());
  EXPECT_EQ(fake_.Calls("GetToken"), 1);
}

TEST_F(ClientWatchTest, AStreamEndedByTheControllersErrorDropsTheValue) {
  auto client = NewClient();
  ASSERT_TRUE(client->GetToken(kApp).ok());
  ASSERT_TRUE(fake_.AwaitWatchers(1, kWaitLimit));
  // WeChat rejected the controller's secret: GetToken would say so too.
  fake_.SetControllerError(grpc::StatusCode::FAILED_PRECONDITION);
  fake_.EndWatches(grpc::StatusCode::FAILED_PRECONDITION, /*marked=*/true);
  absl::StatusOr<Token> token = GetUntil(*client, [](const auto& t) {
    return t.status().code() == absl::StatusCode::kFailedPrecondition;
  });
  EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition)
      << "the cache knows less than the controller";
}

TEST_F(ClientWatchTest, ASilentStreamIsRestartedWhenItsValueRunsOut) {
  auto client = NewClient();
  ASSERT_TRUE(client->GetToken(kApp).ok());
  ASSERT_TRUE(fake_.AwaitWatchers(1, kWaitLimit));
  const absl::Duration pushed = absl::Seconds(59);
  fake_.Push(Make("token-A", 1, pushed));
  ASSERT_TRUE(
      Is(GetUntil(*client,
                  [&](const auto& t) { return Is(t, "token-A", pushed); }),
         "token-A", pushed));
  // No renewal came within its max_cache: the stream is stuck.
  clock_.AdvanceTime(pushed);
  EXPECT_TRUE(client->GetToken(kApp).ok()) << "asked by RPC";
  EXPECT_EQ(fake_.Calls("GetToken"), 2);
  EXPECT_TRUE(fake_.AwaitCalls("WatchToken", 2, kWaitLimit))
      << "the stream was not restarted";
}

// A service may pass app_ids that came with its own requests: one the
// controller does not know costs its GetToken, never a stream.
TEST_F(ClientWatchTest, AnAppTheControllerDoesNotKnowGetsNoStream) {
  auto client = NewClient();
  fake_.SetControllerError(grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(client->GetToken("wxunknown000000001").status().code(),
            absl::StatusCode::kNotFound);
  fake_.ClearError();
  EXPECT_EQ(client->GetToken(kApp)->value, "token-A");
  ASSERT_TRUE(fake_.AwaitWatchers(1, kWaitLimit));
  for (const FakeCall& call : fake_.AllCalls()) {
    if (call.method == "WatchToken") {
      EXPECT_EQ(call.app_id, kApp);
    }
  }
  EXPECT_EQ(fake_.Calls("WatchToken"), 1);
}

TEST_F(ClientWatchTest, AStreamEndedNotFoundIsReopenedOnlyByAToken) {
  auto client = NewClient();
  ASSERT_TRUE(client->GetToken(kApp).ok());
  ASSERT_TRUE(fake_.AwaitWatchers(1, kWaitLimit));
  // A reload removed the app.
  fake_.SetControllerError(grpc::StatusCode::NOT_FOUND);
  fake_.EndWatches(grpc::StatusCode::NOT_FOUND, /*marked=*/true);
  absl::StatusOr<Token> token = GetUntil(*client, [](const auto& t) {
    return t.status().code() == absl::StatusCode::kNotFound;
  });
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound)
      << "the stream's end drops the value";
  // Not asked again on a timer: a reconnect would come within 200 ms.
  EXPECT_FALSE(fake_.AwaitCalls("WatchToken", 2, absl::Seconds(1)));
  // The app is back: its next token opens a stream again.
  fake_.ClearError();
  EXPECT_EQ(client->GetToken(kApp)->value, "token-A");
  EXPECT_TRUE(fake_.AwaitCalls("WatchToken", 2, kWaitLimit));
  ASSERT_TRUE(fake_.AwaitWatchers(1, kWaitLimit));
  fake_.Push(Make("token-B", 2));
  EXPECT_TRUE(GetUntil(*client, [](const auto& t) {
                return t.ok() && t->value == "token-B";
              }).ok());
}

TEST_F(ClientWatchTest, AControllerWithoutWatchTokenIsPolled) {
  FakeTokenController older;  // UNIMPLEMENTED, as a wxtokend before it
  ASSERT_NO_FATAL_FAILURE(older.Start());
  older.SetToken(Make("token-A", 1));
  ClientOptions options;
  options.target = older.address();
  options.now = [this] { return clock_.Now(); };
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create(std::move(options));
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->GetToken(kApp)->value, "token-A");
  ASSERT_TRUE(older.AwaitCalls("WatchToken", 1, kWaitLimit));
  for (int i = 0; i < 3; ++i) {
    clock_.AdvanceTime(absl::Minutes(1));
    EXPECT_EQ((*client)->GetToken(kApp)->value, "token-A");
  }
  EXPECT_EQ(older.Calls("GetToken"), 4);
  EXPECT_EQ(older.Calls("WatchToken"), 1) << "not asked again";
}

TEST_F(ClientWatchTest, WatchFalseOnlyPolls) {
  auto client = NewClient(/*watch=*/false);
  EXPECT_EQ(client->GetToken(kApp)->value, "token-A");
  clock_.AdvanceTime(absl::Minutes(1));
  EXPECT_EQ(client->GetToken(kApp)->value, "token-A");
  EXPECT_EQ(fake_.Calls("GetToken"), 2);
  EXPECT_EQ(fake_.Calls("WatchToken"), 0);
}

}  // namespace
}  // namespace wxtoken::testing
