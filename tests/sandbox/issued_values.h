#ifndef WXTOKEN_TESTS_SANDBOX_ISSUED_VALUES_H_
#define WXTOKEN_TESTS_SANDBOX_ISSUED_VALUES_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/random/bit_gen_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wxtoken::sandbox {

// What kind of value the emulated WeChat issued.
enum class ValueKind {
  kClassic,
  kStable,
  kTicket,
  kVerifyTicket,    // a platform's component_verify_ticket
  kComponentToken,  // a platform's component_access_token
  kAuthorizerToken,
  kWeComToken,        // a WeCom app's (agent's) access token
  kWeComJsapiTicket,  // a WeCom corp's jsapi ticket
  kWeComAgentTicket,  // a WeCom app's agent_config ticket
  kProviderToken,     // a WeCom service provider's provider_access_token
  kSuiteTicket,       // a WeCom suite's pushed suite_ticket
  kSuiteToken,        // a WeCom suite's suite_access_token
  kSuiteCorpToken,    // a corp's access token through a suite it installed
};
absl::string_view ValueKindName(ValueKind kind);

// Whether a value (token or ticket) is accepted right now, and why not.
struct Validity {
  enum class Status { kValid, kUnknown, kRevoked, kExpired };
  Status status = Status::kUnknown;
  std::string appid;                     // its owner; empty when unknown
  ValueKind kind = ValueKind::kClassic;  // meaningless when unknown
  // Its expiry, or the end of its overlap once a newer value replaced it.
  absl::Time valid_until = absl::InfinitePast();
  bool valid() const { return status == Status::kValid; }
};
absl::string_view ValidityReason(Validity::Status status);

// Every value the emulated WeChat issued, with when it dies: the record its
// checks go by. Not thread-safe: its owner locks.
class IssuedValues {
 public:
  struct Issued {
    std::string owner;
    ValueKind kind = ValueKind::kClassic;
    absl::Time expires_at;
    // When a newer value superseded (or a revocation ended) this one.
    absl::Time revoked_at = absl::InfiniteFuture();
  };

  // A new value of `owner` living `lifetime`, which `*current` becomes.
  // With `overlap`, the value `*current` held keeps only that much more
  // (never more than its own expiry).
  std::string Issue(absl::string_view owner, ValueKind kind,
                    absl::Duration lifetime,
                    std::optional<absl::Duration> overlap, std::string* current,
                    absl::Time now, absl::BitGenRef gen);
  // Ends `value` at `now` (a revoked authorization).
  void Revoke(absl::string_view value, absl::Time now);
  Validity Check(absl::string_view value, absl::Time now) const;
  // nullptr when unknown (never issued, or forgotten long after its end).
  const Issued* Find(absl::string_view value) const;

 private:
  // Forgets values that died long ago, so memory stays bounded.
  void MaybePrune(absl::Time now);

  absl::flat_hash_map<std::string, Issued> issued_;
  absl::Time last_prune_ = absl::InfinitePast();
};

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_ISSUED_VALUES_H_
