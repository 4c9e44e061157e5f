// End-to-end: a third-party platform (DESIGN.md "Third-party platforms").
// The real sandbox pushes signed, encrypted verify tickets over HTTP to the
// real wxtokend's push_listen; wxtokend fetches the component token with
// them and serves it over real gRPC, and refuses every push that is not
// WeChat's without changing anything.
#include <google/protobuf/util/time_util.h>
#include <httplib.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/child_process.h"
#include "tests/e2e/e2e_env.h"
#include "tests/e2e/redis_process.h"

namespace wxtoken::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPlatform[] = "wxcomponente2e00001";
constexpr char kSecret[] = "e2e-component-secret-77d0";
constexpr char kServerToken[] = "platformtoken";
// 43 characters: an EncodingAESKey.
constexpr char kAesKey[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

// How often `line` is in `logs`.
int Count(const std::string& logs, const std::string& line) {
  int count = 0;
  for (size_t at = logs.find(line); at != std::string::npos;
       at = logs.find(line, at + 1)) {
    ++count;
  }
  return count;
}

std::string PushUrl(const Controller& controller) {
  return absl::StrCat("http://127.0.0.1:", controller.push_port(),
                      "/wechat/platform/", kPlatform);
}

// A push as it reached the edge.
struct RecordedPush {
  std::string target;  // path and query
  std::string body;
  std::string param(const std::string& name) const {
    httplib::Request request;
    std::string query = target.substr(target.find('?') + 1);
    httplib::detail::parse_query_text(query, request.params);
    return request.get_param_value(name.c_str());
  }
};

// An edge between the sandbox (WeChat) and wxtokend's push_listen: records
// every push and, when given a port, passes it on and answers what
// wxtokend answered; else answers "success" itself. A forwarded push is
// recorded only once wxtokend has answered it, so a test that replays the
// last one recorded never races the original (wxtokend's probe at start
// can make the sandbox push a second ticket at any time).
class PushEdge {
 public:
  void Start(int forward_port) {
    forward_port_ = forward_port;
    server_.Post(".*",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   Answer(req, res);
                   absl::MutexLock lock(&mu_);
                   pushes_.push_back({req.target, req.body});
                 });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~PushEdge() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const {
    return absl::StrCat("http://127.0.0.1:", port_, "/wechat/platform/",
                        kPlatform);
  }
  std::vector<RecordedPush> pushes() {
    absl::MutexLock lock(&mu_);
    return pushes_;
  }

 private:
  void Answer(const httplib::Request& req, httplib::Response& res) {
    if (forward_port_ == 0) {
      res.set_content("success", "text/plain");
      return;
    }
    httplib::Client client("127.0.0.1", forward_port_);
    client.set_read_timeout(std::chrono::seconds(10));
    auto answer = client.Post(req.target, req.body, "text/xml");
    if (!answer) {
      res.status = 502;
      return;
    }
    res.status = answer->status;
    res.set_content(answer->body, "text/plain");
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  int forward_port_ = 0;
  absl::Mutex mu_;
  std::vector<RecordedPush> pushes_ ABSL_GUARDED_BY(mu_);
};

class PlatformE2eTest : public ::testing::Test {
 protected:
  void StartBoth(absl::Duration lifetime = absl::Seconds(60),
                 bool rotate_refresh_tokens = false,
                 absl::Duration overlap = absl::Seconds(3)) {
    dir_ = MakeTempDir("platform");
    Sandbox::Options sandbox_options;
    sandbox_options.platforms = {{kPlatform, kSecret}};
    sandbox_options.lifetime = lifetime;
    sandbox_options.overlap = overlap;
    sandbox_options.rotate_refresh_tokens = rotate_refresh_tokens;
    sandbox_options.platform_authorizers = listed_authorizers_;
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox_options, dir_));
    options_.base_url = sandbox_.base_url();
    options_.platforms = {{kPlatform, kSecret, kServerToken, kAesKey, ""}};
    options_.overlap = absl::FormatDuration(overlap);
    options_.margin = "2s";
    options_.client_max_cache = "1s";
    options_.timeout = "1s";
    options_.state_dir = dir_ + "/state";
    options_.metrics = true;
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options_, dir_));
    // A first start has no ticket: wxtokend asks WeChat to push one. Once
    // that is answered (no push target yet, so nothing was pushed), no
    // other push comes but the test's own: the next ask is 30 min away.
    ASSERT_TRUE(controller_.WaitForLog(
        "asked WeChat to push one (api_start_push_ticket)", absl::Seconds(20)))
        << controller_.Logs();
  }
  // The platform's component token, from a pushed ticket.
  void StartPlatform() {
    ASSERT_NO_FATAL_FAILURE(sandbox_.SetPushTarget(
        kPlatform, PushUrl(controller_), kServerToken, kAesKey));
    const Sandbox::PushAnswer push = sandbox_.PushTicket(kPlatform);
    ASSERT_EQ(push.status, 200) << push.body;
    seen_.push_back(push.ticket);
    seen_.push_back(controller_.WaitForToken(kPlatform).value());
  }
  // Every file under the state directory.
  // GetToken of an authorizer's key wxtokend may not know, once the platform's
  // first list pass is done: until then an unknown one is UNAVAILABLE (it
  // may yet be listed). Polls for at most 20 s.
  grpc::Status GetTokenAfterTakeover(const std::string& key,
                                     wxtoken::v1::Token* token) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    grpc::Status status;
    do {
      status = controller_.GetToken(key, token);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
      absl::SleepFor(absl::Milliseconds(20));
    } while (absl::Now() < deadline);
    return status;
  }
  std::string StateFiles() {
    std::string all;
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(options_.state_dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      all += std::string(std::istreambuf_iterator<char>(in), {});
    }
    return all;
  }
  // No refresh token the sandbox issued is in `text` in plaintext.
  void ExpectNoRefreshTokenIn(const std::string& text, const char* where) {
    const std::vector<std::string> issued = sandbox_.IssuedRefreshTokens();
    EXPECT_FALSE(issued.empty());
    for (const std::string& token : issued) {
      EXPECT_THAT(text, Not(HasSubstr(token)))
          << "a refresh token in plaintext in " << where;
      seen_.push_back(token);
    }
  }
  // POSTs a push straight to push_listen.
  httplib::Result Post(const std::string& target, const std::string& body) {
    httplib::Client client("127.0.0.1", controller_.push_port());
    client.set_read_timeout(std::chrono::seconds(10));
    return client.Post(target, body, "text/xml");
  }
  int ComponentTokenCalls() {
    return sandbox_.PlatformCount(kPlatform, "component_token_calls");
  }
  void TearDown() override {
    if (::testing::Test::HasFailure()) return;
    const std::string logs = controller_.Logs();
    ExpectJsonLogLines(logs);
    for (const char* secret : {kSecret, kServerToken, kAesKey}) {
      EXPECT_THAT(logs, Not(HasSubstr(secret)));
    }
    for (const std::string& value : seen_) {
      EXPECT_THAT(logs, Not(HasSubstr(value))) << "a full value was logged";
    }
  }

  // Accounts the sandbox has authorized before the test starts.
  int listed_authorizers_ = 0;
  std::string dir_;
  Sandbox sandbox_;
  Controller::Options options_;
  Controller controller_;
  std::vector<std::string> seen_;
};

constexpr char kAuthorizer[] = "wxauthorizere2e001";

std::string AuthorizerKey(const std::string& authorizer = kAuthorizer) {
  return absl::StrCat(kPlatform, "/", authorizer);
}

// Reads a WatchToken stream on its own thread until it ends.
class StreamEnd {
 public:
  StreamEnd(Controller& controller, const std::string& app_id) {
    wxtoken::v1::WatchTokenRequest request;
    request.set_app_id(app_id);
    reader_ = controller.stub().WatchToken(&context_, request);
    thread_ = std::thread([this] {
      wxtoken::v1::WatchTokenResponse response;
      while (reader_->Read(&response)) {
        absl::MutexLock lock(&mu_);
        ++messages_;
      }
      grpc::Status status = reader_->Finish();
      absl::MutexLock lock(&mu_);
      status_ = std::move(status);
    });
  }
  ~StreamEnd() {
    context_.TryCancel();
    thread_.join();
  }
  int messages() {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  std::optional<grpc::Status> WaitForEnd(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return status_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&ended), timeout);
    return status_;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<wxtoken::v1::WatchTokenResponse>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  int messages_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
};

TEST_F(PlatformE2eTest,
       APushedTicketFetchesAComponentTokenServedOverRotations) {
  // Component tokens of 6 s: refreshed 2 s early, so a rotation every ~4 s.
  ASSERT_NO_FATAL_FAILURE(StartBoth(absl::Seconds(6)));
  // No ticket yet: UNAVAILABLE, naming what is missing.
  wxtoken::v1::Token token;
  grpc::Status status = controller_.GetToken(kPlatform, &token);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("component_verify_ticket"));
  EXPECT_EQ(controller_.Health(
                absl::StrCat("wxtoken.v1.TokenController/", kPlatform)),
            "NOT_SERVING");

  ASSERT_NO_FATAL_FAILURE(sandbox_.SetPushTarget(
      kPlatform, PushUrl(controller_), kServerToken, kAesKey));
  const Sandbox::PushAnswer push = sandbox_.PushTicket(kPlatform);
  EXPECT_EQ(push.status, 200);
  EXPECT_EQ(push.body, "success");
  seen_.push_back(push.ticket);

  MaxCacheChecker checker;
  uint64_t generation = controller_.WaitForToken(kPlatform).generation();
  EXPECT_EQ(generation, 1u);
  EXPECT_TRUE(controller_.WaitForHealth(
      absl::StrCat("wxtoken.v1.TokenController/", kPlatform), "SERVING",
      absl::Seconds(10)));
  int checks = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (generation < 4 && absl::Now() < deadline) {
    status = controller_.GetToken(kPlatform, &token);
    ASSERT_TRUE(status.ok()) << status.error_message();
    checker.Record(token, absl::Now());
    seen_.push_back(token.value());
    generation = std::max(generation, token.generation());
    checks += checker.CheckAll(sandbox_);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GE(generation, 4u) << "fewer than three rotations";
  EXPECT_GT(checks, 20);
  EXPECT_EQ(checker.CheckAgainstRecord(sandbox_), 0);
  // One fetch per generation: the pushed ticket served every one.
  EXPECT_LE(ComponentTokenCalls(), static_cast<int>(generation) + 1);
}

TEST_F(PlatformE2eTest, PushesThatAreNotWeChatsAreRefusedAndChangeNothing) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  PushEdge edge;
  ASSERT_NO_FATAL_FAILURE(edge.Start(controller_.push_port()));
  ASSERT_NO_FATAL_FAILURE(
      sandbox_.SetPushTarget(kPlatform, edge.url(), kServerToken, kAesKey));
  const Sandbox::PushAnswer push = sandbox_.PushTicket(kPlatform);
  ASSERT_EQ(push.status, 200);
  seen_.push_back(push.ticket);
  const wxtoken::v1::Token first = controller_.WaitForToken(kPlatform);
  const int calls = ComponentTokenCalls();
  // The one push: StartBoth waited out wxtokend's probe.
  ASSERT_EQ(edge.pushes().size(), 1u);
  const RecordedPush real = edge.pushes().back();
  const int taken = Count(controller_.Logs(), "a pushed ticket arrived");
  const std::string path = absl::StrCat("/wechat/platform/", kPlatform);

  // A replay of the push just taken.
  auto answer = Post(real.target, real.body);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 409) << answer->body;
  // The same body with a signature that is not the platform's.
  answer =
      Post(absl::StrCat(path, "?msg_signature=", std::string(40, '0'),
                        "&timestamp=", real.param("timestamp"),
                        "&nonce=", real.param("nonce"), "&encrypt_type=aes"),
           real.body);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400) << answer->body;
  EXPECT_THAT(answer->body, HasSubstr("msg_signature"));
  // Garbage with the real signature.
  answer = Post(real.target, "<xml><Encrypt>garbage</Encrypt></xml>");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400) << answer->body;
  answer = Post(real.target, "not xml at all");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400) << answer->body;
  // Past 64 KiB.
  answer = Post(real.target, std::string(70 * 1024, 'x'));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 413);
  // A platform not configured here.
  answer = Post(absl::StrCat("/wechat/platform/wxcomponentunknown01",
                             real.target.substr(real.target.find('?'))),
                real.body);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 404);

  // Nothing changed: the same token, no fetch, one ticket taken.
  wxtoken::v1::Token now;
  ASSERT_TRUE(controller_.GetToken(kPlatform, &now).ok());
  EXPECT_EQ(now.generation(), first.generation());
  EXPECT_EQ(now.value(), first.value());
  EXPECT_EQ(ComponentTokenCalls(), calls);
  EXPECT_EQ(Count(controller_.Logs(), "a pushed ticket arrived"), taken);
}

TEST_F(PlatformE2eTest, SubmitPlatformPushTakesAPushAnEdgeReceived) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  // The edge answers WeChat itself and hands the push over by RPC.
  PushEdge edge;
  ASSERT_NO_FATAL_FAILURE(edge.Start(0));
  ASSERT_NO_FATAL_FAILURE(
      sandbox_.SetPushTarget(kPlatform, edge.url(), kServerToken, kAesKey));
  seen_.push_back(sandbox_.PushTicket(kPlatform).ticket);
  ASSERT_EQ(edge.pushes().size(), 1u);
  const RecordedPush push = edge.pushes().back();

  wxtoken::v1::SubmitPlatformPushRequest request;
  request.set_component_app_id(kPlatform);
  request.set_msg_signature(push.param("msg_signature"));
  request.set_timestamp(push.param("timestamp"));
  request.set_nonce(push.param("nonce"));
  request.set_body(push.body);
  {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::SubmitPlatformPushResponse response;
    grpc::Status status =
        controller_.stub().SubmitPlatformPush(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.reply(), "success");
  }
  seen_.push_back(controller_.WaitForToken(kPlatform).value());
  {
    // A body that is not the one signed: INVALID_ARGUMENT, naming why.
    request.set_body("<xml><Encrypt>AAAA</Encrypt></xml>");
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::SubmitPlatformPushResponse response;
    grpc::Status status =
        controller_.stub().SubmitPlatformPush(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("msg_signature"));
  }
}

TEST_F(PlatformE2eTest, AnAuthorizerIsServedOnAuthorizingAndRefusedOnRevoking) {
  // Authorizer tokens of 6 s, refresh tokens rotated at every refresh.
  ASSERT_NO_FATAL_FAILURE(StartBoth(absl::Seconds(6), true));
  ASSERT_NO_FATAL_FAILURE(StartPlatform());
  wxtoken::v1::Token token;
  EXPECT_EQ(GetTokenAfterTakeover(AuthorizerKey(), &token).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // authorized: answered once its code is stored, served within 2 s.
  const absl::Time authorized = absl::Now();
  const Sandbox::PushAnswer push = sandbox_.Authorize(kPlatform, kAuthorizer);
  EXPECT_EQ(push.status, 200) << push.body;
  EXPECT_EQ(push.body, "success");
  grpc::Status status;
  do {
    status = controller_.GetToken(AuthorizerKey(), &token);
    if (!status.ok()) absl::SleepFor(absl::Milliseconds(20));
  } while (!status.ok() && absl::Now() < authorized + absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_LT(absl::Now() - authorized, absl::Seconds(2 * kLatencySlack));
  EXPECT_EQ(sandbox_.PlatformCount(kPlatform, "query_auth_calls"), 1);

  // Over rotations (each with a new refresh token), no answer is revoked
  // inside its max_cache.
  MaxCacheChecker checker;
  uint64_t generation = token.generation();
  const uint64_t first = generation;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (generation < first + 3 && absl::Now() < deadline) {
    status = controller_.GetToken(AuthorizerKey(), &token);
    ASSERT_TRUE(status.ok()) << status.error_message();
    checker.Record(token, absl::Now());
    seen_.push_back(token.value());
    generation = std::max(generation, token.generation());
    checker.CheckAll(sandbox_);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GE(generation, first + 3) << "fewer than three rotations";
  EXPECT_EQ(checker.CheckAgainstRecord(sandbox_), 0);
  EXPECT_GE(sandbox_.PlatformCount(kPlatform, "authorizer_token_calls"), 3);
  // Per platform, never per authorizer.
  std::string metrics = controller_.ScrapeMetrics();
  EXPECT_THAT(metrics,
              HasSubstr(absl::StrCat("wxtoken_platform_authorizers{app_id=\"",
                                     kPlatform, "\",state=\"active\"} 1")));
  EXPECT_THAT(metrics,
              HasSubstr(absl::StrCat(
                  "wxtoken_platform_ticket_created_timestamp_seconds{app_id=\"",
                  kPlatform, "\",ticket=\"component_verify_ticket\"}")));
  EXPECT_THAT(metrics,
              HasSubstr("wxtoken_platform_refresh_token_rotations_total"));
  EXPECT_THAT(metrics, Not(HasSubstr(kAuthorizer)));

  // unauthorized: refused within 2 s, and its watch stream ends so.
  StreamEnd stream(controller_, AuthorizerKey());
  const absl::Time revoked = absl::Now();
  const Sandbox::PushAnswer revoke =
      sandbox_.Unauthorize(kPlatform, kAuthorizer);
  EXPECT_EQ(revoke.status, 200) << revoke.body;
  status = controller_.GetToken(AuthorizerKey(), &token);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("revoked"));
  std::optional<grpc::Status> ended = stream.WaitForEnd(absl::Seconds(10));
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_LT(absl::Now() - revoked, absl::Seconds(2 * kLatencySlack));
  EXPECT_THAT(controller_.ScrapeMetrics(),
              HasSubstr(absl::StrCat("wxtoken_platform_authorizers{app_id=\"",
                                     kPlatform, "\",state=\"revoked\"} 1")));
  // And it stays so across a restart; authorizing again brings it back.
  ASSERT_EQ(controller_.Stop(), 0);
  ASSERT_NO_FATAL_FAILURE(controller_.Start(options_, dir_));
  ASSERT_NO_FATAL_FAILURE(sandbox_.SetPushTarget(
      kPlatform, PushUrl(controller_), kServerToken, kAesKey));
  EXPECT_EQ(controller_.GetToken(AuthorizerKey(), &token).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(sandbox_.Authorize(kPlatform, kAuthorizer).status, 200);
  seen_.push_back(controller_.WaitForToken(AuthorizerKey()).value());

  ExpectNoRefreshTokenIn(StateFiles(), "the state directory");
}

TEST_F(PlatformE2eTest, APlatformsExistingAuthorizersAreTakenOverByItsList) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  // Authorized before wxtokend took over: no push reached it.
  const std::vector<std::string> authorizers = {
      "wxauthorizere2e001", "wxauthorizere2e002", "wxauthorizere2e003"};
  for (const std::string& authorizer : authorizers) {
    sandbox_.Authorize(kPlatform, authorizer);
  }
  wxtoken::v1::Token token;
  // Until the first list pass completes, an unknown one may yet be listed.
  EXPECT_EQ(controller_.GetToken(AuthorizerKey("wxnotlisted0001"), &token)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  ASSERT_NO_FATAL_FAILURE(StartPlatform());
  grpc::Status status =
      GetTokenAfterTakeover(AuthorizerKey("wxnotlisted0001"), &token);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  // Listed, not fetched: each one's first GetToken waits for its fetch.
  EXPECT_EQ(sandbox_.PlatformCount(kPlatform, "authorizer_token_calls"), 0);
  for (const std::string& authorizer : authorizers) {
    status = controller_.GetToken(AuthorizerKey(authorizer), &token);
    ASSERT_TRUE(status.ok()) << authorizer << ": " << status.error_message();
    EXPECT_TRUE(sandbox_.IsValid(token.value()));
    seen_.push_back(token.value());
  }
  EXPECT_EQ(sandbox_.PlatformCount(kPlatform, "authorizer_token_calls"), 3);
  EXPECT_EQ(sandbox_.PlatformCount(kPlatform, "query_auth_calls"), 0);
  ExpectNoRefreshTokenIn(StateFiles(), "the state directory");
}

// DESIGN.md "Operations": ListOwners pages through a platform's 10,000
// authorizers in key order, every page bounded, none missed or repeated.
TEST_F(PlatformE2eTest, ListOwnersPagesThroughTenThousandAuthorizers) {
  constexpr int kListed = 10000;
  listed_authorizers_ = kListed;
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  ASSERT_NO_FATAL_FAILURE(StartPlatform());
  // The list pass takes them all over (stored, not fetched).
  auto describe = [&](const std::string& app_id,
                      wxtoken::v1::DescribeOwnerResponse* response) {
    grpc::ClientContext context;
    SetDeadline(context);
    wxtoken::v1::DescribeOwnerRequest request;
    request.set_app_id(app_id);
    return controller_.stub().DescribeOwner(&context, request, response);
  };
  wxtoken::v1::DescribeOwnerResponse platform;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  do {
    platform.Clear();
    ASSERT_TRUE(describe(kPlatform, &platform).ok());
    if (platform.owner().platform().authorizers_active() < kListed) {
      absl::SleepFor(absl::Milliseconds(100));
    }
  } while (platform.owner().platform().authorizers_active() < kListed &&
           absl::Now() < deadline);
  ASSERT_EQ(platform.owner().platform().authorizers_active(), kListed);
  EXPECT_EQ(platform.owner().state(), wxtoken::v1::OWNER_STATE_SERVING);
  EXPECT_TRUE(platform.owner().platform().has_ticket_created());

  auto list = [&](wxtoken::v1::ListOwnersRequest request,
                  wxtoken::v1::ListOwnersResponse* response) {
    grpc::ClientContext context;
    SetDeadline(context);
    return controller_.stub().ListOwners(&context, request, response);
  };
  // Every owner, 777 a page: the platform and each authorizer once, in
  // order.
  std::vector<std::string> keys;
  wxtoken::v1::ListOwnersRequest request;
  request.set_page_size(777);
  int pages = 0;
  do {
    wxtoken::v1::ListOwnersResponse page;
    const grpc::Status status = list(request, &page);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_LE(page.owners_size(), 777);
    for (const wxtoken::v1::OwnerStatus& owner : page.owners()) {
      if (!keys.empty()) {
        ASSERT_LT(keys.back(), owner.app_id()) << "out of order or repeated";
      }
      keys.push_back(owner.app_id());
    }
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 100);
  EXPECT_EQ(keys.size(), static_cast<size_t>(kListed + 1));
  EXPECT_EQ(pages, (kListed + 1 + 776) / 777);
  EXPECT_EQ(keys.front(), kPlatform);

  // The platform's authorizers, listed and never used: idle, no token, no
  // value fetched.
  request.Clear();
  request.set_key_prefix(absl::StrCat(kPlatform, "/"));
  request.set_state(wxtoken::v1::OWNER_STATE_IDLE);
  request.set_page_size(5000);  // at most 1000 a page
  wxtoken::v1::ListOwnersResponse idle;
  ASSERT_TRUE(list(request, &idle).ok());
  EXPECT_EQ(idle.owners_size(), 1000);
  EXPECT_FALSE(idle.next_page_token().empty());
  EXPECT_EQ(idle.owners(0).kinds(0).generation(), 0u);
  EXPECT_TRUE(idle.owners(0).kinds(0).fingerprint().empty());
  EXPECT_EQ(sandbox_.PlatformCount(kPlatform, "authorizer_token_calls"), 0);

  // Used: fetched, then serving, with its fingerprint and never its value.
  // Its first request is recorded after the 10,000 records the list pass
  // wrote (one file and fsync each in this store): on a loaded machine
  // that takes longer than a call's deadline, so the takeover is let
  // finish first, and a call that still runs out is asked again.
  const absl::Time use_deadline = absl::Now() + absl::Seconds(90);
  auto stored = [&] {
    size_t files = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator(options_.state_dir)) {
      ++files;
    }
    return files;
  };
  while (stored() < static_cast<size_t>(kListed + 1) &&
         absl::Now() < use_deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  const std::string used = idle.owners(0).app_id();
  wxtoken::v1::Token token;
  grpc::Status got;
  do {
    got = controller_.GetToken(used, &token);
    if (!got.ok()) {
      ASSERT_TRUE(got.error_code() == grpc::StatusCode::UNAVAILABLE ||
                  got.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
          << got.error_code() << ": " << got.error_message();
      absl::SleepFor(absl::Milliseconds(200));
    }
  } while (!got.ok() && absl::Now() < use_deadline);
  ASSERT_TRUE(got.ok()) << got.error_message();
  seen_.push_back(token.value());
  wxtoken::v1::DescribeOwnerResponse described;
  ASSERT_TRUE(describe(used, &described).ok());
  EXPECT_EQ(described.owner().state(), wxtoken::v1::OWNER_STATE_SERVING);
  EXPECT_EQ(described.owner().kinds(0).generation(), token.generation());
  EXPECT_FALSE(described.owner().kinds(0).fingerprint().empty());
  EXPECT_THAT(described.DebugString(), Not(HasSubstr(token.value())));

  // A page token that no page gave, and an unknown owner, are refused.
  request.Clear();
  request.set_page_token("not a token!");
  wxtoken::v1::ListOwnersResponse refused;
  EXPECT_EQ(list(request, &refused).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(describe("wxnobody", &described).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // `wxtoken status` on the platform, as a person reads it.
  auto [exit_status, table] = controller_.Cli({"status", kPlatform});
  EXPECT_EQ(exit_status, 0) << table;
  EXPECT_THAT(table, HasSubstr("serving"));
  EXPECT_THAT(table, HasSubstr("authorizers: 10000 active"));
}

TEST_F(PlatformE2eTest, KillNineWithRotatingRefreshTokensLosesNoAuthorizer) {
  // Tokens of 8 s: a refresh, with a new refresh token, every ~6 s; a
  // replaced refresh token works 5 s more, the time a restart has.
  ASSERT_NO_FATAL_FAILURE(StartBoth(absl::Seconds(8), true,
                                    /*overlap=*/absl::Seconds(5)));
  ASSERT_NO_FATAL_FAILURE(StartPlatform());
  const std::vector<std::string> authorizers = {
      "wxauthorizere2e001", "wxauthorizere2e002", "wxauthorizere2e003"};
  for (const std::string& authorizer : authorizers) {
    ASSERT_EQ(sandbox_.Authorize(kPlatform, authorizer).status, 200);
  }
  MaxCacheChecker checker;
  for (int crash = 0; crash < 3; ++crash) {
    // Serve for a while, so refreshes (and rotations) are in flight at
    // the kill.
    const absl::Time until =
        absl::Now() + absl::Milliseconds(3500 + 1300 * crash);
    for (const std::string& authorizer : authorizers) {
      seen_.push_back(
          controller_.WaitForToken(AuthorizerKey(authorizer)).value());
    }
    while (absl::Now() < until) {
      for (const std::string& authorizer : authorizers) {
        wxtoken::v1::Token token;
        if (controller_.GetToken(AuthorizerKey(authorizer), &token).ok()) {
          checker.Record(token, absl::Now());
        }
      }
      checker.CheckAll(sandbox_);
      absl::SleepFor(absl::Milliseconds(50));
    }
    EXPECT_EQ(controller_.Kill(), 128 + SIGKILL);
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options_, dir_));
    ASSERT_NO_FATAL_FAILURE(sandbox_.SetPushTarget(
        kPlatform, PushUrl(controller_), kServerToken, kAesKey));
  }
  // Every authorizer is served again: none lost, none needs_reauth.
  for (const std::string& authorizer : authorizers) {
    wxtoken::v1::Token token =
        controller_.WaitForToken(AuthorizerKey(authorizer));
    EXPECT_FALSE(token.value().empty()) << authorizer;
    checker.Record(token, absl::Now());
  }
  EXPECT_GT(sandbox_.PlatformCount(kPlatform, "authorizer_token_calls"), 3);
  EXPECT_EQ(checker.CheckAgainstRecord(sandbox_), 0);
  EXPECT_THAT(controller_.Logs(), Not(HasSubstr("needs_reauth")));
  ExpectNoRefreshTokenIn(StateFiles(), "the state directory");
}

// Replicas on one real redis-server (DESIGN.md "Replicas"): a push that
// reaches a follower is passed on to the leader and stored once; the
// ticket and the component token outlive the leader's kill -9.
TEST(PlatformReplicaE2eTest, APushToAFollowerIsStoredOnceAndOutlivesTheLeader) {
  const std::string dir = MakeTempDir("platform_replicas");
  RedisProcess redis;
  ASSERT_NO_FATAL_FAILURE(redis.StartServer(MakeTempDir("redis")));
  Sandbox sandbox;
  Sandbox::Options sandbox_options;
  sandbox_options.platforms = {{kPlatform, kSecret}};
  sandbox_options.lifetime = absl::Seconds(8);
  sandbox_options.overlap = absl::Seconds(3);
  ASSERT_NO_FATAL_FAILURE(sandbox.Start(sandbox_options, dir));
  Controller::Options options;
  options.base_url = sandbox.base_url();
  // One vault key for both, as pods share one Secret.
  options.platforms = {
      {kPlatform, kSecret, kServerToken, kAesKey, RandomVaultKey()}};
  options.overlap = "3s";
  options.margin = "2s";
  options.client_max_cache = "1s";
  options.timeout = "1s";
  options.redis_addresses = redis.address();
  options.lease_ttl = "3s";
  Controller replicas[2];
  for (int i = 0; i < 2; ++i) {
    ASSERT_NO_FATAL_FAILURE(
        replicas[i].Start(options, MakeTempDir(absl::StrCat("replica", i))));
  }
  const int leader = WaitForLeader(replicas, 2, kStartTimeout);
  ASSERT_GE(leader, 0);
  Controller& follower = replicas[1 - leader];
  // Authorized before any push target: only the leader's list pass finds it.
  const std::string listed = "wxauthorizerlisted1";
  sandbox.Authorize(kPlatform, listed);

  ASSERT_NO_FATAL_FAILURE(sandbox.SetPushTarget(kPlatform, PushUrl(follower),
                                                kServerToken, kAesKey));
  const Sandbox::PushAnswer push = sandbox.PushTicket(kPlatform);
  EXPECT_EQ(push.status, 200) << push.body;
  EXPECT_EQ(push.body, "success");
  EXPECT_EQ(Count(replicas[leader].Logs(), "a pushed ticket arrived"), 1);
  EXPECT_EQ(Count(follower.Logs(), "a pushed ticket arrived"), 0);
  // The follower serves what the leader fetched with it.
  const wxtoken::v1::Token first = follower.WaitForToken(kPlatform);
  EXPECT_EQ(first.generation(), 1u);
  // An authorization pushed through the follower, too.
  const Sandbox::PushAnswer authorized =
      sandbox.Authorize(kPlatform, kAuthorizer);
  EXPECT_EQ(authorized.status, 200) << authorized.body;
  const wxtoken::v1::Token first_authorizer =
      follower.WaitForToken(AuthorizerKey());
  // The listed one was taken over, not fetched, and nothing counts a
  // follower's use as the leader's: its first GetToken on the follower is
  // passed on to the leader, which fetches it for that call.
  grpc::Status listed_status;
  wxtoken::v1::Token listed_token;
  const absl::Time listed_deadline = absl::Now() + absl::Seconds(20);
  do {
    listed_status = follower.GetToken(AuthorizerKey(listed), &listed_token);
    if (!listed_status.ok()) absl::SleepFor(absl::Milliseconds(50));
  } while (!listed_status.ok() && absl::Now() < listed_deadline);
  ASSERT_TRUE(listed_status.ok()) << listed_status.error_message();
  EXPECT_TRUE(sandbox.IsValid(listed_token.value()));
  EXPECT_EQ(Count(follower.Logs(), "sending a request to WeChat"), 0);
  const int pushed = sandbox.PlatformCount(kPlatform, "tickets_pushed");

  // kill -9 the leader: the follower takes over with the stored ticket and
  // refresh token and goes on refreshing the component token and the
  // authorizer's, never serving a revoked one.
  EXPECT_EQ(replicas[leader].Kill(), 128 + SIGKILL);
  MaxCacheChecker checker;
  uint64_t generation = first.generation();
  uint64_t authorizer_generation = first_authorizer.generation();
  const absl::Time end = absl::Now() + absl::Seconds(60);
  while ((generation < first.generation() + 3 ||
          authorizer_generation < first_authorizer.generation() + 3) &&
         absl::Now() < end) {
    wxtoken::v1::Token token;
    if (follower.GetToken(kPlatform, &token).ok()) {
      checker.Record(token, absl::Now());
      generation = std::max(generation, token.generation());
    }
    if (follower.GetToken(AuthorizerKey(), &token).ok()) {
      checker.Record(token, absl::Now());
      authorizer_generation =
          std::max(authorizer_generation, token.generation());
    }
    checker.CheckAll(sandbox);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GE(generation, first.generation() + 3)
      << "the new leader did not go on refreshing";
  EXPECT_GE(authorizer_generation, first_authorizer.generation() + 3)
      << "the new leader did not go on refreshing the authorizer";
  EXPECT_EQ(checker.CheckAgainstRecord(sandbox), 0);
  // It had no push of its own: the ticket came from the store.
  EXPECT_EQ(sandbox.PlatformCount(kPlatform, "tickets_pushed"), pushed);
  // No refresh token in plaintext anywhere in Redis.
  absl::StatusOr<std::string> dump = redis.Dump();
  ASSERT_TRUE(dump.ok()) << dump.status();
  const std::string& stored = *dump;
  EXPECT_THAT(stored, HasSubstr("owner.refresh_token"));
  const std::vector<std::string> issued = sandbox.IssuedRefreshTokens();
  EXPECT_FALSE(issued.empty());
  for (const std::string& token : issued) {
    EXPECT_THAT(stored, Not(HasSubstr(token)))
        << "a refresh token in plaintext in Redis";
  }
  const std::string logs = follower.Logs();
  ExpectJsonLogLines(logs);
  // The new leader opened what the old one sealed (not recovered it from
  // WeChat's list).
  EXPECT_EQ(Count(logs, "cannot open a sealed credential"), 0);
  for (const char* secret : {kSecret, kServerToken, kAesKey}) {
    EXPECT_THAT(logs, Not(HasSubstr(secret)));
  }
  EXPECT_THAT(logs, Not(HasSubstr(push.ticket)));
  follower.Stop();
  sandbox.Stop();
}

}  // namespace
}  // namespace wxtoken::testing
