#include "tests/sandbox/wecom_state.h"

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wxtoken::sandbox {
namespace {

constexpr absl::Duration kHour = absl::Hours(1);

// WeCom's successes carry errcode 0 and errmsg "ok" too.
Answer Success(std::string value, absl::Duration expires_in) {
  Answer answer;
  answer.errmsg = "ok";
  answer.value = std::move(value);
  answer.expires_in = absl::ToInt64Seconds(expires_in);
  return answer;
}

bool IsToken(const Validity& validity) {
  return validity.status != Validity::Status::kUnknown &&
         validity.kind == ValueKind::kWeComToken;
}

}  // namespace

WeComState::WeComState(WeComOptions options,
                       std::map<std::string, std::string> apps)
    : options_(std::move(options)), failures_(kHour) {
  absl::MutexLock lock(&mu_);
  for (auto& [key, secret] : apps) {
    const std::string corpid = key.substr(0, key.find('/'));
    Corp& corp = corps_.try_emplace(corpid, kHour).first->second;
    corp.app_by_secret[secret] = key;
    App& app = apps_.try_emplace(key, kHour).first->second;
    app.corpid = corpid;
    app.secret = std::move(secret);
  }
}

WeComStats& WeComState::UnknownStats() {
  unknown_counted_ = true;
  return unknown_stats_;
}

WeComStats& WeComState::GetTokenStatsFor(absl::string_view corpid,
                                         absl::string_view corpsecret) {
  auto corp = corps_.find(corpid);
  if (corp == corps_.end()) return UnknownStats();
  auto app = corp->second.app_by_secret.find(corpsecret);
  if (app == corp->second.app_by_secret.end()) return corp->second.stats;
  return apps_.at(app->second).stats;
}

WeComState::App* WeComState::AppOfToken(absl::string_view access_token) {
  const IssuedValues::Issued* issued = issued_.Find(access_token);
  if (issued == nullptr || issued->kind != ValueKind::kWeComToken) {
    return nullptr;
  }
  auto it = apps_.find(issued->owner);
  return it == apps_.end() ? nullptr : &it->second;
}

Answer WeComState::CheckToken(absl::string_view access_token,
                              absl::Time now) const {
  if (access_token.empty()) return Answer::Error(41001, "access_token missing");
  const Validity token = issued_.Check(access_token, now);
  if (!IsToken(token)) return Answer::Error(40014, "invalid access_token");
  if (!token.valid()) return Answer::Error(42001, "access_token expired");
  return Answer();
}

Answer WeComState::GetToken(absl::string_view corpid,
                            absl::string_view corpsecret, absl::Time now) {
  CountGetTokenCall(corpid, corpsecret);
  return ProcessGetToken(corpid, corpsecret, now);
}

Answer WeComState::ProcessGetToken(absl::string_view corpid,
                                   absl::string_view corpsecret,
                                   absl::Time now) {
  absl::MutexLock lock(&mu_);
  WeComStats& stats = GetTokenStatsFor(corpid, corpsecret);
  if (now < blocked_until_) {
    ++stats.gettoken_failures;
    return Answer::Error(60020, "not allow to access from your ip");
  }

  std::optional<Answer> refused;
  auto corp = corps_.find(corpid);
  if (corpid.empty()) {
    refused = Answer::Error(41002, "corpid missing");
  } else if (corpsecret.empty()) {
    refused = Answer::Error(41004, "corpsecret missing");
  } else if (corp == corps_.end()) {
    refused = Answer::Error(40013, "invalid corpid");
  } else if (!corp->second.app_by_secret.contains(corpsecret)) {
    refused = Answer::Error(40001, "invalid credential");
  }
  if (refused) {
    ++stats.gettoken_failures;
    failures_.Add(now);
    if (failures_.Count(now) >= options_.failures_before_block) {
      blocked_until_ = now + options_.block;
    }
    return *std::move(refused);
  }

  const std::string& key = corp->second.app_by_secret.at(corpsecret);
  App& app = apps_.at(key);
  std::string value =
      issued_.Issue(key, ValueKind::kWeComToken, options_.lifetime,
                    options_.overlap, &app.token_current, now, gen_);
  ++app.stats.tokens_issued;
  return Success(std::move(value), options_.lifetime);
}

Answer WeComState::IssueTicket(Counted& counted, int limit,
                               absl::string_view owner, ValueKind kind,
                               std::string* current, absl::Time now) {
  const bool over = counted.ticket_window.Count(now) >= limit;
  counted.ticket_window.Add(now);
  if (over) {
    ++counted.stats.ticket_rate_limited;
    return Answer::Error(45009, "api freq out of limit");
  }
  std::string value = issued_.Issue(owner, kind, options_.ticket_lifetime,
                                    options_.overlap, current, now, gen_);
  ++counted.stats.tickets_issued;
  return Success(std::move(value), options_.ticket_lifetime);
}

Answer WeComState::CorpTicket(absl::string_view access_token, absl::Time now) {
  absl::MutexLock lock(&mu_);
  App* app = AppOfToken(access_token);
  Corp* corp = app == nullptr ? nullptr : &corps_.at(app->corpid);
  ++(corp == nullptr ? UnknownStats() : corp->stats).corp_ticket_calls;

  Answer refused = CheckToken(access_token, now);
  if (refused.errcode != 0) return refused;
  return IssueTicket(*corp, options_.corp_tickets_per_hour, app->corpid,
                     ValueKind::kWeComJsapiTicket, &corp->ticket_current, now);
}

Answer WeComState::AgentTicket(absl::string_view access_token,
                               absl::string_view type, absl::Time now) {
  absl::MutexLock lock(&mu_);
  App* app = AppOfToken(access_token);
  ++(app == nullptr ? UnknownStats() : app->stats).agent_ticket_calls;

  Answer refused = CheckToken(access_token, now);
  if (refused.errcode != 0) return refused;
  // WeCom documents agent_config as the only type here; 40058 is its
  // generic "invalid parameter" errcode (not listed in WECHAT.md, which
  // has none for a bad type).
  if (type != "agent_config") return Answer::Error(40058, "invalid type");
  const std::string key = issued_.Find(access_token)->owner;
  return IssueTicket(*app, options_.agent_tickets_per_hour, key,
                     ValueKind::kWeComAgentTicket, &app->ticket_current, now);
}

void WeComState::CountGetTokenCall(absl::string_view corpid,
                                   absl::string_view corpsecret) {
  absl::MutexLock lock(&mu_);
  ++GetTokenStatsFor(corpid, corpsecret).gettoken_calls;
}

void WeComState::CountCorpTicketCall(absl::string_view access_token) {
  absl::MutexLock lock(&mu_);
  App* app = AppOfToken(access_token);
  ++(app == nullptr ? UnknownStats() : corps_.at(app->corpid).stats)
        .corp_ticket_calls;
}

void WeComState::CountAgentTicketCall(absl::string_view access_token) {
  absl::MutexLock lock(&mu_);
  App* app = AppOfToken(access_token);
  ++(app == nullptr ? UnknownStats() : app->stats).agent_ticket_calls;
}

Validity WeComState::Check(absl::string_view value, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return issued_.Check(value, now);
}

std::map<std::string, WeComStats> WeComState::Stats(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, WeComStats> result;
  const auto add = [&result, now](const std::string& key,
                                  const Counted& counted) {
    WeComStats& stats = result[key] = counted.stats;
    stats.ticket_calls_last_hour = counted.ticket_window.Count(now);
    stats.ticket_calls_peak_hour = counted.ticket_window.peak();
  };
  for (const auto& [key, app] : apps_) add(key, app);
  for (const auto& [corpid, corp] : corps_) add(corpid, corp);
  if (unknown_counted_) result[""] = unknown_stats_;
  return result;
}

}  // namespace wxtoken::sandbox
