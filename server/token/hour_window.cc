#include "server/token/hour_window.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace wxtoken::server {

int HourWindow::Count(absl::Time now) const {
  const auto first =
      std::upper_bound(sends_.begin(), sends_.end(), now - kTicketWindow);
  return static_cast<int>(sends_.end() - first);
}

absl::Time HourWindow::FreeAt(int limit, absl::Time now) const {
  const int counted = Count(now);
  if (counted < limit) return now;
  // Of the counted ones, the oldest counted - limit + 1 must age out.
  const size_t oldest_counted = sends_.size() - counted;
  return sends_[oldest_counted + (counted - limit)] + kTicketWindow;
}

namespace {

// What Encode() keeps: a send read back from the store must equal the one
// held, or every read-back would add it again.
absl::Time Micros(absl::Time at) {
  return absl::FromUnixMicros(absl::ToUnixMicros(at));
}

}  // namespace

void HourWindow::Add(absl::Time at) {
  at = Micros(at);
  // Forgets what no longer counts at `at`; a send dated later (another
  // replica's clock ahead, or ours stepped back) stays, counted.
  sends_.erase(sends_.begin(), std::upper_bound(sends_.begin(), sends_.end(),
                                                at - kTicketWindow));
  sends_.insert(std::upper_bound(sends_.begin(), sends_.end(), at), at);
}

void HourWindow::Remove(absl::Time at) {
  at = Micros(at);
  auto it = std::lower_bound(sends_.begin(), sends_.end(), at);
  if (it != sends_.end() && *it == at) sends_.erase(it);
}

void HourWindow::Merge(const HourWindow& other) {
  std::vector<absl::Time> merged;
  std::set_union(sends_.begin(), sends_.end(), other.sends_.begin(),
                 other.sends_.end(), std::back_inserter(merged));
  sends_ = std::move(merged);
}

std::string HourWindow::Encode() const {
  return absl::StrJoin(sends_, ",", [](std::string* out, absl::Time at) {
    absl::StrAppend(out, absl::ToUnixMicros(at));
  });
}

std::optional<HourWindow> HourWindow::Decode(absl::string_view text) {
  HourWindow window;
  if (text.empty()) return window;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t micros = 0;
    if (!absl::SimpleAtoi(part, &micros)) return std::nullopt;
    window.sends_.push_back(absl::FromUnixMicros(micros));
  }
  if (!std::is_sorted(window.sends_.begin(), window.sends_.end())) {
    return std::nullopt;
  }
  return window;
}

}  // namespace wxtoken::server
