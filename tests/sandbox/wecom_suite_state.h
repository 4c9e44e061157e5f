#ifndef WXTOKEN_TESTS_SANDBOX_WECOM_SUITE_STATE_H_
#define WXTOKEN_TESTS_SANDBOX_WECOM_SUITE_STATE_H_

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

// How the emulated WeCom treats suites. Defaults are WeCom's documented
// values (WECHAT.md "WeCom (企业微信) APIs").
struct WeComSuiteOptions {
  absl::Duration token_lifetime = absl::Seconds(7200);  // suite, corp tokens
  absl::Duration overlap = absl::Seconds(300);  // a replaced token's grace
  absl::Duration ticket_lifetime = absl::Minutes(30);  // suite_ticket
  // How long a suite_ticket is still taken once a newer one was pushed.
  // WeCom says to use the newest always; 0 holds a caller to that.
  absl::Duration ticket_grace = absl::ZeroDuration();
  absl::Duration code_lifetime = absl::Minutes(10);  // create_auth's AuthCode
};

// Counters of one suite (or of "" for calls naming no configured suite, or
// a suite token the sandbox never issued). Calls refused and calls answered
// by an injected fault count as calls.
struct WeComSuiteStats {
  int64_t suite_token_calls = 0;
  int64_t suite_token_failures = 0;  // ... of which answered an errcode
  int64_t suite_tokens_issued = 0;
  int64_t tickets_issued = 0;  // minted: by the ticker or /sandbox/wecom/...
  int64_t ticket_pushes = 0;   // suite_ticket pushes sent to the suite's URL
  int64_t ticket_pushes_success = 0;  // ... answered HTTP 200 "success"
  int64_t auth_pushes = 0;            // create_auth and cancel_auth pushes sent
  int64_t auth_pushes_success = 0;
  int64_t installs = 0;
  int64_t uninstalls = 0;
  int64_t permanent_code_calls = 0;
  int64_t permanent_codes_issued = 0;
  int64_t corp_token_calls = 0;
  int64_t corp_token_failures = 0;
  int64_t corp_tokens_issued = 0;  // get_corp_token's and get_permanent_code's
};

// Counters of one corp that installed a suite (key "SUITE_ID/CORPID").
// corp_token_calls counts calls naming the corp with a token of the suite.
struct WeComSuiteCorpStats {
  int64_t installed = 0;  // 1 while installed, else 0
  int64_t installs = 0;
  int64_t uninstalls = 0;
  int64_t permanent_codes_issued = 0;
  int64_t corp_token_calls = 0;
  int64_t corp_token_failures = 0;
  int64_t corp_tokens_issued = 0;
};

// get_permanent_code's answer: errcode 0 with the corp's permanent code and
// (as the v1 endpoint does) a first access token of it, or an error.
struct PermanentCodeAnswer {
  int errcode = 0;
  std::string errmsg;
  std::string permanent_code;
  std::string corpid;
  std::string access_token;
  int64_t expires_in = 0;
};

// What kind of push the sandbox sent a suite's 指令回调URL.
enum class SuitePush { kTicket, kAuth };

// The emulated WeCom third-party suites (第三方应用): pushed suite_tickets,
// suite tokens fetched with them, corps that install the suite (an auth
// code) and keep a permanent code no secret regenerates, corp tokens
// fetched with it. Pure logic; every call takes the current time. Thread-
// safe.
//
// As strict as WeCom:
// - get_suite_token: 40083 an unknown suite_id, 40001 a wrong suite_secret
//   (older code lists also name 40080; WECHAT.md says 40001), 40085 a
//   ticket that is not this suite's, has expired (ticket_lifetime), or was
//   replaced by a newer push more than ticket_grace ago. Each success
//   issues a new suite token; the one it replaces keeps the overlap.
// - Suite APIs (get_permanent_code, get_corp_token) need a suite token:
//   40082 one never issued (or not a suite token), 42009 one past its
//   validity.
// - An auth code works once (asked about, valid or not, it is gone) and for
//   code_lifetime, and only with a token of its own suite: else 40029.
//   Exchanging it issues a new permanent code; one the corp held before
//   stops working (as after a reinstall).
// - get_corp_token: 40084 when the corp has not installed the suite or the
//   permanent code is not its current one (WeCom's "invalid
//   permanent_code"). Corp tokens follow the classic overlap.
// - An uninstall (cancel_auth) ends the permanent code and the corp's
//   tokens through the suite at once.
class WeComSuiteState {
 public:
  // `suites` maps suite_id to suite_secret.
  WeComSuiteState(WeComSuiteOptions options,
                  std::map<std::string, std::string> suites);

  WeComSuiteState(const WeComSuiteState&) = delete;
  WeComSuiteState& operator=(const WeComSuiteState&) = delete;

  std::vector<std::string> SuiteIds() const ABSL_LOCKS_EXCLUDED(mu_);

  // The next suite_ticket WeCom pushes; the newest from now on. Empty for
  // an unknown suite.
  std::string NewTicket(absl::string_view suite_id, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // What the suite's URL answered a push (for the counters).
  void RecordPush(absl::string_view suite_id, SuitePush kind, bool success)
      ABSL_LOCKS_EXCLUDED(mu_);

  // POST /cgi-bin/service/get_suite_token.
  Answer SuiteToken(absl::string_view suite_id, absl::string_view suite_secret,
                    absl::string_view suite_ticket, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);

  // A corp installs the suite: the auth code create_auth carries. Empty for
  // an unknown suite.
  std::string Install(absl::string_view suite_id, absl::string_view corpid,
                      absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // It uninstalls the suite. False when it had not installed it.
  bool Uninstall(absl::string_view suite_id, absl::string_view corpid,
                 absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // POST /cgi-bin/service/get_permanent_code.
  PermanentCodeAnswer PermanentCode(absl::string_view suite_token,
                                    absl::string_view auth_code, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // POST /cgi-bin/service/get_corp_token.
  Answer CorpToken(absl::string_view suite_token, absl::string_view auth_corpid,
                   absl::string_view permanent_code, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Count a call answered by an injected fault instead.
  void CountSuiteTokenCall(absl::string_view suite_id) ABSL_LOCKS_EXCLUDED(mu_);
  void CountPermanentCodeCall(absl::string_view suite_token)
      ABSL_LOCKS_EXCLUDED(mu_);
  void CountCorpTokenCall(absl::string_view suite_token,
                          absl::string_view auth_corpid)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Whether a suite ticket, suite token or corp token is accepted at `now`.
  // A corp token's owner is "SUITE_ID/CORPID".
  Validity Check(absl::string_view value, absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Counters of every configured suite, plus "" once anything counted there.
  std::map<std::string, WeComSuiteStats> Stats() const ABSL_LOCKS_EXCLUDED(mu_);
  // Counters of every corp that ever installed a suite, by
  // "SUITE_ID/CORPID".
  std::map<std::string, WeComSuiteCorpStats> CorpStats() const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Every permanent code issued so far, for tests that look for them where
  // they must never be in plaintext.
  std::vector<std::string> IssuedPermanentCodes() const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Corp {
    bool installed = false;
    std::string permanent_code;  // the current one; empty when none
    std::string token_current;
    // Its tokens that may still be alive: the current one last, the one it
    // superseded (inside its overlap) before it.
    std::vector<std::string> live_tokens;
    WeComSuiteCorpStats stats;
  };
  struct Suite {
    std::string secret;
    std::string ticket_current;
    std::string token_current;
    WeComSuiteStats stats;
    absl::flat_hash_map<std::string, Corp> corps;
  };
  struct Code {
    std::string suite_id;
    std::string corpid;
    absl::Time expires_at;
  };

  WeComSuiteStats& StatsFor(absl::string_view suite_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The suite that issued `suite_token` (valid or not), or nullptr.
  Suite* SuiteOfToken(absl::string_view suite_token)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // 0 when `suite_token` is a valid suite token, else the refusal.
  Answer CheckSuiteToken(absl::string_view suite_token, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Issues the next access token of `corpid` through `suite_id`.
  Answer IssueCorpToken(absl::string_view suite_id, absl::string_view corpid,
                        Suite& suite, Corp& corp, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WeComSuiteOptions options_;
  mutable absl::Mutex mu_;
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Suite> suites_ ABSL_GUARDED_BY(mu_);
  WeComSuiteStats unknown_stats_ ABSL_GUARDED_BY(mu_);
  bool unknown_counted_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, Code> codes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> issued_permanent_codes_ ABSL_GUARDED_BY(mu_);
  IssuedValues issued_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_WECOM_SUITE_STATE_H_
