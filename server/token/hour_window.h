#ifndef WXTOKEN_SERVER_TOKEN_HOUR_WINDOW_H_
#define WXTOKEN_SERVER_TOKEN_HOUR_WINDOW_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wxtoken::server {

// WeCom limits ticket requests over any sliding hour (DESIGN.md "WeCom").
// WeCom counts a request when it arrives, a little after wxtokend records
// it, and by its own clock: a record counts for a minute more than the hour.
inline constexpr absl::Duration kTicketWindow = absl::Minutes(61);

// The send times of one kind of request within the last kTicketWindow: what
// a sliding-hour budget counts. Durable as text, and merged without losing
// a send (a union). A plain value; not thread-safe.
class HourWindow {
 public:
  // Requests counted at `now`.
  int Count(absl::Time now) const;
  // When a request may go under `limit`: `now` when fewer than `limit` are
  // counted, else when enough of them have aged out.
  absl::Time FreeAt(int limit, absl::Time now) const;
  // Counts a request sent at `at`, to the microsecond (and forgets those
  // past the window at `at`).
  void Add(absl::Time at);
  // Takes back one Add(at): the request was not sent after all.
  void Remove(absl::Time at);
  // Every send of both (a time both hold twice counts twice, not four
  // times): what a replica that may lack another's records keeps.
  void Merge(const HourWindow& other);

  // Unix microseconds, comma-separated, oldest first: "" when empty.
  std::string Encode() const;
  // nullopt when `text` is not what Encode() writes.
  static std::optional<HourWindow> Decode(absl::string_view text);

  friend bool operator==(const HourWindow&, const HourWindow&) = default;

 private:
  std::vector<absl::Time> sends_;  // sorted
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_HOUR_WINDOW_H_
