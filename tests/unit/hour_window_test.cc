#include "server/token/hour_window.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1714000000);

TEST(HourWindowTest, CountsWhatIsWithinTheWindow) {
  HourWindow window;
  window.Add(kT0);
  window.Add(kT0 + absl::Minutes(30));
  // A send later than `now` (the clock stepped back) still counts.
  EXPECT_EQ(window.Count(kT0), 2);
  EXPECT_EQ(window.Count(kT0 + absl::Minutes(30)), 2);
  EXPECT_EQ(window.Count(kT0 + kTicketWindow - absl::Microseconds(1)), 2);
  EXPECT_EQ(window.Count(kT0 + kTicketWindow), 1);
  EXPECT_EQ(window.Count(kT0 + absl::Minutes(30) + kTicketWindow), 0);
}

TEST(HourWindowTest, FreeAtIsWhenEnoughHaveAgedOut) {
  HourWindow window;
  for (int i = 0; i < 3; ++i) window.Add(kT0 + absl::Minutes(i));
  const absl::Time now = kT0 + absl::Minutes(5);
  EXPECT_EQ(window.FreeAt(4, now), now);
  EXPECT_EQ(window.FreeAt(3, now), kT0 + kTicketWindow);
  EXPECT_EQ(window.FreeAt(2, now), kT0 + absl::Minutes(1) + kTicketWindow);
  EXPECT_EQ(window.Count(window.FreeAt(2, now)), 1);
}

TEST(HourWindowTest, RemoveTakesBackOneAdd) {
  HourWindow window;
  window.Add(kT0);
  window.Add(kT0);
  window.Remove(kT0);
  EXPECT_EQ(window.Count(kT0), 1);
  window.Remove(kT0 + absl::Seconds(1));  // never added: nothing
  EXPECT_EQ(window.Count(kT0), 1);
}

TEST(HourWindowTest, AddForgetsOnlyWhatNoLongerCounts) {
  HourWindow window;
  window.Add(kT0);
  window.Add(kT0 + absl::Hours(3));
  EXPECT_EQ(window.Encode(),
            absl::StrCat(absl::ToUnixMicros(kT0 + absl::Hours(3))));
  // A clock stepped back keeps what still counts.
  HourWindow stepped;
  stepped.Add(kT0);
  stepped.Add(kT0 - absl::Minutes(10));
  EXPECT_EQ(stepped.Count(kT0), 2);
  // A send dated two hours ahead (another replica's clock) never makes a
  // new one vanish.
  HourWindow skewed;
  skewed.Add(kT0 + absl::Hours(2));
  skewed.Add(kT0);
  EXPECT_EQ(skewed.Count(kT0), 2);
}

// The store keeps microseconds: a send read back is the one held, so a
// leader that reads its own record merges nothing new.
TEST(HourWindowTest, ASendReadBackIsTheSameSend) {
  HourWindow window;
  const absl::Time at = kT0 + absl::Nanoseconds(1234567);
  window.Add(at);
  std::optional<HourWindow> stored = HourWindow::Decode(window.Encode());
  ASSERT_TRUE(stored);
  EXPECT_EQ(*stored, window);
  window.Merge(*stored);
  EXPECT_EQ(window.Count(at), 1);
  window.Remove(at);
  EXPECT_EQ(window.Count(at), 0);
}

TEST(HourWindowTest, MergeIsAUnionThatCountsEachSendOnce) {
  HourWindow a, b;
  a.Add(kT0);
  a.Add(kT0 + absl::Minutes(1));
  b.Add(kT0 + absl::Minutes(1));
  b.Add(kT0 + absl::Minutes(2));
  a.Merge(b);
  EXPECT_EQ(a.Count(kT0 + absl::Minutes(2)), 3);
}

TEST(HourWindowTest, EncodeDecodeRoundTripsAndRejectsDamage) {
  HourWindow window;
  window.Add(kT0);
  window.Add(kT0 + absl::Milliseconds(1500));
  std::optional<HourWindow> back = HourWindow::Decode(window.Encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, window);
  EXPECT_TRUE(HourWindow::Decode(""));
  EXPECT_EQ(HourWindow::Decode("")->Count(kT0), 0);
  EXPECT_FALSE(HourWindow::Decode("12,x"));
  EXPECT_FALSE(HourWindow::Decode("20,10"));  // not oldest first
  EXPECT_FALSE(HourWindow::Decode(","));
}

}  // namespace
}  // namespace wxtoken::server
