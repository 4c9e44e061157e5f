// End-to-end: wxtoken::Client against the real wxtokend and wechat-sandbox
// processes over real gRPC on loopback. The client's channel counts the RPCs
// it makes, so caching is observed directly. Bounds leave slack for a loaded
// 2-core machine.
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "wxtoken/client.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kApp[] = "wxclient0e2e000001";
constexpr char kSecret[] = "client-e2e-secret-7d2b";
constexpr char kGetToken[] = "/wxtoken.v1.TokenController/GetToken";
constexpr char kForceRefresh[] = "/wxtoken.v1.TokenController/ForceRefresh";
constexpr char kWatchToken[] = "/wxtoken.v1.TokenController/WatchToken";

// RPCs started on a channel, by method. Thread-safe.
class RpcCounts {
 public:
  void Add(const std::string& method) {
    absl::MutexLock lock(&mu_);
    ++counts_[method];
  }
  int Get(const std::string& method) const {
    absl::MutexLock lock(&mu_);
    auto it = counts_.find(method);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, int> counts_ ABSL_GUARDED_BY(mu_);
};

class PassThrough final : public grpc::experimental::Interceptor {
 public:
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }
};

class CountingFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit CountingFactory(RpcCounts* counts) : counts_(counts) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    counts_->Add(info->method());
    return new PassThrough;
  }

 private:
  RpcCounts* const counts_;
};

class ClientE2eTest : public ::testing::Test {
 protected:
  // Starts both processes with tokens that live `lifetime_s` seconds and stay
  // valid `overlap_s` after being replaced, and wxtokend refreshing
  // `margin_s` early and allowing a `max_cache_s` cache. Waits until wxtokend
  // holds a token and makes the client under test on a counting channel.
  void StartAll(int lifetime_s, int overlap_s, int margin_s, int max_cache_s,
                int force_min_interval_s = 1) {
    dir_ = MakeTempDir("client");
    Sandbox::Options sandbox_options;
    sandbox_options.lifetime = absl::Seconds(lifetime_s);
    sandbox_options.overlap = absl::Seconds(overlap_s);
    sandbox_options.apps = {{kApp, kSecret}};
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox_options, dir_));
    Controller::Options controller_options;
    controller_options.overlap = absl::StrCat(overlap_s, "s");
    controller_options.margin = absl::StrCat(margin_s, "s");
    controller_options.client_max_cache = absl::StrCat(max_cache_s, "s");
    controller_options.force_min_interval =
        absl::StrCat(force_min_interval_s, "s");
    controller_options.base_url = sandbox_.base_url();
    controller_options.apps = {{kApp, kSecret}};
    controller_options.keep_port = true;  // a restart keeps the address
    controller_options_ = controller_options;
    ASSERT_NO_FATAL_FAILURE(controller_.Start(controller_options, dir_));
    ASSERT_TRUE(controller_.WaitForHealth("wxtoken.v1.TokenController",
                                          "SERVING", absl::Seconds(30)));

    std::vector<
        std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(std::make_unique<CountingFactory>(&rpcs_));
    ClientOptions options = client_options_;
    options.channel = grpc::experimental::CreateCustomChannelWithInterceptors(
        controller_.address(), grpc::InsecureChannelCredentials(),
        grpc::ChannelArguments(), std::move(interceptors));
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  void TearDown() override {
    // No token the client saw ever reached wxtokend's log in full.
    const std::string logs = controller_.Logs();
    EXPECT_THAT(logs, Not(HasSubstr(kSecret)));
    for (const std::string& value : seen_) {
      EXPECT_THAT(logs, Not(HasSubstr(value))) << "a full token was logged";
    }
    controller_.Stop();
    sandbox_.Stop();
  }

  absl::StatusOr<Token> GetToken() {
    absl::StatusOr<Token> token = client_->GetToken(kApp);
    if (token.ok()) seen_.insert(token->value);
    return token;
  }

  std::string dir_;
  Sandbox sandbox_;
  Controller controller_;
  Controller::Options controller_options_;
  // What StartAll makes the client with (its channel aside).
  ClientOptions client_options_ = [] {
    ClientOptions options;
    options.rpc_timeout = absl::Seconds(10);
    return options;
  }();
  RpcCounts rpcs_;
  std::unique_ptr<Client> client_;
  std::set<std::string> seen_;
};

// What the fake WeChat API call of CallWithToken returns.
struct WeChatReply {
  int errcode = 0;
};

TEST_F(ClientE2eTest, GetTokenIsCachedAndReportInvalidRotatesIt) {
  // Long lifetimes: nothing rotates by itself during the test, and a 20 s
  // max_cache outlasts any stall of a loaded machine.
  ASSERT_NO_FATAL_FAILURE(StartAll(/*lifetime_s=*/300, /*overlap_s=*/25,
                                   /*margin_s=*/10, /*max_cache_s=*/20));
  ASSERT_EQ(sandbox_.TokenCalls(kApp), 1);

  absl::StatusOr<Token> first = GetToken();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->app_id, kApp);
  EXPECT_EQ(first->generation, 1u);
  EXPECT_GT(first->max_cache, absl::ZeroDuration());
  EXPECT_LE(first->max_cache, absl::Seconds(20));
  EXPECT_GT(first->expires_at, absl::Now());
  EXPECT_FALSE(first->stale_fallback);
  EXPECT_TRUE(sandbox_.IsValid(first->value));
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<Token> again = GetToken();
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->value, first->value);
  }
  // One RPC for 21 calls, and WeChat was not asked again.
  EXPECT_EQ(rpcs_.Get(kGetToken), 1);
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 1);

  // The retry helper with a WeChat call that checks the token at the sandbox.
  int wechat_calls = 0;
  absl::StatusOr<WeChatReply> reply =
      client_->CallWithToken(kApp, [&](const std::string& token) {
        ++wechat_calls;
        return WeChatReply{sandbox_.IsValid(token) ? 0 : 40001};
      });
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->errcode, 0);
  EXPECT_EQ(wechat_calls, 1);

  // WeChat rejected the value: the client reports it and gets a new one,
  // which it then serves from its cache.
  absl::StatusOr<Token> second = client_->ReportInvalid(
      kApp, TokenKind::kAccessToken, first->value, 40001);
  ASSERT_TRUE(second.ok()) << second.status();
  seen_.insert(second->value);
  EXPECT_NE(second->value, first->value);
  EXPECT_EQ(second->generation, 2u);
  EXPECT_TRUE(sandbox_.IsValid(second->value));
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 2);
  absl::StatusOr<Token> cached = GetToken();
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(cached->value, second->value);
  EXPECT_EQ(rpcs_.Get(kGetToken), 1);
  EXPECT_EQ(rpcs_.Get(kForceRefresh), 1);
}

TEST_F(ClientE2eTest, ReportInvalidWaitsOutTheControllersMinimumInterval) {
  // The controller fetched a token just now and waits force_min_interval
  // (4 s) before fetching again: longer than GetToken's 2 s deadline.
  client_options_ = ClientOptions();
  ASSERT_NO_FATAL_FAILURE(StartAll(/*lifetime_s=*/300, /*overlap_s=*/25,
                                   /*margin_s=*/10, /*max_cache_s=*/20,
                                   /*force_min_interval_s=*/4));
  absl::StatusOr<Token> first = GetToken();
  ASSERT_TRUE(first.ok()) << first.status();
  const absl::Time reported = absl::Now();
  absl::StatusOr<Token> second = client_->ReportInvalid(
      kApp, TokenKind::kAccessToken, first->value, 40001);
  ASSERT_TRUE(second.ok()) << second.status();
  seen_.insert(second->value);
  EXPECT_NE(second->value, first->value);
  EXPECT_GE(absl::Now() - reported, absl::Seconds(2))
      << "the report outlived GetToken's deadline";
  EXPECT_EQ(sandbox_.TokenCalls(kApp), 2);
  absl::StatusOr<Token> cached = GetToken();
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->value, second->value);
}

TEST_F(ClientE2eTest, StoppedControllerKeepsCachedValueForItsStaleIfError) {
  // Tokens live 12 s, replaced ones 5 s more; the client may cache an
  // answer for 1 s, and fall back on it for the 5 s the controller
  // guarantees. Polling: the bound is the one answer's.
  client_options_.watch = false;
  ASSERT_NO_FATAL_FAILURE(StartAll(/*lifetime_s=*/12, /*overlap_s=*/5,
                                   /*margin_s=*/2, /*max_cache_s=*/1));
  const absl::Time asked = absl::Now();
  absl::StatusOr<Token> held = GetToken();
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_GE(held->stale_if_error, held->max_cache);
  EXPECT_LE(held->stale_if_error, absl::Seconds(5));
  const absl::Time bound = asked + held->stale_if_error;
  controller_.Kill();

  // Slack around the bound for a call that straddles it.
  constexpr absl::Duration kSlack = absl::Milliseconds(200);
  bool saw_fallback = false;
  bool saw_unavailable = false;
  const absl::Time give_up = bound + absl::Seconds(20);
  while (!saw_unavailable && absl::Now() < give_up) {
    const absl::Time before = absl::Now();
    absl::StatusOr<Token> token = GetToken();
    const absl::Time after = absl::Now();
    if (after < bound - kSlack) {
      ASSERT_TRUE(token.ok()) << token.status();
      EXPECT_EQ(token->value, held->value);
      if (token->stale_fallback) {
        saw_fallback = true;
        // Still good at WeChat, as the controller promised.
        EXPECT_TRUE(sandbox_.IsValid(token->value));
      }
    } else if (before >= bound) {
      EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable)
          << "a value was served past its stale_if_error";
      saw_unavailable = !token.ok();
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(saw_fallback);
  EXPECT_TRUE(saw_unavailable);
}

TEST_F(ClientE2eTest, WatchedRotationsReachTheCacheWithoutRpcs) {
  // A rotation every ~2 s and a 1 s max_cache: polling would ask about once
  // a second; the stream pushes each value and renews it every half second.
  ASSERT_NO_FATAL_FAILURE(StartAll(/*lifetime_s=*/4, /*overlap_s=*/3,
                                   /*margin_s=*/2, /*max_cache_s=*/1));
  std::set<uint64_t> generations;
  int calls = 0;
  const absl::Time end = absl::Now() + absl::Seconds(10);
  while (absl::Now() < end) {
    absl::StatusOr<Token> token = GetToken();
    ASSERT_TRUE(token.ok()) << token.status();
    ++calls;
    if (generations.insert(token->generation).second) {
      EXPECT_TRUE(sandbox_.IsValid(token->value));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GE(generations.size(), 4u) << "rotations seen";
  EXPECT_GT(calls, 100);
  // The first call's, and at most a couple more on a machine so loaded that
  // a renewal came late (which also restarts the stream).
  EXPECT_LE(rpcs_.Get(kWatchToken), 3);
  EXPECT_LE(rpcs_.Get(kGetToken), 3);
}

TEST_F(ClientE2eTest, WatchingClientServesWithinBoundsAndReconnects) {
  ASSERT_NO_FATAL_FAILURE(StartAll(/*lifetime_s=*/12, /*overlap_s=*/5,
                                   /*margin_s=*/2, /*max_cache_s=*/1));
  absl::StatusOr<Token> held = GetToken();
  ASSERT_TRUE(held.ok()) << held.status();
  controller_.Kill();
  // Whatever it serves meanwhile is still good at WeChat; after the
  // overlap nothing is certain and it says UNAVAILABLE.
  bool saw_unavailable = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!saw_unavailable && absl::Now() < give_up) {
    absl::StatusOr<Token> token = GetToken();
    if (token.ok()) {
      EXPECT_EQ(token->value, held->value);
      EXPECT_TRUE(sandbox_.IsValid(token->value));
    } else {
      EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
      saw_unavailable = true;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(saw_unavailable);

  const int watches = rpcs_.Get(kWatchToken);
  ASSERT_NO_FATAL_FAILURE(controller_.Start(controller_options_, dir_));
  absl::StatusOr<Token> back;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  do {
    absl::SleepFor(absl::Milliseconds(100));
    back = GetToken();
  } while (!back.ok() && absl::Now() < deadline);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(sandbox_.IsValid(back->value));
  // Reconnected (after a backoff of up to 10 s): served from the stream
  // again. Polling on a 1 s max_cache would ask at least once in any 1.5 s.
  bool streamed = false;
  const absl::Time reconnect_deadline = absl::Now() + absl::Seconds(40);
  while (!streamed && absl::Now() < reconnect_deadline) {
    const int asked = rpcs_.Get(kGetToken);
    for (int i = 0; i < 30; ++i) {
      ASSERT_TRUE(GetToken().ok());
      absl::SleepFor(absl::Milliseconds(50));
    }
    streamed = rpcs_.Get(kGetToken) == asked;
  }
  EXPECT_TRUE(streamed) << "no 1.5 s without a GetToken RPC after the restart";
  EXPECT_GT(rpcs_.Get(kWatchToken), watches);
}

}  // namespace
}  // namespace wxtoken::testing
