#ifndef WXTOKEN_SERVER_WECHAT_CURL_UPSTREAM_H_
#define WXTOKEN_SERVER_WECHAT_CURL_UPSTREAM_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server {

// UpstreamClient over libcurl's multi interface: every started request runs
// concurrently on the thread that calls Poll(), and nothing blocks longer
// than Poll()'s max_wait (DNS runs on curl's resolver threads). Connections
// stay open in the multi handle's pool and are reused by later requests to
// the same base URL.
//
// Each request goes to base_urls[request.base_index] and has its own total
// timeout (connect included). The result's detail names the base by index
// and host (never a URL query: the classic API's query carries the secret).
// Redirects are not followed, response bodies past kMaxResponseBytes are
// refused, and TLS peers are verified.
//
// Thread-safety: as UpstreamClient: one thread drives Start()/Poll()/
// InFlight(); Wakeup() may be called from any thread while the client lives.
// Callbacks run inside Poll() and may call Start(), but must not destroy the
// client. Destroying the client abandons in-flight requests WITHOUT running
// their callbacks.
class CurlUpstreamClient final : public UpstreamClient {
 public:
  // An authorizer list page of 500 is the largest answer.
  static constexpr size_t kMaxResponseBytes = 512 * 1024;

  // `base_urls` like "https://api.weixin.qq.com" (at least one), and
  // `wecom_base_urls` like "https://qyapi.weixin.qq.com" for WeCom's APIs;
  // a trailing '/' is ignored. `timeout` bounds each request. Up to
  // `max_connections` idle connections are kept for reuse.
  CurlUpstreamClient(std::vector<std::string> base_urls, absl::Duration timeout,
                     int max_connections = 8,
                     std::vector<std::string> wecom_base_urls = {});
  ~CurlUpstreamClient() override;

  CurlUpstreamClient(const CurlUpstreamClient&) = delete;
  CurlUpstreamClient& operator=(const CurlUpstreamClient&) = delete;

  void Start(FetchRequest request, Callback done) override;
  size_t BaseCount(FetchApi api) const override;
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
