#ifndef WXTOKEN_TESTS_SANDBOX_SANDBOX_STATE_H_
#define WXTOKEN_TESTS_SANDBOX_SANDBOX_STATE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/sandbox/issued_values.h"

namespace wxtoken::sandbox {

// How the emulated WeChat behaves. Defaults are WeChat's documented values.
struct SandboxOptions {
  absl::Duration lifetime = absl::Seconds(7200);  // access tokens
  absl::Duration overlap = absl::Seconds(300);    // a replaced value's grace
  int daily_quota = 2000;                         // /cgi-bin/token per app
  absl::Duration ticket_lifetime = absl::Seconds(7200);
  int force_daily_limit = 20;  // stable_token force_refresh per app and day
  absl::Duration force_min_interval = absl::Seconds(30);
};

// What a client sends to /cgi-bin/token or /cgi-bin/stable_token. Empty
// means missing, as WeChat does not tell the two apart either.
struct Credentials {
  std::string grant_type;
  std::string appid;
  std::string secret;
};

// WeChat's answer: errcode 0 with a value, or an errcode and errmsg.
struct Answer {
  int errcode = 0;
  std::string errmsg;
  std::string value;       // access_token or ticket when errcode == 0
  int64_t expires_in = 0;  // whole seconds, when errcode == 0

  // An errcode answer.
  static Answer Error(int errcode, std::string errmsg) {
    Answer answer;
    answer.errcode = errcode;
    answer.errmsg = std::move(errmsg);
    return answer;
  }
};

// openapi/quota/get's answer: WeChat's own count of an API's daily use, or
// an errcode (40001: not a valid access token; 76021: a cgi_path it does
// not count).
struct QuotaAnswer {
  int errcode = 0;
  std::string errmsg;
  int64_t daily_limit = 0;
  int64_t used = 0;
  int64_t remain = 0;

  // `used` of `daily_limit`.
  static QuotaAnswer Count(int64_t daily_limit, int64_t used);
  // 40001 (the token asked with is not a valid one) and 76021.
  static QuotaAnswer InvalidToken();
  static QuotaAnswer UnknownPath();
};

// Per-app request counters, for tests that assert how often wxtokend called.
struct AppStats {
  int64_t token_calls = 0;         // every /cgi-bin/token request
  int64_t stable_calls = 0;        // every /cgi-bin/stable_token request
  int64_t stable_force_calls = 0;  // ... of which asked force_refresh: true
  int64_t ticket_calls = 0;        // every getticket request
  int64_t tokens_issued = 0;       // new access tokens (classic + stable)
  int64_t tickets_issued = 0;
  int64_t quota_used_today = 0;  // /cgi-bin/token calls this Beijing day
};

// The emulated WeChat token service: apps, issued values, quotas, counters.
// Pure logic; every call takes the current time, so tests need no sleeps.
// Thread-safe.
//
// Semantics (WECHAT.md "Access token APIs"):
// - Classic: each success issues a new token; the previous one stays valid
//   until min(its expiry, now + overlap); older ones keep their deadlines.
// - Stable: independent of classic. Normal mode returns the current token
//   while more than `overlap` remains, then issues the next one (both stay
//   valid to their own expiry). force_refresh issues at once and the old one
//   gets the overlap; forced refreshes are limited per day and spaced by
//   force_min_interval (a closer call returns the current token).
// - Tickets: each success issues a new ticket per (app, type); the previous
//   one gets the overlap.
// - Quota: /cgi-bin/token calls naming a configured app count, failed or
//   not; past daily_quota the answer is 45009. Days are Beijing (UTC+8)
//   calendar days, like WeChat's.
// Requests that name no configured app are counted under appid "".
class SandboxState {
 public:
  // `apps` maps appid to secret.
  SandboxState(SandboxOptions options, std::map<std::string, std::string> apps);

  SandboxState(const SandboxState&) = delete;
  SandboxState& operator=(const SandboxState&) = delete;

  // GET /cgi-bin/token.
  Answer FetchClassic(const Credentials& creds, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // FetchClassic in two steps, for a request WeChat got to late: counted
  // (CountClassicCall) when it arrives, processed here later.
  Answer ProcessClassic(const Credentials& creds, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // POST /cgi-bin/stable_token.
  Answer FetchStable(const Credentials& creds, bool force_refresh,
                     absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // GET /cgi-bin/ticket/getticket.
  Answer FetchTicket(absl::string_view access_token, absl::string_view type,
                     absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // Count a request answered without the logic above (an injected fault, a
  // body that is not JSON), so the call counters and the classic quota see
  // it as WeChat's would.
  void CountClassicCall(absl::string_view appid, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  void CountStableCall(absl::string_view appid, bool force_refresh)
      ABSL_LOCKS_EXCLUDED(mu_);
  void CountTicketCall(absl::string_view access_token) ABSL_LOCKS_EXCLUDED(mu_);

  // The AppSecret reset in the console: the old one is refused (40125)
  // from now on. False for an unknown app.
  bool ResetSecret(absl::string_view appid, std::string secret)
      ABSL_LOCKS_EXCLUDED(mu_);

  // openapi/quota/get asked with one of an app's valid access tokens:
  // /cgi-bin/token counts as the daily quota does; /cgi-bin/stable_token
  // and /cgi-bin/ticket/getticket count every call.
  QuotaAnswer Quota(absl::string_view access_token, absl::string_view cgi_path,
                    absl::Time now) const ABSL_LOCKS_EXCLUDED(mu_);

  // Whether `value` (a token or a ticket) is accepted at `now`.
  Validity Check(absl::string_view value, absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Counters of every configured app, plus "" once anything counted there.
  std::map<std::string, AppStats> Stats(absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct App {
    std::string secret;
    AppStats stats;
    int64_t quota_day = -1;  // Beijing day that quota_used counts
    int64_t quota_used = 0;
    int64_t force_day = -1;  // Beijing day that force_used counts
    int64_t force_used = 0;
    absl::Time last_force = absl::InfinitePast();
    std::string classic_current;
    std::string stable_current;
    absl::flat_hash_map<std::string, std::string> ticket_current;  // by type
  };

  // Looks up the app and its counters; nullptr for an unknown appid.
  App* FindApp(absl::string_view appid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The counters of `appid`, or of "" when it is not configured.
  AppStats& StatsFor(absl::string_view appid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts one /cgi-bin/token call against the app's daily quota.
  void ChargeQuota(App& app, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The owner of an access token (not a ticket), or "" if none is known.
  std::string OwnerOfAccessToken(absl::string_view value) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Issues a new value into `*current`. With `supersede`, the value it
  // replaces keeps only the overlap (never more than its own expiry).
  std::string Issue(absl::string_view appid, ValueKind kind,
                    absl::Duration lifetime, bool supersede,
                    std::string* current, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SandboxOptions options_;
  mutable absl::Mutex mu_;
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, App> apps_ ABSL_GUARDED_BY(mu_);
  AppStats unknown_stats_ ABSL_GUARDED_BY(mu_);
  bool unknown_counted_ ABSL_GUARDED_BY(mu_) = false;
  IssuedValues issued_ ABSL_GUARDED_BY(mu_);
};

// The Beijing (UTC+8) calendar day of `t`, as a day number; WeChat's daily
// limits reset at Beijing midnight.
int64_t BeijingDay(absl::Time t);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_SANDBOX_STATE_H_
