#ifndef WXTOKEN_SERVER_WECHAT_CURL_UPSTREAM_H_
#define WXTOKEN_SERVER_WECHAT_CURL_UPSTREAM_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server {

// UpstreamClient over libcurl's multi interface: every started fetch runs
// concurrently on the thread that calls Poll(), and nothing blocks longer
// than Poll()'s max_wait (DNS runs on curl's resolver threads).
//
// Each attempt has its own total timeout (connect included), so one Start()
// takes at most base_urls.size() * timeout. A transient failure (curl error,
// HTTP error, unreadable body, errcode -1 / 45011 / unknown) moves on to the
// next base URL; a clean permanent, quota or token-rejected answer does not.
// The callback gets the last attempt's result, with maybe_issued set if any
// attempt may have been issued, and a detail naming the bases by index and
// host (never a URL query: the classic API's query carries the secret).
// Redirects are not followed, response bodies past kMaxResponseBytes are
// refused, and TLS peers are verified.
//
// Thread-safety: as UpstreamClient: one thread drives Start()/Poll()/
// InFlight(); Wakeup() may be called from any thread while the client lives.
// Callbacks run inside Poll() and may call Start(), but must not destroy the
// client. Destroying the client abandons in-flight fetches WITHOUT running
// their callbacks.
class CurlUpstreamClient final : public UpstreamClient {
 public:
  static constexpr size_t kMaxResponseBytes = 64 * 1024;

  // `base_urls` like "https://api.weixin.qq.com", tried in order; a trailing
  // '/' is ignored. `timeout` bounds each attempt.
  CurlUpstreamClient(std::vector<std::string> base_urls,
                     absl::Duration timeout);
  ~CurlUpstreamClient() override;

  CurlUpstreamClient(const CurlUpstreamClient&) = delete;
  CurlUpstreamClient& operator=(const CurlUpstreamClient&) = delete;

  void Start(FetchRequest request, Callback done) override;
  void Poll(absl::Duration max_wait) override;
  void Wakeup() override;
  int InFlight() const override;

 private:
  // Holds the curl state, so that only curl_upstream.cc includes curl.
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_CURL_UPSTREAM_H_
