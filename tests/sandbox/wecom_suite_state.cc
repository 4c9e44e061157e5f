#include "tests/sandbox/wecom_suite_state.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/sandbox/random_token.h"

namespace wxtoken::sandbox {
namespace {

PermanentCodeAnswer PermanentCodeError(int errcode, std::string errmsg) {
  PermanentCodeAnswer answer;
  answer.errcode = errcode;
  answer.errmsg = std::move(errmsg);
  return answer;
}

std::string CorpKey(absl::string_view suite_id, absl::string_view corpid) {
  return absl::StrCat(suite_id, "/", corpid);
}

constexpr char kInvalidCode[] = "invalid code";
constexpr char kInvalidPermanentCode[] = "invalid permanent_code";

}  // namespace

WeComSuiteState::WeComSuiteState(WeComSuiteOptions options,
                                 std::map<std::string, std::string> suites)
    : options_(options) {
  absl::MutexLock lock(&mu_);
  for (auto& [suite_id, secret] : suites) {
    suites_[suite_id].secret = std::move(secret);
  }
}

std::vector<std::string> WeComSuiteState::SuiteIds() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> ids;
  for (const auto& [suite_id, suite] : suites_) ids.push_back(suite_id);
  return ids;
}

WeComSuiteStats& WeComSuiteState::StatsFor(absl::string_view suite_id) {
  auto it = suites_.find(suite_id);
  if (it != suites_.end()) return it->second.stats;
  unknown_counted_ = true;
  return unknown_stats_;
}

WeComSuiteState::Suite* WeComSuiteState::SuiteOfToken(
    absl::string_view suite_token) {
  const IssuedValues::Issued* issued = issued_.Find(suite_token);
  if (issued == nullptr || issued->kind != ValueKind::kSuiteToken) {
    return nullptr;
  }
  auto it = suites_.find(issued->owner);
  return it == suites_.end() ? nullptr : &it->second;
}

Answer WeComSuiteState::CheckSuiteToken(absl::string_view suite_token,
                                        absl::Time now) const {
  const Validity validity = issued_.Check(suite_token, now);
  if (validity.status == Validity::Status::kUnknown ||
      validity.kind != ValueKind::kSuiteToken) {
    return Answer::Error(40082, "invalid suite_access_token");
  }
  // Replaced past its overlap or past its lifetime: WeCom says expired to
  // both, and a caller renews either way.
  if (!validity.valid()) {
    return Answer::Error(42009, "suite_access_token expired");
  }
  return Answer();
}

std::string WeComSuiteState::NewTicket(absl::string_view suite_id,
                                       absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = suites_.find(suite_id);
  if (it == suites_.end()) return "";
  Suite& suite = it->second;
  ++suite.stats.tickets_issued;
  // The newest replaces the one before at once, or after the grace.
  return issued_.Issue(suite_id, ValueKind::kSuiteTicket,
                       options_.ticket_lifetime, options_.ticket_grace,
                       &suite.ticket_current, now, gen_);
}

void WeComSuiteState::RecordPush(absl::string_view suite_id, SuitePush kind,
                                 bool success) {
  absl::MutexLock lock(&mu_);
  WeComSuiteStats& stats = StatsFor(suite_id);
  if (kind == SuitePush::kTicket) {
    ++stats.ticket_pushes;
    if (success) ++stats.ticket_pushes_success;
  } else {
    ++stats.auth_pushes;
    if (success) ++stats.auth_pushes_success;
  }
}

Answer WeComSuiteState::SuiteToken(absl::string_view suite_id,
                                   absl::string_view suite_secret,
                                   absl::string_view suite_ticket,
                                   absl::Time now) {
  absl::MutexLock lock(&mu_);
  WeComSuiteStats& stats = StatsFor(suite_id);
  ++stats.suite_token_calls;
  auto it = suites_.find(suite_id);
  std::optional<Answer> refused;
  if (it == suites_.end()) {
    refused = Answer::Error(40083, "invalid suite_id");
  } else if (suite_secret.empty() || suite_secret != it->second.secret) {
    refused = Answer::Error(40001, "invalid suite_secret");
  } else {
    const Validity ticket = issued_.Check(suite_ticket, now);
    if (ticket.status == Validity::Status::kUnknown ||
        ticket.kind != ValueKind::kSuiteTicket || ticket.appid != suite_id) {
      refused = Answer::Error(40085, "invalid suite_ticket");
    } else if (ticket.status == Validity::Status::kExpired) {
      refused = Answer::Error(40085,
                              "invalid suite_ticket, hint: [sandbox: expired]");
    } else if (ticket.status == Validity::Status::kRevoked) {
      refused = Answer::Error(
          40085, "invalid suite_ticket, hint: [sandbox: not the newest]");
    }
  }
  if (refused) {
    ++stats.suite_token_failures;
    return *std::move(refused);
  }
  Suite& suite = it->second;
  Answer answer;
  answer.value =
      issued_.Issue(suite_id, ValueKind::kSuiteToken, options_.token_lifetime,
                    options_.overlap, &suite.token_current, now, gen_);
  answer.expires_in = absl::ToInt64Seconds(options_.token_lifetime);
  ++stats.suite_tokens_issued;
  return answer;
}

std::string WeComSuiteState::Install(absl::string_view suite_id,
                                     absl::string_view corpid, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = suites_.find(suite_id);
  if (it == suites_.end() || corpid.empty()) return "";
  Suite& suite = it->second;
  Corp& corp = suite.corps[corpid];
  corp.installed = true;
  ++corp.stats.installs;
  ++suite.stats.installs;
  // Codes nobody exchanged would pile up otherwise.
  absl::erase_if(codes_, [now](const auto& entry) {
    return now >= entry.second.expires_at;
  });
  std::string code;
  do {
    code = RandomToken(gen_);
  } while (codes_.contains(code));
  codes_[code] = Code{std::string(suite_id), std::string(corpid),
                      now + options_.code_lifetime};
  return code;
}

bool WeComSuiteState::Uninstall(absl::string_view suite_id,
                                absl::string_view corpid, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = suites_.find(suite_id);
  if (it == suites_.end()) return false;
  auto entry = it->second.corps.find(corpid);
  if (entry == it->second.corps.end() || !entry->second.installed) {
    return false;
  }
  Corp& corp = entry->second;
  corp.installed = false;
  corp.permanent_code.clear();
  // WeCom ends everything at once: no overlap for an uninstall.
  for (const std::string& token : corp.live_tokens) issued_.Revoke(token, now);
  corp.live_tokens.clear();
  ++corp.stats.uninstalls;
  ++it->second.stats.uninstalls;
  return true;
}

PermanentCodeAnswer WeComSuiteState::PermanentCode(
    absl::string_view suite_token, absl::string_view auth_code,
    absl::Time now) {
  absl::MutexLock lock(&mu_);
  Suite* suite = SuiteOfToken(suite_token);
  ++(suite == nullptr ? StatsFor("") : suite->stats).permanent_code_calls;
  const Answer refused = CheckSuiteToken(suite_token, now);
  if (refused.errcode != 0) {
    return PermanentCodeError(refused.errcode, refused.errmsg);
  }
  const std::string suite_id = issued_.Find(suite_token)->owner;
  auto it = codes_.find(auth_code);
  // Single use: a code is gone once asked about, valid or not; another
  // suite's code is not this suite's to spend.
  if (it == codes_.end() || it->second.suite_id != suite_id) {
    return PermanentCodeError(40029, kInvalidCode);
  }
  const Code found = it->second;
  codes_.erase(it);
  if (now >= found.expires_at) return PermanentCodeError(40029, kInvalidCode);
  Corp& corp = suite->corps[found.corpid];
  if (!corp.installed) return PermanentCodeError(40029, kInvalidCode);

  std::string permanent_code;
  do {
    permanent_code = RandomToken(gen_);
  } while (permanent_code == corp.permanent_code);
  corp.permanent_code = permanent_code;
  issued_permanent_codes_.push_back(permanent_code);
  ++corp.stats.permanent_codes_issued;
  ++suite->stats.permanent_codes_issued;

  const Answer token =
      IssueCorpToken(suite_id, found.corpid, *suite, corp, now);
  PermanentCodeAnswer answer;
  answer.permanent_code = std::move(permanent_code);
  answer.corpid = found.corpid;
  answer.access_token = token.value;
  answer.expires_in = token.expires_in;
  return answer;
}

Answer WeComSuiteState::CorpToken(absl::string_view suite_token,
                                  absl::string_view auth_corpid,
                                  absl::string_view permanent_code,
                                  absl::Time now) {
  absl::MutexLock lock(&mu_);
  Suite* suite = SuiteOfToken(suite_token);
  Corp* corp = nullptr;
  if (suite != nullptr) {
    auto it = suite->corps.find(auth_corpid);
    if (it != suite->corps.end()) corp = &it->second;
  }
  WeComSuiteStats& stats = suite == nullptr ? StatsFor("") : suite->stats;
  ++stats.corp_token_calls;
  if (corp != nullptr) ++corp->stats.corp_token_calls;

  Answer refused = CheckSuiteToken(suite_token, now);
  if (refused.errcode == 0 &&
      (corp == nullptr || !corp->installed || permanent_code.empty() ||
       permanent_code != corp->permanent_code)) {
    refused = Answer::Error(40084, kInvalidPermanentCode);
  }
  if (refused.errcode != 0) {
    ++stats.corp_token_failures;
    if (corp != nullptr) ++corp->stats.corp_token_failures;
    return refused;
  }
  // A copy: issuing may move the record it lives in.
  const std::string suite_id = issued_.Find(suite_token)->owner;
  return IssueCorpToken(suite_id, auth_corpid, *suite, *corp, now);
}

Answer WeComSuiteState::IssueCorpToken(absl::string_view suite_id,
                                       absl::string_view corpid, Suite& suite,
                                       Corp& corp, absl::Time now) {
  Answer answer;
  answer.value =
      issued_.Issue(CorpKey(suite_id, corpid), ValueKind::kSuiteCorpToken,
                    options_.token_lifetime, options_.overlap,
                    &corp.token_current, now, gen_);
  answer.expires_in = absl::ToInt64Seconds(options_.token_lifetime);
  corp.live_tokens.push_back(answer.value);
  // The one before it dies within the overlap; older ones are dead already.
  if (corp.live_tokens.size() > 2) {
    corp.live_tokens.erase(corp.live_tokens.begin());
  }
  ++corp.stats.corp_tokens_issued;
  ++suite.stats.corp_tokens_issued;
  return answer;
}

void WeComSuiteState::CountSuiteTokenCall(absl::string_view suite_id) {
  absl::MutexLock lock(&mu_);
  ++StatsFor(suite_id).suite_token_calls;
}

void WeComSuiteState::CountPermanentCodeCall(absl::string_view suite_token) {
  absl::MutexLock lock(&mu_);
  Suite* suite = SuiteOfToken(suite_token);
  ++(suite == nullptr ? StatsFor("") : suite->stats).permanent_code_calls;
}

void WeComSuiteState::CountCorpTokenCall(absl::string_view suite_token,
                                         absl::string_view auth_corpid) {
  absl::MutexLock lock(&mu_);
  Suite* suite = SuiteOfToken(suite_token);
  ++(suite == nullptr ? StatsFor("") : suite->stats).corp_token_calls;
  if (suite == nullptr) return;
  auto it = suite->corps.find(auth_corpid);
  if (it != suite->corps.end()) ++it->second.stats.corp_token_calls;
}

Validity WeComSuiteState::Check(absl::string_view value, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return issued_.Check(value, now);
}

std::map<std::string, WeComSuiteStats> WeComSuiteState::Stats() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, WeComSuiteStats> result;
  for (const auto& [suite_id, suite] : suites_) result[suite_id] = suite.stats;
  if (unknown_counted_) result[""] = unknown_stats_;
  return result;
}

std::map<std::string, WeComSuiteCorpStats> WeComSuiteState::CorpStats() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, WeComSuiteCorpStats> result;
  for (const auto& [suite_id, suite] : suites_) {
    for (const auto& [corpid, corp] : suite.corps) {
      WeComSuiteCorpStats& stats = result[CorpKey(suite_id, corpid)] =
          corp.stats;
      stats.installed = corp.installed ? 1 : 0;
    }
  }
  return result;
}

std::vector<std::string> WeComSuiteState::IssuedPermanentCodes() const {
  absl::MutexLock lock(&mu_);
  return issued_permanent_codes_;
}

}  // namespace wxtoken::sandbox
