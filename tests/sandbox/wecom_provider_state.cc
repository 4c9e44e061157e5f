#include "tests/sandbox/wecom_provider_state.h"

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wxtoken::sandbox {

WeComProviderState::WeComProviderState(
    WeComProviderOptions options, std::map<std::string, std::string> providers)
    : options_(options) {
  absl::MutexLock lock(&mu_);
  for (auto& [corpid, secret] : providers) {
    providers_[corpid].secret = std::move(secret);
  }
}

WeComProviderStats& WeComProviderState::StatsFor(absl::string_view corpid) {
  auto it = providers_.find(corpid);
  if (it != providers_.end()) return it->second.stats;
  unknown_counted_ = true;
  return unknown_stats_;
}

Answer WeComProviderState::ProviderToken(absl::string_view corpid,
                                         absl::string_view provider_secret,
                                         absl::Time now) {
  absl::MutexLock lock(&mu_);
  WeComProviderStats& stats = StatsFor(corpid);
  ++stats.provider_token_calls;
  std::optional<Answer> refused;
  auto it = providers_.find(corpid);
  if (corpid.empty()) {
    refused = Answer::Error(41002, "corpid missing");
  } else if (provider_secret.empty()) {
    refused = Answer::Error(41004, "provider_secret missing");
  } else if (it == providers_.end()) {
    refused = Answer::Error(40013, "invalid corpid");
  } else if (provider_secret != it->second.secret) {
    refused = Answer::Error(40001, "invalid provider_secret");
  }
  if (refused) {
    ++stats.provider_token_failures;
    return *std::move(refused);
  }
  Provider& provider = it->second;
  Answer answer;
  answer.value =
      issued_.Issue(corpid, ValueKind::kProviderToken, options_.lifetime,
                    options_.overlap, &provider.token_current, now, gen_);
  answer.expires_in = absl::ToInt64Seconds(options_.lifetime);
  ++stats.tokens_issued;
  return answer;
}

void WeComProviderState::CountProviderTokenCall(absl::string_view corpid) {
  absl::MutexLock lock(&mu_);
  ++StatsFor(corpid).provider_token_calls;
}

Validity WeComProviderState::Check(absl::string_view value,
                                   absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return issued_.Check(value, now);
}

std::map<std::string, WeComProviderStats> WeComProviderState::Stats() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, WeComProviderStats> result;
  for (const auto& [corpid, provider] : providers_) {
    result[corpid] = provider.stats;
  }
  if (unknown_counted_) result[""] = unknown_stats_;
  return result;
}

}  // namespace wxtoken::sandbox
