#include "server/token/refresh_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/wechat/errcodes.h"

namespace wxtoken::server {
namespace {

constexpr int64_t kBeijingOffsetSeconds = 8 * 3600;
constexpr int64_t kSecondsPerDay = 24 * 3600;

// 45009 is honoured until this long after Beijing midnight, plus up to
// kQuotaResumeJitter, so that many apps (and replicas) do not all ask at
// 00:00:00 while WeChat's counters may still be resetting.
constexpr absl::Duration kQuotaResumeDelay = absl::Minutes(2);
constexpr absl::Duration kQuotaResumeJitter = absl::Minutes(5);
// Our own daily_budget starts over exactly at midnight (our count): only
// spread.
constexpr absl::Duration kBudgetResumeJitter = absl::Minutes(1);
// A 45009 this soon after midnight is WeChat's reset lagging (or our clock
// running ahead), not a spent day.
constexpr absl::Duration kQuotaResetGrace = absl::Hours(1);

std::string TimeText(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

}  // namespace

Instant ValidUntil(const TokenState& state, absl::Duration overlap) {
  if (!state.has_value()) {
    return {absl::InfinitePast(), SteadyTime::InfinitePast()};
  }
  Instant until = state.expires;
  if (state.intent) {
    until = std::min(until, std::max(*state.intent, state.fetched) + overlap);
  }
  return until;
}

Instant ReplicaValidUntil(const TokenState& state, SteadyTime confirmed,
                          absl::Duration overlap, Instant now) {
  const Instant valid = ValidUntil(state, overlap);
  if (confirmed == SteadyTime::InfiniteFuture()) return valid;
  const SteadyTime bound = confirmed + overlap - kReplicaSafety;
  return std::min(valid, Instant{now.wall + (bound - now.steady), bound});
}

absl::StatusOr<Token> ServeToken(absl::string_view app_id, TokenKind kind,
                                 const PublishedToken& published,
                                 SteadyTime now, const CacheLimits& limits) {
  if (published.value.empty() || now >= published.valid_until.steady) {
    return published.unavailable;
  }
  Token token;
  token.app_id = std::string(app_id);
  token.kind = kind;
  token.value = published.value;
  token.fetched_at = published.fetched_at;
  token.expires_at = published.valid_until.wall;
  token.generation = published.generation;
  const absl::Duration remaining = published.valid_until.steady - now;
  token.max_cache = std::min(limits.client_max_cache, remaining);
  token.stale_if_error = std::min(limits.overlap, remaining);
  return token;
}

bool MayRevoke(FetchApi api, bool force_refresh) {
  switch (api) {
    case FetchApi::kStable:
      return force_refresh;
    case FetchApi::kStartPushTicket:
    case FetchApi::kQuotaGet:
      return false;  // it issues nothing itself
    default:
      return true;
  }
}

absl::Duration UnansweredHorizon(absl::Duration overlap) { return overlap / 2; }

namespace {

// Stores keep times to the microsecond: compare at that precision.
bool SameTime(const std::optional<Instant>& a, Instant b) {
  return a && absl::ToUnixMicros(a->wall) == absl::ToUnixMicros(b.wall);
}

}  // namespace

absl::Duration MaxRecordingTime(absl::Duration overlap) {
  return std::min(overlap / 10, absl::Seconds(2));
}

IntentRecord RecordIntent(TokenState& state, Instant now,
                          absl::Duration overlap) {
  IntentRecord own{state.intent, state.latest_intent, now,
                   now + MaxRecordingTime(overlap)};
  state.intent = state.intent ? std::min(*state.intent, now) : now;
  state.latest_intent =
      std::max(state.latest_intent.value_or(own.latest), own.latest);
  return own;
}

void ForgetIntent(TokenState& state, const IntentRecord& own) {
  const Instant earliest =
      std::min(own.earliest_before.value_or(own.earliest), own.earliest);
  const Instant latest =
      std::max(own.latest_before.value_or(own.latest), own.latest);
  if (SameTime(state.intent, earliest) &&
      SameTime(state.latest_intent, latest)) {
    state.intent = own.earliest_before;
    state.latest_intent = own.latest_before;
  }
}

void IntentAfterSuccess(TokenState& state,
                        const std::optional<IntentRecord>& own, Instant sent,
                        absl::Duration overlap) {
  if (own) ForgetIntent(state, *own);
  if (!state.intent) return;
  const Instant latest = state.latest_intent.value_or(*state.intent);
  if (latest <= sent - UnansweredHorizon(overlap)) {
    state.intent.reset();
    state.latest_intent.reset();
  }
}

Instant RefreshTime(const TokenState& state, FetchApi api,
                    const RefreshConfig& refresh) {
  if (!state.has_value()) {
    return {absl::InfinitePast(), SteadyTime::InfinitePast()};
  }
  if (api == FetchApi::kStartPushTicket) {
    return state.fetched + kVerifyTicketProbeAge;
  }
  const Instant valid = ValidUntil(state, refresh.overlap);
  if (state.intent &&
      state.latest_intent.value_or(*state.intent) >= state.fetched) {
    const Instant last_send = std::max(*state.intent, state.fetched);
    const Instant clean = state.latest_intent.value_or(*state.intent) +
                          UnansweredHorizon(refresh.overlap);
    return std::min(clean, last_send + (valid - last_send) * 3 / 4);
  }
  if (api == FetchApi::kStable && valid == state.expires) {
    return state.expires - refresh.overlap * 4 / 5;
  }
  const absl::Duration life = valid - state.fetched;
  if (life < 2 * refresh.margin) return state.fetched + life / 2;
  return valid - refresh.margin;
}

absl::Duration StableRecheckDelay(absl::Duration overlap) {
  return overlap / 10;
}

absl::Duration BackoffDelay(int failures, absl::Duration initial,
                            absl::Duration max, double random01) {
  absl::Duration nominal = initial;
  for (int i = 1; i < failures && nominal < max; ++i) nominal *= 2;
  nominal = std::min(nominal, max);
  random01 = std::clamp(random01, 0.0, 1.0);
  return nominal / 2 + nominal / 2 * random01;
}

Instant RetryTime(const TokenState& state, FetchApi api, bool failover,
                  int failures, bool callers_waiting, Instant now,
                  const RefreshConfig& refresh, double random01) {
  Instant at = failover ? now
                        : now + BackoffDelay(failures, refresh.retry_initial,
                                             refresh.retry_max, random01);
  if (!callers_waiting && now < ValidUntil(state, refresh.overlap)) {
    at = std::max(at, RefreshTime(state, api, refresh));
  }
  return at;
}

int64_t BeijingDay(absl::Time time) {
  const int64_t seconds = absl::ToUnixSeconds(time) + kBeijingOffsetSeconds;
  // Floor division, so times before 1970 still land on the right day.
  return seconds >= 0 ? seconds / kSecondsPerDay
                      : -((-seconds + kSecondsPerDay - 1) / kSecondsPerDay);
}

absl::Time StartOfNextBeijingDay(absl::Time time) {
  return absl::FromUnixSeconds((BeijingDay(time) + 1) * kSecondsPerDay -
                               kBeijingOffsetSeconds);
}

Instant NextBeijingDay(Instant now) {
  return now + (StartOfNextBeijingDay(now.wall) - now.wall);
}

Instant QuotaResumeTime(Instant now, int failures, const RefreshConfig& refresh,
                        double random01) {
  const absl::Time day_start =
      StartOfNextBeijingDay(now.wall) - absl::Hours(24);
  if (now.wall - day_start < kQuotaResetGrace) {
    return now + BackoffDelay(failures, refresh.retry_initial,
                              refresh.retry_max, random01);
  }
  return NextBeijingDay(now) + kQuotaResumeDelay +
         kQuotaResumeJitter * std::clamp(random01, 0.0, 1.0);
}

Instant BudgetResumeTime(Instant now, double random01) {
  return NextBeijingDay(now) +
         kBudgetResumeJitter * std::clamp(random01, 0.0, 1.0);
}

AppCounters CountersToday(AppCounters counters, Instant now) {
  const int64_t today = BeijingDay(now.wall);
  if (counters.day != today) {
    counters.day = today;
    counters.fetches = 0;
    counters.force_fetches = 0;
    counters.stable_forces = 0;
  }
  return counters;
}

absl::Status CheckSpend(const AppCounters& counters, Spend spend,
                        bool stable_force, Instant now,
                        const DailyBudget& budget) {
  if (counters.quota_blocked_until && now < *counters.quota_blocked_until) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "WeChat's daily quota is reached (errcode 45009); fetching resumes at ",
        TimeText(counters.quota_blocked_until->wall)));
  }
  if (counters.fetches >= budget.fetches) {
    return absl::ResourceExhaustedError(
        absl::StrCat(budget.name, " of ", budget.fetches,
                     " fetches is spent; fetching resumes at ",
                     TimeText(StartOfNextBeijingDay(now.wall))));
  }
  if (spend == Spend::kForce &&
      counters.force_fetches >= budget.force_fetches) {
    return absl::ResourceExhaustedError(
        absl::StrCat("refresh.force_budget of ", budget.force_fetches,
                     " ForceRefresh fetches is spent for today"));
  }
  if (stable_force && counters.stable_forces >= kStableForceDailyLimit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("WeChat allows ", kStableForceDailyLimit,
                     " stable_token force refreshes a day; all are spent"));
  }
  return absl::OkStatus();
}

void Charge(AppCounters& counters, Spend spend, bool stable_force,
            Instant now) {
  ++counters.fetches;
  if (spend == Spend::kForce) ++counters.force_fetches;
  if (stable_force) {
    ++counters.stable_forces;
    counters.last_stable_force = now;
  }
}

absl::Status ValidateForceErrcode(int wechat_errcode, bool wecom) {
  if (wecom && wechat_errcode == 40001) {
    return absl::InvalidArgumentError(
        "wechat_errcode: 40001 from WeCom means the app's secret is wrong, "
        "not its token; refreshing the token cannot help");
  }
  if (wechat_errcode == 0 || IsRefreshErrcode(wechat_errcode)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "wechat_errcode: ", wechat_errcode,
      " is not a token error (40001, 40014 or 42001); refreshing the token "
      "cannot help"));
}

ForceDecision DecideForceRefresh(const ForceView& view,
                                 const RefreshConfig& refresh) {
  if (!view.stale_value.empty() && view.servable &&
      view.stale_value != view.state->value) {
    return {ForceStep::kAlreadyNewer, view.now};
  }
  if (view.in_progress) return {ForceStep::kJoin, view.now};
  if (!view.refusal.ok()) return {ForceStep::kRefuse, view.now};
  Instant at = view.now;
  if (view.last_sent) {
    at = std::max(at, *view.last_sent + refresh.force_min_interval);
  }
  return {ForceStep::kFetch, at};
}

}  // namespace wxtoken::server
