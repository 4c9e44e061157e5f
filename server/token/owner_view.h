#ifndef WXTOKEN_SERVER_TOKEN_OWNER_VIEW_H_
#define WXTOKEN_SERVER_TOKEN_OWNER_VIEW_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/token/observers.h"
#include "server/token/token.h"

namespace wxtoken::server {

// What an operator asks first about an owner (DESIGN.md "Operations"): can
// it be served, and if not, whose move is it.
enum class OwnerState {
  kServing,           // a value is servable and nothing is wrong
  kNoToken,           // none servable yet (first fetch, transient failures)
  kCredentialError,   // WeChat refused the secret (or code, or refresh token)
  kWhitelistBlocked,  // WeChat refused this server's IP
  kQuotaExhausted,    // WeChat's daily quota (45009) or our own budget
  kRevoked,           // an authorizer that revoked its authorization
  kNeedsReauth,       // an authorizer with no refresh token left
  kIdle,              // an authorizer not used lately: fetched on next use
};
inline constexpr int kOwnerStateCount = 8;

// "serving", "no_token", ...: the names status tables and filters use.
absl::string_view OwnerStateName(OwnerState state);
std::optional<OwnerState> OwnerStateFromName(absl::string_view name);

// WeChat's last refusal of a request (never a secret: errmsg is WeChat's
// own text, cleaned to one short line).
struct WeChatErrorView {
  int errcode = 0;
  std::string errmsg;
  std::string rid;        // WeChat's request id, for its support
  std::string egress_ip;  // the address WeChat saw (40164, 61004, 60020)
  absl::Time at = absl::InfinitePast();
};

// One credential kind of an owner. Times are InfinitePast() when unknown.
struct KindView {
  TokenKind kind = TokenKind::kAccessToken;
  OwnerState state = OwnerState::kNoToken;
  uint64_t generation = 0;
  std::string fingerprint;  // of the value held; "" when none
  absl::Time fetched_at = absl::InfinitePast();
  absl::Time expires_at = absl::InfinitePast();
  absl::Time servable_until = absl::InfinitePast();
  absl::Time next_request = absl::InfinitePast();  // none scheduled
  std::string why;  // what a caller is told when nothing is servable
  std::optional<WeChatErrorView> last_error;
};

struct OwnerView {
  std::string app_id;
  OwnerState state = OwnerState::kNoToken;  // its access token's
  std::vector<KindView> kinds;
  // Today's (Beijing day) requests against its budget.
  int fetches_today = 0;
  int force_fetches_today = 0;
  int daily_budget = 0;
  int force_budget = 0;
  std::optional<PlatformView> platform;  // a platform's own owner only
};

// A page of ListOwners: owners whose key starts with `prefix` (and in
// `state`, when set), in key order, after `after`.
struct OwnerQuery {
  std::string prefix;
  std::optional<OwnerState> state;
  // Only owners it accepts (the caller's grants); null = every owner.
  std::function<bool(const std::string&)> visible;
  std::string after;  // "" = from the first
  int limit = 100;
};
struct OwnerPage {
  std::vector<OwnerView> owners;
  bool more = false;  // owners past the last one match too
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_OWNER_VIEW_H_
