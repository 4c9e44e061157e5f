#ifndef WXTOKEN_TESTS_SANDBOX_WECOM_STATE_H_
#define WXTOKEN_TESTS_SANDBOX_WECOM_STATE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/sandbox/issued_values.h"
#include "tests/sandbox/sandbox_state.h"
#include "tests/sandbox/sliding_window.h"

namespace wxtoken::sandbox {

// How the emulated WeCom behaves. Defaults are WeCom's documented values
// (WECHAT.md "WeCom (企业微信) APIs").
struct WeComOptions {
  absl::Duration lifetime = absl::Seconds(7200);  // access tokens
  absl::Duration overlap = absl::Seconds(300);    // a replaced value's grace
  absl::Duration ticket_lifetime = absl::Seconds(7200);
  int corp_tickets_per_hour = 400;   // get_jsapi_ticket per corp
  int agent_tickets_per_hour = 100;  // ticket/get agent_config per app
  // Failed gettoken calls within an hour that block every gettoken (60020)
  // for `block`.
  int failures_before_block = 2000;
  absl::Duration block = absl::Hours(1);
};

// Counters under one key of WeComState::Stats: an app "CORPID/AGENT", a
// corp "CORPID", or "" (calls naming no configured corp, or tickets asked
// with a token the sandbox does not know). Every key has every field; a
// field that does not apply to its kind of key stays 0.
struct WeComStats {
  // gettoken calls, failed ones included: under the app whose secret they
  // gave, else under the corp they named, else "".
  int64_t gettoken_calls = 0;
  int64_t gettoken_failures = 0;  // ... of which answered an errcode
  int64_t tokens_issued = 0;      // apps
  // get_jsapi_ticket calls under the corp of the token's app; ticket/get
  // calls under the app. Refused ones included.
  int64_t corp_ticket_calls = 0;
  int64_t agent_ticket_calls = 0;
  int64_t tickets_issued = 0;
  int64_t ticket_rate_limited = 0;  // answered 45009
  // Ticket calls that reached the hourly limit's count (a valid token and,
  // for ticket/get, type agent_config): in the last hour, and the most in
  // any hour so far.
  int64_t ticket_calls_last_hour = 0;
  int64_t ticket_calls_peak_hour = 0;
};

// The emulated WeCom token service: corps, their apps (agents), issued
// tokens and tickets, hourly limits, counters. Pure logic; every call takes
// the current time, so tests need no sleeps. Thread-safe.
//
// Semantics, as strict as SandboxState's WeChat:
// - gettoken: the secret picks the app within the corp. Each success issues
//   a new token of that app; the previous one stays valid until min(its
//   expiry, now + overlap), as WeChat's classic /cgi-bin/token.
// - Tickets need a token of a configured app that is still valid: never
//   issued (or not a token) is 40014, issued but past its validity 42001.
//   get_jsapi_ticket issues a new ticket of the token's corp,
//   ticket/get?type=agent_config one of its app; the previous ticket gets
//   the overlap.
// - Hourly limits over a sliding 3600 s window: corp_tickets_per_hour
//   get_jsapi_ticket calls per corp, agent_tickets_per_hour agent_config
//   calls per app. Every call that gets as far as the limit counts, the
//   refused (45009) ones too, as WeChat's quotas count calls and not
//   successes; so a caller that keeps hammering stays refused, and one that
//   backs off is served again once its calls leave the window.
// - IP block: failures_before_block failed gettoken calls within an hour
//   (errcodes 41002, 41004, 40013, 40001; WeCom counts per egress IP, and
//   every caller of the sandbox is one) make every gettoken answer 60020
//   for `block`. The 60020 answers count as failures of their key but do
//   not feed the window, so the block ends on time.
class WeComState {
 public:
  // `apps` maps "CORPID/AGENT" to the app's secret (ParseWeComApps checks
  // the shape, and that no corp has one secret twice).
  WeComState(WeComOptions options, std::map<std::string, std::string> apps);

  WeComState(const WeComState&) = delete;
  WeComState& operator=(const WeComState&) = delete;

  // GET /cgi-bin/gettoken. A 60020's errmsg lacks the caller's address,
  // which only the HTTP layer knows (WeComIpBlockedMessage).
  Answer GetToken(absl::string_view corpid, absl::string_view corpsecret,
                  absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // GetToken in two steps, for a request WeCom got to late: counted
  // (CountGetTokenCall) when it arrives, processed here later.
  Answer ProcessGetToken(absl::string_view corpid, absl::string_view corpsecret,
                         absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // GET /cgi-bin/get_jsapi_ticket.
  Answer CorpTicket(absl::string_view access_token, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // GET /cgi-bin/ticket/get.
  Answer AgentTicket(absl::string_view access_token, absl::string_view type,
                     absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // Count a request answered without the logic above (an injected fault).
  void CountGetTokenCall(absl::string_view corpid, absl::string_view corpsecret)
      ABSL_LOCKS_EXCLUDED(mu_);
  void CountCorpTicketCall(absl::string_view access_token)
      ABSL_LOCKS_EXCLUDED(mu_);
  void CountAgentTicketCall(absl::string_view access_token)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Whether `value` (a token or a ticket) is accepted at `now`.
  Validity Check(absl::string_view value, absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Counters of every configured corp and app, plus "" once anything
  // counted there.
  std::map<std::string, WeComStats> Stats(absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Counted {
    explicit Counted(absl::Duration window) : ticket_window(window) {}
    WeComStats stats;
    // Calls counted against the hourly ticket limit.
    SlidingWindow ticket_window;
  };
  struct App : Counted {
    using Counted::Counted;
    std::string corpid;
    std::string secret;
    std::string token_current;
    std::string ticket_current;  // agent_config
  };
  struct Corp : Counted {
    using Counted::Counted;
    absl::flat_hash_map<std::string, std::string> app_by_secret;  // to key
    std::string ticket_current;                                   // jsapi
  };

  // The counters a gettoken call goes under (WeComStats::gettoken_calls).
  WeComStats& GetTokenStatsFor(absl::string_view corpid,
                               absl::string_view corpsecret)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The app whose token `access_token` is (valid or not), or nullptr.
  App* AppOfToken(absl::string_view access_token)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  WeComStats& UnknownStats() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // 0 when `access_token` is a valid token of a configured app, else the
  // errcode and errmsg refusing it.
  Answer CheckToken(absl::string_view access_token, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts a call against `counted`'s hourly `limit`: a success, or 45009.
  // Then issues the next ticket of `owner` into `*current`.
  Answer IssueTicket(Counted& counted, int limit, absl::string_view owner,
                     ValueKind kind, std::string* current, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WeComOptions options_;
  mutable absl::Mutex mu_;
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, App> apps_ ABSL_GUARDED_BY(mu_);  // by key
  absl::flat_hash_map<std::string, Corp> corps_ ABSL_GUARDED_BY(mu_);
  WeComStats unknown_stats_ ABSL_GUARDED_BY(mu_);
  bool unknown_counted_ ABSL_GUARDED_BY(mu_) = false;
  SlidingWindow failures_ ABSL_GUARDED_BY(mu_);  // failed gettoken calls
  absl::Time blocked_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  IssuedValues issued_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_WECOM_STATE_H_
