#ifndef WXTOKEN_TESTS_SANDBOX_WECOM_PROVIDER_STATE_H_
#define WXTOKEN_TESTS_SANDBOX_WECOM_PROVIDER_STATE_H_

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

namespace wxtoken::sandbox {

// How the emulated WeCom issues provider tokens. Defaults are WeCom's.
struct WeComProviderOptions {
  absl::Duration lifetime = absl::Seconds(7200);
  absl::Duration overlap = absl::Seconds(300);  // a replaced token's grace
};

// Counters of one provider (by its corpid), or of "" for calls naming no
// configured provider.
struct WeComProviderStats {
  int64_t provider_token_calls = 0;     // failed ones and faulted ones included
  int64_t provider_token_failures = 0;  // ... of which answered an errcode
  int64_t tokens_issued = 0;
};

// The emulated WeCom service providers (服务商): each a corpid with its
// provider_secret, trading them for provider_access_token through
// get_provider_token (WECHAT.md "WeCom (企业微信) APIs"). Pure logic; every
// call takes the current time. Thread-safe.
//
// As WeCom app tokens (WeComState): each success issues a new token; the
// one it replaces stays valid until min(its expiry, now + overlap).
// Refusals: 41002 no corpid, 41004 no provider_secret, 40013 a corpid that
// is no provider, 40001 a wrong secret.
class WeComProviderState {
 public:
  // `providers` maps corpid to provider_secret.
  WeComProviderState(WeComProviderOptions options,
                     std::map<std::string, std::string> providers);

  WeComProviderState(const WeComProviderState&) = delete;
  WeComProviderState& operator=(const WeComProviderState&) = delete;

  // POST /cgi-bin/service/get_provider_token.
  Answer ProviderToken(absl::string_view corpid,
                       absl::string_view provider_secret, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Counts a call answered by an injected fault instead.
  void CountProviderTokenCall(absl::string_view corpid)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Whether `value` is a provider token accepted at `now`.
  Validity Check(absl::string_view value, absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Counters of every configured provider, plus "" once anything counted
  // there.
  std::map<std::string, WeComProviderStats> Stats() const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Provider {
    std::string secret;
    std::string token_current;
    WeComProviderStats stats;
  };

  WeComProviderStats& StatsFor(absl::string_view corpid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WeComProviderOptions options_;
  mutable absl::Mutex mu_;
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Provider> providers_ ABSL_GUARDED_BY(mu_);
  WeComProviderStats unknown_stats_ ABSL_GUARDED_BY(mu_);
  bool unknown_counted_ ABSL_GUARDED_BY(mu_) = false;
  IssuedValues issued_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_WECOM_PROVIDER_STATE_H_
