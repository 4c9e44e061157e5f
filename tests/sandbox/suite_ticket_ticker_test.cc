#include "tests/sandbox/suite_ticket_ticker.h"

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::sandbox {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1714000000);

absl::Time At(int64_t seconds) { return kT0 + absl::Seconds(seconds); }

// Drives RunOnce with a fake time: which suites are pushed when.
class SuiteTicketTickerTest : public ::testing::Test {
 protected:
  SuiteTicketTickerTest()
      : ticker_(
            {"wwsuite1", "wwsuite2"}, absl::Seconds(600),
            [this](const std::string& id) { return targeted_.contains(id); },
            [this](const std::string& id) { pushed_.push_back(id); },
            [] { return kT0; }) {}

  // What RunOnce(at) pushed.
  std::vector<std::string> Run(absl::Time at) {
    pushed_.clear();
    ticker_.RunOnce(at);
    return pushed_;
  }

  std::set<std::string> targeted_;
  std::vector<std::string> pushed_;
  SuiteTicketTicker ticker_;
};

TEST_F(SuiteTicketTickerTest, PushesOnceATargetIsKnownThenEveryInterval) {
  EXPECT_THAT(Run(kT0), IsEmpty());  // nowhere to push yet
  targeted_.insert("wwsuite1");
  EXPECT_THAT(Run(At(10)), ElementsAre("wwsuite1"));
  EXPECT_THAT(Run(At(11)), IsEmpty());
  EXPECT_THAT(Run(At(609)), IsEmpty());
  EXPECT_THAT(Run(At(610)), ElementsAre("wwsuite1"));
  // A suite that gets its target late is pushed at once, on its own clock.
  targeted_.insert("wwsuite2");
  EXPECT_THAT(Run(At(700)), ElementsAre("wwsuite2"));
  EXPECT_THAT(Run(At(1210)), ElementsAre("wwsuite1"));
  EXPECT_THAT(Run(At(1300)), ElementsAre("wwsuite2"));
  // One that loses its target is not pushed, and resumes when it has one.
  targeted_.erase("wwsuite1");
  EXPECT_THAT(Run(At(1900)), ElementsAre("wwsuite2"));
  targeted_.insert("wwsuite1");
  EXPECT_THAT(Run(At(1901)), ElementsAre("wwsuite1"));
}

TEST(SuiteTicketTickerThreadTest, StartsAndStops) {
  std::atomic<int> pushes{0};
  SuiteTicketTicker ticker(
      {"wwsuite1"}, absl::Milliseconds(1),
      [](const std::string&) { return true; },
      [&pushes](const std::string&) { ++pushes; }, [] { return absl::Now(); });
  ticker.Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (pushes.load() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ticker.Stop();
  const int seen = pushes.load();
  EXPECT_GE(seen, 2);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(pushes.load(), seen) << "pushed after Stop()";
  ticker.Stop();  // idempotent
}

}  // namespace
}  // namespace wxtoken::sandbox
