#ifndef WXTOKEN_SERVER_TOKEN_REFRESH_POLICY_H_
#define WXTOKEN_SERVER_TOKEN_REFRESH_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/config/config.h"
#include "server/token/token.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server {

// The whole refresh policy (DESIGN.md "The refresh worker"): how long a value
// stays servable, when to ask WeChat, backoff, budgets and ForceRefresh's
// limits, as pure functions of the state and `now`. RefreshEngine applies
// them; nothing else decides any of this.

// ---- State ---------------------------------------------------------------

// What the guarantee depends on for one (app, kind).
struct TokenState {
  std::string value;  // "" until the first fetch
  uint64_t generation = 0;
  uint64_t epoch = 0;  // replicas: the lease term that fetched it; 0 unknown
  Instant fetched;     // when the request that got `value` was sent
  Instant expires;     // fetched + expires_in
  // The possibly-revoking requests without a clean answer (WeChat may have
  // issued a newer value we never saw), both or neither: the earliest's send
  // time (a lower bound) and the latest's (an upper bound).
  std::optional<Instant> intent;
  std::optional<Instant> latest_intent;

  bool has_value() const { return !value.empty(); }
};

// What one app spent on one Beijing day, and its blocks.
struct AppCounters {
  int64_t day = 0;
  int fetches = 0;        // every token and ticket request sent
  int force_fetches = 0;  // of which caused by ForceRefresh
  int stable_forces = 0;  // stable_token force_refresh: true
  std::optional<Instant> last_stable_force;
  std::optional<Instant> quota_blocked_until;  // after errcode 45009
};

// A platform's component_verify_ticket: valid this long after its
// CreateTime; when the newest is this old, pushes may have stopped and
// api_start_push_ticket asks for one (at most this often).
inline constexpr absl::Duration kVerifyTicketLifetime = absl::Hours(12);
inline constexpr absl::Duration kVerifyTicketProbeAge = absl::Minutes(30);
// A WeCom suite_ticket (WECHAT.md "WeCom APIs"): valid 30 minutes.
inline constexpr absl::Duration kSuiteTicketLifetime = absl::Minutes(30);

// WeChat's limits on stable_token force_refresh: true.
inline constexpr int kStableForceDailyLimit = 20;
inline constexpr absl::Duration kStableForceSpacing = absl::Seconds(30);

// ---- How long a value stays servable -------------------------------------

// Until when `state`'s value may be handed out: its expiry, cut to `overlap`
// after the intent. When the intent is older than the value (a request sent
// before the value's own got no answer), `overlap` after the value's own
// send: a late-processed earlier request revokes the value only after it was
// issued, so no earlier than that.
Instant ValidUntil(const TokenState& state, absl::Duration overlap);

// A replica sharing a store may miss an intent written after its last read
// that confirmed the record; but that intent's request was sent after the
// read began, so the value stays valid at least `overlap` after the read's
// start (DESIGN.md "Replicas"). This margin covers clocks that tick at
// slightly different rates.
inline constexpr absl::Duration kReplicaSafety = absl::Seconds(1);

// ValidUntil(), and for a replica whose last confirming read started at
// `confirmed`, no later than confirmed + overlap - kReplicaSafety.
// `confirmed` is SteadyTime::InfiniteFuture() for a store of one.
Instant ReplicaValidUntil(const TokenState& state, SteadyTime confirmed,
                          absl::Duration overlap, Instant now);

// What GetToken may serve of one (app, kind): published by the engine,
// immutable once published.
struct PublishedToken {
  std::string value;  // "" when there is none
  uint64_t generation = 0;
  absl::Time fetched_at;
  Instant valid_until = {absl::InfinitePast(), SteadyTime::InfinitePast()};
  // GetToken's answer while no value is servable: UNAVAILABLE before the
  // first fetch, FAILED_PRECONDITION after a credential error, and so on.
  absl::Status unavailable = absl::UnavailableError("no token fetched yet");
};

// How long GetToken's answers may be kept (RefreshConfig's values).
struct CacheLimits {
  absl::Duration client_max_cache;
  absl::Duration overlap;
};

// GetToken's answer at `now`: max_cache = min(client_max_cache,
// valid_until - now), so a caller that obeys it never holds a revoked value;
// stale_if_error = min(overlap, valid_until - now), since a request sent
// from now on revokes the value no sooner than `overlap` after it.
absl::StatusOr<Token> ServeToken(absl::string_view app_id, TokenKind kind,
                                 const PublishedToken& published,
                                 SteadyTime now, const CacheLimits& limits);

// ---- What a request does to the state ------------------------------------

// Whether a request to `api` may make WeChat revoke the value it replaces:
// classic, ticket and component token fetches always, stable_token only with
// force_refresh, api_start_push_ticket never.
// Such a request is sent only once its intent is durable.
bool MayRevoke(FetchApi api, bool force_refresh);

// How long WeChat is taken to need, at most, to process a request that it
// processes at all: half the overlap. An unanswered request older than this
// has done whatever it did, so a later success is WeChat's newest value.
absl::Duration UnansweredHorizon(absl::Duration overlap);

// How long after its recording began a request may still be sent: a tenth
// of the overlap, at most 2 s. The latest intent records recording + this,
// an upper bound of the send time; a request whose recording took longer is
// not sent (its intent stays).
absl::Duration MaxRecordingTime(absl::Duration overlap);

// What recording one possibly-revoking request did to a TokenState: the
// unanswered send times it found, and the bounds of its own send time.
struct IntentRecord {
  std::optional<Instant> earliest_before;
  std::optional<Instant> latest_before;
  Instant earliest;  // when its recording began: it is sent after this
  Instant latest;    // earliest + MaxRecordingTime(): sent before this
};

// Records a request whose recording begins at `now` among the unanswered.
IntentRecord RecordIntent(TokenState& state, Instant now,
                          absl::Duration overlap);

// The request of `own` had a clean answer (an errcode: WeChat issued
// nothing) or was never sent: its send times leave the unanswered. When
// nothing else changed them since it was recorded, they are what it found;
// when a read merged others in meanwhile, nothing is cleared (the merged
// ones may be anywhere between the bounds).
void ForgetIntent(TokenState& state, const IntentRecord& own);

// A request sent at `sent` (of `own`, when it recorded an intent) was
// answered with a value: its own send times leave, and the rest are cleared
// when every one is past the horizon at `sent` (WeChat processed them, if
// at all, before this request). Kept otherwise: one of them may still
// revoke the new value.
void IntentAfterSuccess(TokenState& state,
                        const std::optional<IntentRecord>& own, Instant sent,
                        absl::Duration overlap);

// ---- When to ask WeChat ---------------------------------------------------

// When a request for `state` should go out while nothing is in flight and
// nothing failed. No value: at once. Requests unanswered since the value's
// own: once the latest is past the horizon, so the answer is clean; but no
// later than three quarters of the way from the last known send to the end
// of the validity, so the value in hand never runs out first (the answer's
// value is then bounded too, and the next refresh is clean). stable_token: when
// 4/5 of the overlap remains (inside WeChat's early-issue window even with some
// clock difference). Otherwise `margin` before the end, or halfway when the
// servable life is shorter than twice the margin, so the worker never refreshes
// in a loop. Tickets follow the classic rule whatever the app's token API.
// kStartPushTicket (a pushed verify ticket's probe): once the newest ticket
// is kVerifyTicketProbeAge old.
Instant RefreshTime(const TokenState& state, FetchApi api,
                    const RefreshConfig& refresh);

// stable_token: how long to wait before asking again when WeChat returned the
// value we already hold inside its early-issue window.
absl::Duration StableRecheckDelay(absl::Duration overlap);

// Exponential backoff with "equal jitter": after the n-th consecutive
// failure (n >= 1) wait d/2 + random01 * d/2 where d = min(max, initial *
// 2^(n-1)). Retries of many apps spread out, yet never come sooner than half
// the nominal delay.
absl::Duration BackoffDelay(int failures, absl::Duration initial,
                            absl::Duration max, double random01);

// When to try again after a transient failure: at once on the next base URL
// (`failover`), else after backoff. While the value is still servable and
// nobody is waiting for a new one, never before RefreshTime(), so that a
// retry after an unanswered request gets a clean answer.
Instant RetryTime(const TokenState& state, FetchApi api, bool failover,
                  int failures, bool callers_waiting, Instant now,
                  const RefreshConfig& refresh, double random01);

// After errcode 45009 at `now`: a few minutes (jittered) after the next
// Beijing midnight; but in the first hour of a Beijing day WeChat's reset
// may lag, so backoff instead of deferring another whole day.
Instant QuotaResumeTime(Instant now, int failures, const RefreshConfig& refresh,
                        double random01);

// When an app whose own daily_budget is spent at `now` may fetch again:
// the next Beijing midnight, when the count starts over, plus up to a
// minute of jitter, so that apps that spent theirs do not all ask at once.
Instant BudgetResumeTime(Instant now, double random01);

// WeChat's quotas reset at midnight Beijing time (UTC+8).
int64_t BeijingDay(absl::Time time);
absl::Time StartOfNextBeijingDay(absl::Time time);
// The Instant of the next Beijing midnight, seen from `now`.
Instant NextBeijingDay(Instant now);

// ---- Budgets ----------------------------------------------------------------

// Who wants a request: the schedule, or a ForceRefresh (which may spend only
// force_budget of the day's daily_budget, so the schedule always has its
// share).
enum class Spend { kScheduled, kForce };

// One owner's limits for a day: refresh.daily_budget and force_budget, or a
// platform's own daily_budget for its component token and its authorizers.
struct DailyBudget {
  int fetches = 1900;
  int force_fetches = 200;  // of which ForceRefresh
  // The config key that sets `fetches`, named when it is spent.
  absl::string_view name = "refresh.daily_budget";
};

// `counters` as of `now`: another Beijing day starts from zero.
AppCounters CountersToday(AppCounters counters, Instant now);

// OK when a request may go now; RESOURCE_EXHAUSTED saying which limit
// otherwise (a 45009 block, daily_budget, force_budget, or WeChat's 20
// stable force refreshes a day). `counters` must be CountersToday().
absl::Status CheckSpend(const AppCounters& counters, Spend spend,
                        bool stable_force, Instant now,
                        const DailyBudget& budget);

// Counts one request about to be sent.
void Charge(AppCounters& counters, Spend spend, bool stable_force, Instant now);

// ---- ForceRefresh -----------------------------------------------------------

// wechat_errcode must be 0 (not given) or one of WeChat's "this token is
// bad" codes (40001, 40014, 42001; a WeCom app's: 40014, 42001): other
// errors are not the token's fault.
absl::Status ValidateForceErrcode(int wechat_errcode, bool wecom = false);

// What DecideForceRefresh looks at.
struct ForceView {
  absl::string_view stale_value;  // "" = whatever is current is bad
  const TokenState* state = nullptr;
  bool servable = false;     // state's value may be handed out now
  bool in_progress = false;  // a request is being recorded or is in flight
  // Why no request may go now (a credential error, a ticket's unusable
  // access token, a spent budget), or OK.
  absl::Status refusal;
  std::optional<Instant> last_sent;  // the last request for this (app, kind)
  Instant now;
};

enum class ForceStep {
  kAlreadyNewer,  // answer with the current value, no upstream call
  kJoin,          // wait for the request in progress: COALESCED
  kRefuse,        // answer the refusal at once
  kFetch,         // one request at `at`, for everyone waiting by then
};
struct ForceDecision {
  ForceStep step = ForceStep::kFetch;
  Instant at;
};

// DESIGN.md's ForceRefresh order, after the errcode and app checks: a stale
// value that is not current → ALREADY_NEWER (before any failure state); a
// request in progress → join it; a refusal → at once (waiting out
// force_min_interval could not change it); else one request, no sooner than
// force_min_interval after the last.
ForceDecision DecideForceRefresh(const ForceView& view,
                                 const RefreshConfig& refresh);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_REFRESH_POLICY_H_
