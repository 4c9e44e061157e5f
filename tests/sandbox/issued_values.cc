#include "tests/sandbox/issued_values.h"

#include <algorithm>

#include "tests/sandbox/random_token.h"

namespace wxtoken::sandbox {
namespace {

// A dead value is remembered this long, so a late caller still gets 42001
// (expired) rather than 40001 (unknown), and /sandbox/valid can say whose
// it was. Afterwards it is forgotten: memory stays bounded by the request
// rate times this.
constexpr absl::Duration kRetention = absl::Minutes(10);
// Pruning scans every value, so do it at most this often.
constexpr absl::Duration kPruneEvery = absl::Minutes(1);

}  // namespace

absl::string_view ValueKindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kClassic:
      return "classic";
    case ValueKind::kStable:
      return "stable";
    case ValueKind::kTicket:
      return "ticket";
    case ValueKind::kVerifyTicket:
      return "verify_ticket";
    case ValueKind::kComponentToken:
      return "component_token";
    case ValueKind::kAuthorizerToken:
      return "authorizer_token";
    case ValueKind::kWeComToken:
      return "wecom_token";
    case ValueKind::kWeComJsapiTicket:
      return "wecom_jsapi_ticket";
    case ValueKind::kWeComAgentTicket:
      return "wecom_agent_ticket";
    case ValueKind::kProviderToken:
      return "wecom_provider_token";
    case ValueKind::kSuiteTicket:
      return "wecom_suite_ticket";
    case ValueKind::kSuiteToken:
      return "wecom_suite_token";
    case ValueKind::kSuiteCorpToken:
      return "wecom_suite_corp_token";
  }
  return "";
}

absl::string_view ValidityReason(Validity::Status status) {
  switch (status) {
    case Validity::Status::kValid:
      return "";
    case Validity::Status::kUnknown:
      return "unknown";
    case Validity::Status::kRevoked:
      return "revoked";
    case Validity::Status::kExpired:
      return "expired";
  }
  return "";
}

std::string IssuedValues::Issue(absl::string_view owner, ValueKind kind,
                                absl::Duration lifetime,
                                std::optional<absl::Duration> overlap,
                                std::string* current, absl::Time now,
                                absl::BitGenRef gen) {
  MaybePrune(now);
  if (overlap && !current->empty()) {
    auto it = issued_.find(*current);
    if (it != issued_.end()) {
      Issued& old = it->second;
      old.revoked_at =
          std::min({old.revoked_at, old.expires_at, now + *overlap});
    }
  }
  std::string value;
  do {
    value = RandomToken(gen);
  } while (issued_.contains(value));
  Issued& issued = issued_[value];
  issued.owner = std::string(owner);
  issued.kind = kind;
  issued.expires_at = now + lifetime;
  *current = value;
  return value;
}

void IssuedValues::Revoke(absl::string_view value, absl::Time now) {
  auto it = issued_.find(value);
  if (it != issued_.end()) {
    it->second.revoked_at = std::min(it->second.revoked_at, now);
  }
}

Validity IssuedValues::Check(absl::string_view value, absl::Time now) const {
  Validity validity;
  const Issued* issued = Find(value);
  if (issued == nullptr) return validity;
  validity.appid = issued->owner;
  validity.kind = issued->kind;
  validity.valid_until = std::min(issued->expires_at, issued->revoked_at);
  if (now >= issued->expires_at) {
    validity.status = Validity::Status::kExpired;
  } else if (now >= issued->revoked_at) {
    validity.status = Validity::Status::kRevoked;
  } else {
    validity.status = Validity::Status::kValid;
  }
  return validity;
}

const IssuedValues::Issued* IssuedValues::Find(absl::string_view value) const {
  auto it = issued_.find(value);
  return it == issued_.end() ? nullptr : &it->second;
}

void IssuedValues::MaybePrune(absl::Time now) {
  if (now - last_prune_ < kPruneEvery) return;
  last_prune_ = now;
  absl::erase_if(issued_, [now](const auto& entry) {
    const Issued& issued = entry.second;
    return now >= std::min(issued.expires_at, issued.revoked_at) + kRetention;
  });
}

}  // namespace wxtoken::sandbox
