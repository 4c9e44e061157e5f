#include "tests/sandbox/fault_queue.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace wxtoken::sandbox {
namespace {

absl::StatusOr<int> ParseInt(absl::string_view name, absl::string_view text,
                             int default_value) {
  if (text.empty()) return default_value;
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not an integer: \"", text, "\""));
  }
  return value;
}

}  // namespace

absl::StatusOr<Fault> ParseFault(absl::string_view kind,
                                 absl::string_view count,
                                 absl::string_view errcode,
                                 absl::string_view delay_ms,
                                 absl::string_view endpoint) {
  Fault fault;
  if (kind == "errcode") {
    fault.kind = Fault::Kind::kErrcode;
  } else if (kind == "http500") {
    fault.kind = Fault::Kind::kHttp500;
  } else if (kind == "slow") {
    fault.kind = Fault::Kind::kSlow;
  } else if (kind == "malformed") {
    fault.kind = Fault::Kind::kMalformed;
  } else if (kind == "drop") {
    fault.kind = Fault::Kind::kDrop;
  } else if (kind == "late") {
    fault.kind = Fault::Kind::kLate;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "kind: want errcode, http500, slow, malformed, drop or late, got \"",
        kind, "\""));
  }

  absl::StatusOr<int> parsed = ParseInt("count", count, 1);
  if (!parsed.ok()) return parsed.status();
  if (*parsed == 0 || *parsed < -1) {
    return absl::InvalidArgumentError("count: want a positive number or -1");
  }
  fault.count = *parsed;

  parsed = ParseInt("errcode", errcode, -1);
  if (!parsed.ok()) return parsed.status();
  fault.errcode = *parsed;

  // A slow fault without a delay would be no fault at all.
  parsed = ParseInt("delay_ms", delay_ms, 1000);
  if (!parsed.ok()) return parsed.status();
  if (*parsed < 0) return absl::InvalidArgumentError("delay_ms: negative");
  fault.delay = absl::Milliseconds(*parsed);

  if (endpoint.empty() || endpoint == "any") {
    fault.endpoint = std::nullopt;
  } else if (endpoint == "token") {
    fault.endpoint = Endpoint::kToken;
  } else if (endpoint == "stable_token") {
    fault.endpoint = Endpoint::kStableToken;
  } else if (endpoint == "getticket") {
    fault.endpoint = Endpoint::kGetTicket;
  } else if (endpoint == "gettoken") {
    fault.endpoint = Endpoint::kWeComToken;
  } else if (endpoint == "get_jsapi_ticket") {
    fault.endpoint = Endpoint::kWeComCorpTicket;
  } else if (endpoint == "ticket_get") {
    fault.endpoint = Endpoint::kWeComAgentTicket;
  } else if (endpoint == "get_provider_token") {
    fault.endpoint = Endpoint::kProviderToken;
  } else if (endpoint == "get_suite_token") {
    fault.endpoint = Endpoint::kSuiteToken;
  } else if (endpoint == "get_permanent_code") {
    fault.endpoint = Endpoint::kPermanentCode;
  } else if (endpoint == "get_corp_token") {
    fault.endpoint = Endpoint::kSuiteCorpToken;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint: want token, stable_token, getticket, gettoken, "
        "get_jsapi_ticket, ticket_get, get_provider_token, get_suite_token, "
        "get_permanent_code, get_corp_token or any, got \"",
        endpoint, "\""));
  }
  return fault;
}

void FaultQueue::Add(Fault fault) {
  absl::MutexLock lock(&mu_);
  faults_.push_back(std::move(fault));
}

void FaultQueue::Clear() {
  absl::MutexLock lock(&mu_);
  faults_.clear();
}

std::optional<Fault> FaultQueue::Take(Endpoint endpoint) {
  absl::MutexLock lock(&mu_);
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->endpoint.has_value() && *it->endpoint != endpoint) continue;
    Fault taken = *it;
    if (it->count > 0 && --it->count == 0) faults_.erase(it);
    return taken;
  }
  return std::nullopt;
}

size_t FaultQueue::size() const {
  absl::MutexLock lock(&mu_);
  return faults_.size();
}

}  // namespace wxtoken::sandbox
