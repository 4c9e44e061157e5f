#ifndef WXTOKEN_TESTS_SANDBOX_PLATFORM_STATE_H_
#define WXTOKEN_TESTS_SANDBOX_PLATFORM_STATE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/sandbox/issued_values.h"
#include "tests/sandbox/sandbox_state.h"

namespace wxtoken::sandbox {

// How the emulated Open Platform behaves. Defaults are WeChat's.
struct PlatformOptions {
  absl::Duration token_lifetime = absl::Seconds(7200);  // component, authorizer
  absl::Duration overlap = absl::Seconds(300);
  absl::Duration ticket_lifetime = absl::Hours(12);  // component_verify_ticket
  absl::Duration code_lifetime = absl::Minutes(10);  // authorization code
  // api_authorizer_token returns a new refresh token each time (WECHAT.md:
  // disputed; the old one then works for `overlap` more).
  bool rotate_refresh_tokens = false;
};

// One authorizer's answer (api_query_auth, api_authorizer_token,
// api_get_authorizer_info): errcode 0 with what it carries, or an error.
struct AuthorizerAnswer {
  int errcode = 0;
  std::string errmsg;
  std::string authorizer_appid;
  std::string access_token;  // empty for api_get_authorizer_info
  int64_t expires_in = 0;
  std::string refresh_token;
};

struct AuthorizerListAnswer {
  int errcode = 0;
  std::string errmsg;
  int64_t total_count = 0;
  struct Entry {
    std::string authorizer_appid;
    std::string refresh_token;
    int64_t auth_time = 0;
  };
  std::vector<Entry> list;
};

// Per-platform counters, for tests that assert how often wxtokend called.
struct PlatformStats {
  int64_t component_token_calls = 0;
  int64_t query_auth_calls = 0;
  int64_t authorizer_token_calls = 0;
  int64_t list_calls = 0;
  int64_t info_calls = 0;
  int64_t start_push_calls = 0;
  int64_t tickets_pushed = 0;
};

// The emulated Open Platform (WECHAT.md "Third-party platform"): pushed
// tickets, component tokens fetched with them, authorizers that come with
// an authorization code and hold a refresh token no secret regenerates.
// Pure logic; every call takes the current time. Thread-safe.
//
// Strict as WeChat is: a component token needs the platform's secret and a
// ticket it pushed that has not expired (61005) and is its own (61006); every
// component API needs a valid component token of that platform (40001); a
// code works once and briefly (61009); an authorizer token needs the
// authorizer's current refresh token, or with rotation the one before it
// within `overlap` (61023), and an authorizer that revoked the platform
// answers 61003 while its tokens die at once.
class PlatformState {
 public:
  // `platforms` maps component_appid to component_appsecret.
  PlatformState(PlatformOptions options,
                std::map<std::string, std::string> platforms);

  PlatformState(const PlatformState&) = delete;
  PlatformState& operator=(const PlatformState&) = delete;

  // The next component_verify_ticket WeChat pushes; empty for an unknown
  // platform.
  std::string NewTicket(absl::string_view component_appid, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // api_start_push_ticket.
  Answer StartPushTicket(absl::string_view component_appid,
                         absl::string_view secret) ABSL_LOCKS_EXCLUDED(mu_);
  // api_component_token.
  Answer ComponentToken(absl::string_view component_appid,
                        absl::string_view secret, absl::string_view ticket,
                        absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // A merchant authorizes the platform (again): the authorization code the
  // `authorized` push carries; empty for an unknown platform.
  std::string Authorize(absl::string_view component_appid,
                        absl::string_view authorizer_appid, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The merchant revokes it: its tokens and refresh token end now. False
  // when it had not authorized.
  bool Unauthorize(absl::string_view component_appid,
                   absl::string_view authorizer_appid, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);

  // api_query_auth.
  AuthorizerAnswer QueryAuth(absl::string_view component_token,
                             absl::string_view code, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // api_authorizer_token.
  AuthorizerAnswer AuthorizerToken(absl::string_view component_token,
                                   absl::string_view authorizer_appid,
                                   absl::string_view refresh_token,
                                   absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // api_get_authorizer_info (only the refresh token).
  AuthorizerAnswer AuthorizerInfo(absl::string_view component_token,
                                  absl::string_view authorizer_appid,
                                  absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // api_get_authorizer_list, in authorization order.
  AuthorizerListAnswer ListAuthorizers(absl::string_view component_token,
                                       int64_t offset, int64_t count,
                                       absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // Whether a component or authorizer token, or a ticket, is accepted now.
  Validity Check(absl::string_view value, absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // openapi/quota/get asked with a valid component token: its platform's
  // api_component_token and api_authorizer_token calls.
  QuotaAnswer Quota(absl::string_view component_token,
                    absl::string_view cgi_path, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::map<std::string, PlatformStats> Stats() const ABSL_LOCKS_EXCLUDED(mu_);
  // Every refresh token issued so far, for tests that look for them where
  // they must never be in plaintext.
  std::vector<std::string> IssuedRefreshTokens() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Authorizer {
    bool authorized = false;
    absl::Time auth_time;
    std::string refresh_token;
    std::string previous_refresh_token;  // with rotation, for `overlap`
    absl::Time previous_until = absl::InfinitePast();
    // Its tokens that may still be alive: the current one last, the one
    // it superseded (inside its overlap) before it.
    std::vector<std::string> live_tokens;
  };
  struct Code {
    std::string component_appid;
    std::string authorizer_appid;
    absl::Time expires_at;
  };
  struct Platform {
    std::string appid;
    std::string secret;
    std::string ticket;  // the newest pushed
    std::string component_token;
    PlatformStats stats;
    std::vector<std::string> order;  // authorizers, by first authorization
    absl::flat_hash_map<std::string, Authorizer> authorizers;
  };

  // The platform a valid component token belongs to, or nullptr.
  Platform* PlatformOfToken(absl::string_view component_token, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewRefreshToken() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  AuthorizerAnswer IssueAuthorizerToken(absl::string_view component_appid,
                                        absl::string_view authorizer_appid,
                                        Authorizer& authorizer, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PlatformOptions options_;
  mutable absl::Mutex mu_;
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Platform> platforms_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> issued_refresh_tokens_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Code> codes_ ABSL_GUARDED_BY(mu_);
  IssuedValues issued_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_PLATFORM_STATE_H_
