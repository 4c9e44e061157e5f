#include "tests/sandbox/platform_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tests/sandbox/random_token.h"

namespace wxtoken::sandbox {
namespace {

constexpr int64_t kMaxListCount = 500;

Answer Error(int errcode, std::string errmsg) {
  Answer answer;
  answer.errcode = errcode;
  answer.errmsg = std::move(errmsg);
  return answer;
}

AuthorizerAnswer AuthorizerError(int errcode, std::string errmsg) {
  AuthorizerAnswer answer;
  answer.errcode = errcode;
  answer.errmsg = std::move(errmsg);
  return answer;
}

constexpr char kInvalidToken[] =
    "invalid credential, access_token is invalid or not latest";

std::string OwnerKey(absl::string_view component,
                     absl::string_view authorizer) {
  return absl::StrCat(component, "/", authorizer);
}

}  // namespace

PlatformState::PlatformState(PlatformOptions options,
                             std::map<std::string, std::string> platforms)
    : options_(options) {
  for (auto& [appid, secret] : platforms) {
    platforms_[appid].appid = appid;
    platforms_[appid].secret = std::move(secret);
  }
}

std::string PlatformState::NewTicket(absl::string_view component_appid,
                                     absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = platforms_.find(component_appid);
  if (it == platforms_.end()) return "";
  Platform& platform = it->second;
  ++platform.stats.tickets_pushed;
  // Every ticket pushed stays good for its 12 hours: no overlap applies.
  return issued_.Issue(component_appid, ValueKind::kVerifyTicket,
                       options_.ticket_lifetime, std::nullopt, &platform.ticket,
                       now, gen_);
}

Answer PlatformState::StartPushTicket(absl::string_view component_appid,
                                      absl::string_view secret) {
  absl::MutexLock lock(&mu_);
  auto it = platforms_.find(component_appid);
  if (it == platforms_.end()) return Error(40013, "invalid appid");
  ++it->second.stats.start_push_calls;
  if (secret != it->second.secret) return Error(40125, "invalid appsecret");
  return Error(0, "ok");
}

Answer PlatformState::ComponentToken(absl::string_view component_appid,
                                     absl::string_view secret,
                                     absl::string_view ticket, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = platforms_.find(component_appid);
  if (it == platforms_.end()) return Error(40013, "invalid appid");
  Platform& platform = it->second;
  ++platform.stats.component_token_calls;
  if (secret != platform.secret) return Error(40125, "invalid appsecret");
  const Validity validity = issued_.Check(ticket, now);
  if (validity.status == Validity::Status::kUnknown ||
      validity.kind != ValueKind::kVerifyTicket ||
      validity.appid != component_appid) {
    return Error(61006, "component ticket is invalid");
  }
  if (!validity.valid()) return Error(61005, "component ticket is expired");
  Answer answer;
  answer.value = issued_.Issue(component_appid, ValueKind::kComponentToken,
                               options_.token_lifetime, options_.overlap,
                               &platform.component_token, now, gen_);
  answer.expires_in = absl::ToInt64Seconds(options_.token_lifetime);
  return answer;
}

std::string PlatformState::Authorize(absl::string_view component_appid,
                                     absl::string_view authorizer_appid,
                                     absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = platforms_.find(component_appid);
  if (it == platforms_.end()) return "";
  Platform& platform = it->second;
  auto [entry, added] =
      platform.authorizers.try_emplace(std::string(authorizer_appid));
  if (added) platform.order.push_back(std::string(authorizer_appid));
  Authorizer& authorizer = entry->second;
  if (!authorizer.authorized) {
    authorizer.authorized = true;
    authorizer.auth_time = now;
    authorizer.refresh_token = NewRefreshToken();
    authorizer.previous_refresh_token.clear();
  }
  std::string code;
  do {
    code = absl::StrCat("queryauthcode@@@", RandomToken(gen_));
  } while (codes_.contains(code));
  codes_[code] =
      Code{std::string(component_appid), std::string(authorizer_appid),
           now + options_.code_lifetime};
  return code;
}

bool PlatformState::Unauthorize(absl::string_view component_appid,
                                absl::string_view authorizer_appid,
                                absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = platforms_.find(component_appid);
  if (it == platforms_.end()) return false;
  auto entry = it->second.authorizers.find(authorizer_appid);
  if (entry == it->second.authorizers.end() || !entry->second.authorized) {
    return false;
  }
  Authorizer& authorizer = entry->second;
  authorizer.authorized = false;
  // WeChat ends everything at once: no overlap for a revocation.
  for (const std::string& token : authorizer.live_tokens) {
    issued_.Revoke(token, now);
  }
  authorizer.live_tokens.clear();
  authorizer.refresh_token.clear();
  authorizer.previous_refresh_token.clear();
  return true;
}

AuthorizerAnswer PlatformState::QueryAuth(absl::string_view component_token,
                                          absl::string_view code,
                                          absl::Time now) {
  absl::MutexLock lock(&mu_);
  Platform* platform = PlatformOfToken(component_token, now);
  if (platform == nullptr) return AuthorizerError(40001, kInvalidToken);
  ++platform->stats.query_auth_calls;
  auto it = codes_.find(code);
  // Single use: a code is gone once asked about, valid or not.
  if (it == codes_.end() || it->second.component_appid != platform->appid) {
    return AuthorizerError(61009, "code is invalid");
  }
  const Code found = it->second;
  codes_.erase(it);
  if (now >= found.expires_at) return AuthorizerError(61009, "code is invalid");
  Authorizer& authorizer = platform->authorizers[found.authorizer_appid];
  if (!authorizer.authorized) return AuthorizerError(61009, "code is invalid");
  return IssueAuthorizerToken(platform->appid, found.authorizer_appid,
                              authorizer, now);
}

AuthorizerAnswer PlatformState::AuthorizerToken(
    absl::string_view component_token, absl::string_view authorizer_appid,
    absl::string_view refresh_token, absl::Time now) {
  absl::MutexLock lock(&mu_);
  Platform* platform = PlatformOfToken(component_token, now);
  if (platform == nullptr) return AuthorizerError(40001, kInvalidToken);
  ++platform->stats.authorizer_token_calls;
  auto it = platform->authorizers.find(authorizer_appid);
  if (it == platform->authorizers.end() || !it->second.authorized) {
    return AuthorizerError(61003,
                           "component is not authorized by this account");
  }
  Authorizer& authorizer = it->second;
  const bool current =
      !refresh_token.empty() && refresh_token == authorizer.refresh_token;
  const bool previous = !refresh_token.empty() &&
                        refresh_token == authorizer.previous_refresh_token &&
                        now < authorizer.previous_until;
  if (!current && !previous) {
    return AuthorizerError(61023, "refresh_token is invalid");
  }
  if (options_.rotate_refresh_tokens && current) {
    authorizer.previous_refresh_token = authorizer.refresh_token;
    authorizer.previous_until = now + options_.overlap;
    authorizer.refresh_token = NewRefreshToken();
  }
  return IssueAuthorizerToken(platform->appid, authorizer_appid, authorizer,
                              now);
}

AuthorizerAnswer PlatformState::AuthorizerInfo(
    absl::string_view component_token, absl::string_view authorizer_appid,
    absl::Time now) {
  absl::MutexLock lock(&mu_);
  Platform* platform = PlatformOfToken(component_token, now);
  if (platform == nullptr) return AuthorizerError(40001, kInvalidToken);
  ++platform->stats.info_calls;
  auto it = platform->authorizers.find(authorizer_appid);
  if (it == platform->authorizers.end() || !it->second.authorized) {
    return AuthorizerError(61003,
                           "component is not authorized by this account");
  }
  AuthorizerAnswer answer;
  answer.authorizer_appid = std::string(authorizer_appid);
  answer.refresh_token = it->second.refresh_token;
  return answer;
}

AuthorizerListAnswer PlatformState::ListAuthorizers(
    absl::string_view component_token, int64_t offset, int64_t count,
    absl::Time now) {
  absl::MutexLock lock(&mu_);
  AuthorizerListAnswer answer;
  Platform* platform = PlatformOfToken(component_token, now);
  if (platform == nullptr) {
    answer.errcode = 40001;
    answer.errmsg = kInvalidToken;
    return answer;
  }
  ++platform->stats.list_calls;
  if (offset < 0 || count < 1 || count > kMaxListCount) {
    answer.errcode = 40097;
    answer.errmsg = "invalid args";
    return answer;
  }
  int64_t index = 0;
  for (const std::string& appid : platform->order) {
    const Authorizer& authorizer = platform->authorizers.at(appid);
    if (!authorizer.authorized) continue;
    if (index >= offset && index < offset + count) {
      answer.list.push_back({appid, authorizer.refresh_token,
                             absl::ToUnixSeconds(authorizer.auth_time)});
    }
    ++index;
  }
  answer.total_count = index;
  return answer;
}

Validity PlatformState::Check(absl::string_view value, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return issued_.Check(value, now);
}

std::map<std::string, PlatformStats> PlatformState::Stats() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, PlatformStats> stats;
  for (const auto& [appid, platform] : platforms_) {
    stats[appid] = platform.stats;
  }
  return stats;
}

QuotaAnswer PlatformState::Quota(absl::string_view component_token,
                                 absl::string_view cgi_path, absl::Time now) {
  absl::MutexLock lock(&mu_);
  const Platform* platform = PlatformOfToken(component_token, now);
  if (platform == nullptr) return QuotaAnswer::InvalidToken();
  if (cgi_path == "/cgi-bin/component/api_component_token") {
    return QuotaAnswer::Count(2000, platform->stats.component_token_calls);
  }
  if (cgi_path == "/cgi-bin/component/api_authorizer_token") {
    return QuotaAnswer::Count(100000, platform->stats.authorizer_token_calls);
  }
  return QuotaAnswer::UnknownPath();
}

PlatformState::Platform* PlatformState::PlatformOfToken(
    absl::string_view component_token, absl::Time now) {
  const Validity validity = issued_.Check(component_token, now);
  if (!validity.valid() || validity.kind != ValueKind::kComponentToken) {
    return nullptr;
  }
  auto it = platforms_.find(validity.appid);
  return it == platforms_.end() ? nullptr : &it->second;
}

std::string PlatformState::NewRefreshToken() {
  std::string token = absl::StrCat("refreshtoken@@@", RandomToken(gen_));
  issued_refresh_tokens_.push_back(token);
  return token;
}

std::vector<std::string> PlatformState::IssuedRefreshTokens() const {
  absl::MutexLock lock(&mu_);
  return issued_refresh_tokens_;
}

AuthorizerAnswer PlatformState::IssueAuthorizerToken(
    absl::string_view component_appid, absl::string_view authorizer_appid,
    Authorizer& authorizer, absl::Time now) {
  std::string current = authorizer.live_tokens.empty()
                            ? std::string()
                            : authorizer.live_tokens.back();
  AuthorizerAnswer answer;
  answer.authorizer_appid = std::string(authorizer_appid);
  answer.access_token = issued_.Issue(
      OwnerKey(component_appid, authorizer_appid), ValueKind::kAuthorizerToken,
      options_.token_lifetime, options_.overlap, &current, now, gen_);
  authorizer.live_tokens.push_back(answer.access_token);
  // The one before it dies within the overlap; older ones are dead already.
  if (authorizer.live_tokens.size() > 2) {
    authorizer.live_tokens.erase(authorizer.live_tokens.begin());
  }
  answer.expires_in = absl::ToInt64Seconds(options_.token_lifetime);
  answer.refresh_token = authorizer.refresh_token;
  return answer;
}

}  // namespace wxtoken::sandbox
