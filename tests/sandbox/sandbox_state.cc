#include "tests/sandbox/sandbox_state.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/sandbox/random_token.h"

namespace wxtoken::sandbox {
namespace {

constexpr char kGrantType[] = "client_credential";

Answer Success(std::string value, absl::Duration expires_in) {
  Answer answer;
  answer.value = std::move(value);
  // WeChat never rounds a remaining lifetime up.
  answer.expires_in = absl::ToInt64Seconds(expires_in);
  return answer;
}

Answer QuotaReached() {
  return Answer::Error(45009, "reach max api daily quota limit");
}

Answer InvalidToken() {
  return Answer::Error(
      40001, "invalid credential, access_token is invalid or not latest");
}

}  // namespace

int64_t BeijingDay(absl::Time t) {
  constexpr int64_t kDay = 24 * 3600;
  const int64_t seconds = absl::ToUnixSeconds(t) + 8 * 3600;
  // Floor division, so times before 1970 do not share day 0.
  return seconds >= 0 ? seconds / kDay : -((-seconds + kDay - 1) / kDay);
}

SandboxState::SandboxState(SandboxOptions options,
                           std::map<std::string, std::string> apps)
    : options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  for (auto& [appid, secret] : apps) {
    apps_[appid].secret = std::move(secret);
  }
}

SandboxState::App* SandboxState::FindApp(absl::string_view appid) {
  if (appid.empty()) return nullptr;
  auto it = apps_.find(appid);
  return it == apps_.end() ? nullptr : &it->second;
}

bool SandboxState::ResetSecret(absl::string_view appid, std::string secret) {
  absl::MutexLock lock(&mu_);
  App* app = FindApp(appid);
  if (app == nullptr || secret.empty()) return false;
  app->secret = std::move(secret);
  return true;
}

AppStats& SandboxState::StatsFor(absl::string_view appid) {
  if (App* app = FindApp(appid)) return app->stats;
  unknown_counted_ = true;
  return unknown_stats_;
}

void SandboxState::ChargeQuota(App& app, absl::Time now) {
  const int64_t today = BeijingDay(now);
  if (app.quota_day != today) {
    app.quota_day = today;
    app.quota_used = 0;
  }
  ++app.quota_used;
}

std::string SandboxState::OwnerOfAccessToken(absl::string_view value) const {
  const IssuedValues::Issued* issued = issued_.Find(value);
  if (issued == nullptr || issued->kind == ValueKind::kTicket) return "";
  return issued->owner;
}

std::string SandboxState::Issue(absl::string_view appid, ValueKind kind,
                                absl::Duration lifetime, bool supersede,
                                std::string* current, absl::Time now) {
  return issued_.Issue(appid, kind, lifetime,
                       supersede
                           ? std::optional<absl::Duration>(options_.overlap)
                           : std::nullopt,
                       current, now, gen_);
}

Answer SandboxState::FetchClassic(const Credentials& creds, absl::Time now) {
  // Every call naming a real app counts, even one that fails below.
  CountClassicCall(creds.appid, now);
  return ProcessClassic(creds, now);
}

Answer SandboxState::ProcessClassic(const Credentials& creds, absl::Time now) {
  absl::MutexLock lock(&mu_);
  App* app = FindApp(creds.appid);

  if (creds.grant_type != kGrantType)
    return Answer::Error(40002, "invalid grant_type");
  if (creds.appid.empty()) return Answer::Error(41002, "appid missing");
  if (creds.secret.empty()) return Answer::Error(41004, "appsecret missing");
  if (app == nullptr) return Answer::Error(40013, "invalid appid");
  if (app->quota_used > options_.daily_quota) return QuotaReached();
  if (creds.secret != app->secret)
    return Answer::Error(40125, "invalid appsecret");

  std::string value = Issue(creds.appid, ValueKind::kClassic, options_.lifetime,
                            /*supersede=*/true, &app->classic_current, now);
  ++app->stats.tokens_issued;
  return Success(std::move(value), options_.lifetime);
}

Answer SandboxState::FetchStable(const Credentials& creds, bool force_refresh,
                                 absl::Time now) {
  absl::MutexLock lock(&mu_);
  AppStats& stats = StatsFor(creds.appid);
  ++stats.stable_calls;
  if (force_refresh) ++stats.stable_force_calls;

  if (creds.grant_type != kGrantType)
    return Answer::Error(40002, "invalid grant_type");
  if (creds.appid.empty()) return Answer::Error(41002, "appid missing");
  if (creds.secret.empty()) return Answer::Error(41004, "appsecret missing");
  App* app = FindApp(creds.appid);
  if (app == nullptr) return Answer::Error(40013, "invalid appid");
  if (creds.secret != app->secret)
    return Answer::Error(40125, "invalid appsecret");

  const Validity current = issued_.Check(app->stable_current, now);
  const absl::Duration remaining =
      current.valid() ? issued_.Find(app->stable_current)->expires_at - now
                      : absl::ZeroDuration();

  // A forced refresh too soon after the last one is an ordinary call.
  if (force_refresh && current.valid() &&
      now - app->last_force >= options_.force_min_interval) {
    const int64_t today = BeijingDay(now);
    if (app->force_day != today) {
      app->force_day = today;
      app->force_used = 0;
    }
    if (app->force_used >= options_.force_daily_limit) return QuotaReached();
    ++app->force_used;
    app->last_force = now;
    std::string value =
        Issue(creds.appid, ValueKind::kStable, options_.lifetime,
              /*supersede=*/true, &app->stable_current, now);
    ++app->stats.tokens_issued;
    return Success(std::move(value), options_.lifetime);
  }

  if (current.valid() && remaining > options_.overlap) {
    return Success(app->stable_current, remaining);
  }
  // None yet, or in the last `overlap`: issue the next one early; the
  // current one keeps working until its own expiry.
  std::string value = Issue(creds.appid, ValueKind::kStable, options_.lifetime,
                            /*supersede=*/false, &app->stable_current, now);
  ++app->stats.tokens_issued;
  return Success(std::move(value), options_.lifetime);
}

Answer SandboxState::FetchTicket(absl::string_view access_token,
                                 absl::string_view type, absl::Time now) {
  absl::MutexLock lock(&mu_);
  ++StatsFor(OwnerOfAccessToken(access_token)).ticket_calls;

  if (access_token.empty()) return Answer::Error(41001, "access_token missing");
  const Validity token = issued_.Check(access_token, now);
  if (token.status == Validity::Status::kUnknown ||
      token.kind == ValueKind::kTicket) {
    return InvalidToken();
  }
  if (token.status == Validity::Status::kExpired) {
    return Answer::Error(42001, "access_token expired");
  }
  if (token.status == Validity::Status::kRevoked) return InvalidToken();
  if (type != "jsapi" && type != "wx_card")
    return Answer::Error(40097, "invalid args");

  App* app = FindApp(token.appid);
  if (app == nullptr) return InvalidToken();  // cannot happen: apps are fixed
  std::string value =
      Issue(token.appid, ValueKind::kTicket, options_.ticket_lifetime,
            /*supersede=*/true, &app->ticket_current[type], now);
  ++app->stats.tickets_issued;
  Answer answer = Success(std::move(value), options_.ticket_lifetime);
  answer.errmsg = "ok";
  return answer;
}

void SandboxState::CountClassicCall(absl::string_view appid, absl::Time now) {
  absl::MutexLock lock(&mu_);
  ++StatsFor(appid).token_calls;
  if (App* app = FindApp(appid)) ChargeQuota(*app, now);
}

void SandboxState::CountStableCall(absl::string_view appid,
                                   bool force_refresh) {
  absl::MutexLock lock(&mu_);
  AppStats& stats = StatsFor(appid);
  ++stats.stable_calls;
  if (force_refresh) ++stats.stable_force_calls;
}

void SandboxState::CountTicketCall(absl::string_view access_token) {
  absl::MutexLock lock(&mu_);
  ++StatsFor(OwnerOfAccessToken(access_token)).ticket_calls;
}

QuotaAnswer QuotaAnswer::Count(int64_t daily_limit, int64_t used) {
  QuotaAnswer answer;
  answer.daily_limit = daily_limit;
  answer.used = used;
  answer.remain = std::max<int64_t>(0, daily_limit - used);
  return answer;
}

QuotaAnswer QuotaAnswer::InvalidToken() {
  QuotaAnswer answer;
  answer.errcode = 40001;
  answer.errmsg = "invalid credential, access_token is invalid or not latest";
  return answer;
}

QuotaAnswer QuotaAnswer::UnknownPath() {
  QuotaAnswer answer;
  answer.errcode = 76021;
  answer.errmsg = "cgi_path not found";
  return answer;
}

QuotaAnswer SandboxState::Quota(absl::string_view access_token,
                                absl::string_view cgi_path,
                                absl::Time now) const {
  absl::MutexLock lock(&mu_);
  const Validity validity = issued_.Check(access_token, now);
  auto app = apps_.find(validity.appid);
  if (!validity.valid() || validity.kind == ValueKind::kTicket ||
      app == apps_.end()) {
    return QuotaAnswer::InvalidToken();
  }
  const AppStats& stats = app->second.stats;
  if (cgi_path == "/cgi-bin/token") {
    return QuotaAnswer::Count(
        options_.daily_quota,
        app->second.quota_day == BeijingDay(now) ? app->second.quota_used : 0);
  }
  if (cgi_path == "/cgi-bin/stable_token") {
    return QuotaAnswer::Count(500000, stats.stable_calls);
  }
  if (cgi_path == "/cgi-bin/ticket/getticket") {
    return QuotaAnswer::Count(100000, stats.ticket_calls);
  }
  return QuotaAnswer::UnknownPath();
}

Validity SandboxState::Check(absl::string_view value, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return issued_.Check(value, now);
}

std::map<std::string, AppStats> SandboxState::Stats(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, AppStats> result;
  const int64_t today = BeijingDay(now);
  for (const auto& [appid, app] : apps_) {
    AppStats& stats = result[appid] = app.stats;
    stats.quota_used_today = app.quota_day == today ? app.quota_used : 0;
  }
  if (unknown_counted_) result[""] = unknown_stats_;
  return result;
}

}  // namespace wxtoken::sandbox
