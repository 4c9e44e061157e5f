#ifndef WXTOKEN_TESTS_UNIT_EVENT_ERROR_H_
#define WXTOKEN_TESTS_UNIT_EVENT_ERROR_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"

namespace wxtoken::server::testing {

// A pushed event refused as its parser must refuse one (ParsePlatformEvent,
// ParseSuiteEvent): INVALID_ARGUMENT, "event: …" containing `want`, and
// none of `never_quoted` (a std::vector<std::string>: tickets, codes).
MATCHER_P2(IsEventError, want, never_quoted, "") {
  if (arg.ok()) {
    *result_listener << "parsed";
    return false;
  }
  *result_listener << "status " << arg.status();
  const std::string message(arg.status().message());
  if (arg.status().code() != absl::StatusCode::kInvalidArgument ||
      !absl::StartsWith(message, "event: ") ||
      !absl::StrContains(message, want)) {
    return false;
  }
  for (const std::string& secret : never_quoted) {
    if (absl::StrContains(message, secret)) return false;
  }
  return true;
}

}  // namespace wxtoken::server::testing

#endif  // WXTOKEN_TESTS_UNIT_EVENT_ERROR_H_
