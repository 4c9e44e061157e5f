// The refresh worker's queue from gRPC handlers: bounded, so a flood of
// ForceRefresh calls is refused at once rather than grown into memory.
#include "server/token/refresh_worker.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/token/inbox.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"
#include "tests/fakes/fake_upstream.h"

namespace wxtoken::server {
namespace {

using testing::FakeClock;
using testing::FakeStateStore;
using testing::FakeUpstream;

class NoHealth final : public HealthSink {
 public:
  void SetAppServing(const std::string&, bool) override {}
  void SetAllAppsServing(bool) override {}
  void SetStartupDone() override {}
};

TEST(InboxTest, TryPostRefusesPastTheLimitAndPostNever) {
  int wakes = 0;
  Inbox inbox([&wakes] { ++wakes; });
  EXPECT_TRUE(inbox.TryPost([] {}, 2));
  EXPECT_TRUE(inbox.TryPost([] {}, 2));
  EXPECT_FALSE(inbox.TryPost([] {}, 2));
  inbox.Post([] {});  // the worker's own completions are never refused
  EXPECT_EQ(wakes, 3);
  int ran = 0;
  for (Inbox::Task& task : inbox.Take()) {
    task();
    ++ran;
  }
  EXPECT_EQ(ran, 3);
  EXPECT_TRUE(inbox.Take().empty());
  EXPECT_TRUE(inbox.TryPost([] {}, 2));
}

// The limit is on what arrives from outside: 10,000 store completions queued
// (a list pass's writes) must not turn a ForceRefresh away.
TEST(InboxTest, TheWorkersOwnTasksDoNotCountAgainstTheLimit) {
  Inbox inbox([] {});
  for (int i = 0; i < 10; ++i) inbox.Post([] {});
  EXPECT_TRUE(inbox.TryPost([] {}, 2));
  EXPECT_TRUE(inbox.TryPost([] {}, 2));
  EXPECT_FALSE(inbox.TryPost([] {}, 2));
  EXPECT_EQ(inbox.Take().size(), 12u);
  EXPECT_TRUE(inbox.TryPost([] {}, 2));
}

TEST(RefreshWorkerTest, AFullQueueAnswersResourceExhaustedAtOnce) {
  Config config;
  AppConfig app;
  app.app_id = "wx0123456789abcdef";
  app.secret = "s";
  config.apps.push_back(app);
  FakeClock clock;
  FakeUpstream upstream;
  FakeStateStore store;
  NoHealth health;
  TokenTable table(RefreshEngine::TableEntries(config),
                   {config.refresh.client_max_cache, config.refresh.overlap});
  RefreshEngine engine(config, clock, upstream, table, store, health);
  Inbox inbox([] {});
  // Not started: nothing takes commands off the queue.
  RefreshWorker worker(engine, upstream, inbox, clock);
  int answered = 0;
  std::optional<absl::Status> last;
  for (size_t i = 0; i <= RefreshWorker::kMaxQueuedCommands; ++i) {
    ForceRefreshCommand command;
    command.app_id = app.app_id;
    command.done = [&](absl::StatusOr<ForceRefreshReply> reply) {
      ++answered;
      last = reply.status();
    };
    worker.Submit(std::move(command));
  }
  EXPECT_EQ(answered, 1) << "only the one past the bound is answered";
  ASSERT_TRUE(last);
  EXPECT_EQ(last->code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace wxtoken::server
