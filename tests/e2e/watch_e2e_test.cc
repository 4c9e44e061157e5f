// WatchToken end to end: the real wxtokend and sandbox, real gRPC streams
// on loopback (DESIGN.md "API", WatchToken). Every bound leaves slack for a
// loaded 2-core machine; the one-second delivery bound is the contract's.
#include <google/protobuf/util/time_util.h>
#include <signal.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"

namespace wxtoken::testing {
namespace {

using ::google::protobuf::util::TimeUtil;

constexpr char kApp[] = "wxe2ewatch00000001";
constexpr char kSecret[] = "e2e-watch-secret-77d2";

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}
absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Nanoseconds(TimeUtil::DurationToNanoseconds(d));
}

// One WatchToken stream read on its own thread: every message with its
// arrival time, and how the stream ended. The stream is cancelled at
// destruction.
class WatchRecorder {
 public:
  struct Message {
    wxtoken::v1::Token token;
    absl::Time arrived;
    // GetToken's answer right after the message arrived.
    grpc::Status get_status;
    wxtoken::v1::Token get_token;
  };

  WatchRecorder(Controller& controller, uint64_t known_generation = 0,
                std::string app_id = kApp) {
    wxtoken::v1::WatchTokenRequest request;
    request.set_app_id(app_id);
    request.set_known_generation(known_generation);
    reader_ = controller.stub().WatchToken(&context_, request);
    thread_ = std::thread([this, &controller, app_id] {
      wxtoken::v1::WatchTokenResponse response;
      while (reader_->Read(&response)) {
        Message message{response.token(), absl::Now(), {}, {}};
        message.get_status = controller.GetToken(app_id, &message.get_token);
        absl::MutexLock lock(&mu_);
        messages_.push_back(std::move(message));
      }
      grpc::Status status = reader_->Finish();
      absl::MutexLock lock(&mu_);
      status_ = std::move(status);
      ended_at_ = absl::Now();
    });
  }
  ~WatchRecorder() {
    context_.TryCancel();
    thread_.join();
  }

  std::vector<Message> messages() const {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  // Waits until a message satisfies `done` or `timeout` passes.
  template <class Predicate>
  bool WaitFor(Predicate done, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const Message& message : messages_) {
        if (done(message.token)) return true;
      }
      return status_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    for (const Message& message : messages_) {
      if (done(message.token)) return true;
    }
    return false;
  }
  // How the stream ended, once it has (waits up to `timeout`).
  std::optional<grpc::Status> WaitForEnd(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return status_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&ended), timeout);
    return status_;
  }
  // When the stream ended (after WaitForEnd() saw it end).
  absl::Time ended_at() const {
    absl::MutexLock lock(&mu_);
    return ended_at_;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<wxtoken::v1::WatchTokenResponse>> reader_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<Message> messages_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
  absl::Time ended_at_ ABSL_GUARDED_BY(mu_);
};

class WatchE2eTest : public ::testing::Test {
 protected:
  void StartBoth(Sandbox::Options sandbox_options,
                 Controller::Options controller_options) {
    dir_ = MakeTempDir("watch");
    sandbox_options.apps = {{kApp, kSecret}};
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox_options, dir_));
    controller_options.base_url = sandbox_.base_url();
    controller_options.apps = {{kApp, kSecret}};
    ASSERT_NO_FATAL_FAILURE(controller_.Start(controller_options, dir_));
  }
  void TearDown() override {
    controller_.Stop();
    sandbox_.Stop();
  }
  wxtoken::v1::Token WaitForToken() { return controller_.WaitForToken(kApp); }
  grpc::Status ForceRefresh(const std::string& stale,
                            wxtoken::v1::ForceRefreshResponse* response) {
    return controller_.ForceRefresh(kApp, stale, response);
  }

  std::string dir_;
  Sandbox sandbox_;
  Controller controller_;
};

TEST_F(WatchE2eTest, AWatcherSeesEveryRotationWithinASecondAsGetTokenDoes) {
  Sandbox::Options sandbox;
  sandbox.lifetime = absl::Seconds(4);
  sandbox.overlap = absl::Seconds(3);
  Controller::Options controller;
  controller.overlap = "3s";
  controller.margin = "2s";
  ASSERT_NO_FATAL_FAILURE(StartBoth(sandbox, controller));
  const uint64_t first = WaitForToken().generation();

  WatchRecorder watcher(controller_);
  const uint64_t last = first + 4;
  ASSERT_TRUE(watcher.WaitFor(
      [&](const wxtoken::v1::Token& t) { return t.generation() >= last; },
      absl::Seconds(60)))
      << "four rotations";

  std::vector<WatchRecorder::Message> messages = watcher.messages();
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.front().token.generation(), first) << "the first at once";
  uint64_t generation = first;
  int compared = 0;
  for (const WatchRecorder::Message& message : messages) {
    const wxtoken::v1::Token& token = message.token;
    EXPECT_EQ(token.app_id(), kApp);
    EXPECT_FALSE(token.value().empty());
    ASSERT_LE(token.generation(), generation + 1) << "a rotation was missed";
    if (token.generation() == generation + 1) {
      generation = token.generation();
      // The value was fetched by a request sent at fetched_at; the watcher
      // has it less than a second later.
      EXPECT_LT(message.arrived - ToTime(token.fetched_at()), absl::Seconds(1))
          << "generation " << generation;
    }
    EXPECT_GT(ToDuration(token.max_cache()), absl::ZeroDuration());
    ASSERT_TRUE(message.get_status.ok()) << message.get_status.error_message();
    // GetToken asked right after: the same Token, unless it rotated again.
    if (message.get_token.generation() != token.generation()) continue;
    ++compared;
    EXPECT_EQ(message.get_token.value(), token.value());
    EXPECT_EQ(ToTime(message.get_token.fetched_at()),
              ToTime(token.fetched_at()));
    EXPECT_EQ(ToTime(message.get_token.expires_at()),
              ToTime(token.expires_at()));
    EXPECT_LE(ToDuration(message.get_token.max_cache()),
              ToDuration(token.max_cache()));
  }
  EXPECT_GE(generation, last);
  EXPECT_GE(compared, static_cast<int>(messages.size()) / 2);
}

TEST_F(WatchE2eTest, ForceRefreshReachesTheWatcherWithinASecond) {
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, {}));
  wxtoken::v1::Token current = WaitForToken();
  WatchRecorder watcher(controller_);
  for (int i = 0; i < 3; ++i) {
    wxtoken::v1::ForceRefreshResponse refreshed;
    absl::SleepFor(absl::Milliseconds(1100));  // force_min_interval: 1s
    const absl::Time asked = absl::Now();
    ASSERT_TRUE(ForceRefresh(current.value(), &refreshed).ok());
    const uint64_t want = refreshed.token().generation();
    ASSERT_TRUE(watcher.WaitFor(
        [&](const wxtoken::v1::Token& t) {
          return t.generation() == want &&
                 t.value() == refreshed.token().value();
        },
        absl::Seconds(10)));
    for (const WatchRecorder::Message& message : watcher.messages()) {
      if (message.token.generation() == want) {
        EXPECT_LT(message.arrived - asked, absl::Seconds(1));
        break;
      }
    }
    current = refreshed.token();
  }
}

TEST_F(WatchE2eTest, KnownGenerationCurrentSendsNothingUntilTheNextChange) {
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, {}));
  const wxtoken::v1::Token current = WaitForToken();
  WatchRecorder known(controller_, current.generation());
  WatchRecorder behind(controller_, current.generation() + 7);
  ASSERT_TRUE(behind.WaitFor(
      [&](const wxtoken::v1::Token& t) {
        return t.generation() == current.generation();
      },
      absl::Seconds(10)))
      << "a generation that is not current gets the current Token at once";
  // client_max_cache is 1 s: renewals go out every half second to `behind`,
  // never to the caller that holds the current generation.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_TRUE(known.messages().empty());
  EXPECT_GE(behind.messages().size(), 3u) << "renewed before max_cache";

  // The refresh's intent shortens the current value's validity (a change),
  // then the new value arrives.
  const absl::Time asked = absl::Now();
  wxtoken::v1::ForceRefreshResponse refreshed;
  ASSERT_TRUE(ForceRefresh(current.value(), &refreshed).ok());
  ASSERT_TRUE(known.WaitFor(
      [&](const wxtoken::v1::Token& t) {
        return t.generation() == refreshed.token().generation();
      },
      absl::Seconds(10)));
  for (const WatchRecorder::Message& message : known.messages()) {
    EXPECT_GE(message.arrived, asked) << "nothing before the change";
  }
  EXPECT_EQ(known.messages().back().token.value(), refreshed.token().value());
}

TEST_F(WatchE2eTest, AShortenedValidityIsPushedBeforeTheRequestIsAnswered) {
  Controller::Options controller;
  controller.timeout = "3s";
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, controller));
  const wxtoken::v1::Token current = WaitForToken();
  WatchRecorder watcher(controller_);
  ASSERT_TRUE(watcher.WaitFor([](const wxtoken::v1::Token&) { return true; },
                              absl::Seconds(10)));
  // The next fetch takes 1.5 s: its intent is recorded (the old value now
  // ends at most an overlap later) before it leaves.
  sandbox_.InjectFault("slow", 1, "delay_ms=1500");
  wxtoken::v1::ForceRefreshResponse refreshed;
  ASSERT_TRUE(ForceRefresh(current.value(), &refreshed).ok());
  const absl::Time answered = absl::Now();
  ASSERT_TRUE(watcher.WaitFor(
      [&](const wxtoken::v1::Token& t) {
        return t.generation() == refreshed.token().generation();
      },
      absl::Seconds(10)));
  bool shortened = false;
  for (const WatchRecorder::Message& message : watcher.messages()) {
    if (message.token.generation() == current.generation() &&
        ToTime(message.token.expires_at()) < ToTime(current.expires_at())) {
      shortened = true;
      EXPECT_LT(message.arrived, answered) << "pushed before the answer";
      EXPECT_LE(ToTime(message.token.expires_at()),
                message.arrived + absl::Seconds(5))
          << "ends at most an overlap (5 s) after the intent";
    }
  }
  EXPECT_TRUE(shortened) << "the shortened validity was not pushed";
}

TEST_F(WatchE2eTest, UnknownAppAndMissingTicketAreNotFoundAtOnce) {
  Controller::Options controller;
  controller.metrics = true;
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, controller));
  WaitForToken();
  {
    WatchRecorder open(controller_);
    ASSERT_TRUE(open.WaitFor([](const wxtoken::v1::Token&) { return true; },
                             absl::Seconds(10)));
    EXPECT_THAT(controller_.ScrapeMetrics(),
                ::testing::HasSubstr("\nwxtoken_watch_streams 1\n"));
    WatchRecorder unknown(controller_, 0, "wxunknown000000001");
    std::optional<grpc::Status> status = unknown.WaitForEnd(absl::Seconds(10));
    ASSERT_TRUE(status);
    EXPECT_EQ(status->error_code(), grpc::StatusCode::NOT_FOUND);
  }
  grpc::ClientContext context;
  SetDeadline(context);
  wxtoken::v1::WatchTokenRequest request;
  request.set_app_id(kApp);
  request.set_kind(wxtoken::v1::TOKEN_KIND_JSAPI_TICKET);
  auto reader = controller_.stub().WatchToken(&context, request);
  wxtoken::v1::WatchTokenResponse response;
  EXPECT_FALSE(reader->Read(&response));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("kind"));

  request.set_app_id("not an app id");
  grpc::ClientContext bad_context;
  SetDeadline(bad_context);
  auto bad = controller_.stub().WatchToken(&bad_context, request);
  EXPECT_FALSE(bad->Read(&response));
  EXPECT_EQ(bad->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(WatchE2eTest, StreamsEndAfterTheirJitteredMaxAge) {
  Controller::Options controller;
  controller.watch_max_stream_age = "3s";
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, controller));
  WaitForToken();
  const absl::Time start = absl::Now();
  WatchRecorder watcher(controller_);
  std::optional<grpc::Status> status = watcher.WaitForEnd(absl::Seconds(20));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status->error_message(),
              ::testing::HasSubstr("watch.max_stream_age"));
  EXPECT_GE(absl::Now() - start, absl::Seconds(2.7)) << "3 s less 10 %";
  EXPECT_GE(watcher.messages().size(), 4u) << "renewed until the end";
}

// The drain may still wait for the clients' connections to close (gRPC's
// GOAWAY): what matters to a watcher is that its stream ends at once, so it
// moves to another replica.
TEST_F(WatchE2eTest, StreamsEndUnavailableAsTheShutdownDrainStarts) {
  Controller::Options controller;
  controller.drain_timeout = "10s";
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, controller));
  WaitForToken();
  std::vector<std::unique_ptr<WatchRecorder>> watchers;
  for (int i = 0; i < 20; ++i) {
    watchers.push_back(std::make_unique<WatchRecorder>(controller_));
  }
  for (auto& watcher : watchers) {
    ASSERT_TRUE(watcher->WaitFor([](const wxtoken::v1::Token&) { return true; },
                                 absl::Seconds(10)));
  }
  const absl::Time stop = absl::Now();
  EXPECT_EQ(controller_.Stop(), 0);
  for (auto& watcher : watchers) {
    std::optional<grpc::Status> status = watcher->WaitForEnd(absl::Seconds(10));
    ASSERT_TRUE(status);
    EXPECT_EQ(status->error_code(), grpc::StatusCode::UNAVAILABLE)
        << status->error_message();
    EXPECT_LT(watcher->ended_at() - stop, absl::Seconds(5))
        << "ended by the 10 s drain's deadline, not at its start";
  }
}

// `wxtoken watch` as a script would run it: one line per new value, across
// the stream's max-age ends, until it is told to stop.
TEST_F(WatchE2eTest, CliWatchPrintsEachNewValueAcrossStreamEnds) {
  // Renewals every 2 s, longer than --timeout: a stream ended by wxtokend
  // is no failure to reach it.
  Controller::Options controller;
  controller.watch_max_stream_age = "2s";
  controller.client_max_cache = "4s";
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, controller));
  wxtoken::v1::Token current = WaitForToken();
  ChildProcess cli({BinaryPath("WXTOKEN_CLI"), "--addr", controller_.address(),
                    "--timeout", "1s", "watch", kApp},
                   dir_ + "/cli-watch");
  ChildProcess json({BinaryPath("WXTOKEN_CLI"), "--addr", controller_.address(),
                     "--json", "watch", kApp},
                    dir_ + "/cli-watch-json");
  std::vector<std::string> values = {current.value()};
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline &&
         cli.Stdout() != absl::StrCat(values.front(), "\n")) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(cli.Stdout(), absl::StrCat(values.front(), "\n"));
  // Two refreshes, one on each side of a stream's end (2 s).
  for (int i = 0; i < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(2500));
    wxtoken::v1::ForceRefreshResponse refreshed;
    ASSERT_TRUE(ForceRefresh(values.back(), &refreshed).ok());
    values.push_back(refreshed.token().value());
  }
  const std::string want = absl::StrCat(absl::StrJoin(values, "\n"), "\n");
  while (absl::Now() < deadline && cli.Stdout() != want) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(cli.Stdout(), want) << "each value once, renewals not repeated";
  EXPECT_EQ(cli.Stop(SIGTERM, absl::Seconds(10)), 128 + SIGTERM);
  // --json: every value, and each shortened validity (the refreshes'
  // intents), as one JSON object a line.
  json.Stop(SIGTERM, absl::Seconds(10));
  const std::vector<std::string> lines =
      absl::StrSplit(json.Stdout(), '\n', absl::SkipEmpty());
  EXPECT_GE(lines.size(), values.size());
  for (const std::string& line : lines) {
    EXPECT_THAT(line, ::testing::StartsWith("{\"token\":{\"app_id\":"));
  }
  for (const std::string& value : values) {
    EXPECT_THAT(json.Stdout(), ::testing::HasSubstr(value));
  }
}

TEST_F(WatchE2eTest, CliWatchGivesUpOnAnUnknownAppAndAnUnreachableServer) {
  ASSERT_NO_FATAL_FAILURE(StartBoth({}, {}));
  WaitForToken();
  ChildProcess unknown({BinaryPath("WXTOKEN_CLI"), "--addr",
                        controller_.address(), "watch", "wxunknown000000001"},
                       dir_ + "/cli-unknown");
  EXPECT_EQ(unknown.WaitForExit(absl::Seconds(20)), 2);
  EXPECT_THAT(unknown.Stderr(), ::testing::HasSubstr("NOT_FOUND"));
  const std::string address = controller_.address();
  controller_.Stop();
  ChildProcess unreachable({BinaryPath("WXTOKEN_CLI"), "--addr", address,
                            "--timeout", "1s", "watch", kApp},
                           dir_ + "/cli-unreachable");
  EXPECT_EQ(unreachable.WaitForExit(absl::Seconds(20)), 2);
  EXPECT_THAT(unreachable.Stderr(), ::testing::HasSubstr("UNAVAILABLE"));
}

}  // namespace
}  // namespace wxtoken::testing
