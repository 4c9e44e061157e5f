#ifndef WXTOKEN_TESTS_SANDBOX_WECOM_SUITE_PUSHER_H_
#define WXTOKEN_TESTS_SANDBOX_WECOM_SUITE_PUSHER_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/wechat/message_crypto.h"
#include "tests/sandbox/platform_pusher.h"
#include "tests/sandbox/wecom_suite_state.h"

namespace wxtoken::sandbox {

// The events WeCom pushes a suite's 指令回调URL, as their plaintext XML.
std::string SuiteTicketEventXml(absl::string_view suite_id,
                                absl::string_view ticket, absl::Time created);
std::string CreateAuthEventXml(absl::string_view suite_id,
                               absl::string_view auth_code, absl::Time created);
std::string CancelAuthEventXml(absl::string_view suite_id,
                               absl::string_view corpid, absl::Time created);

// Whether a push was taken as WeCom wants it: HTTP 200 and exactly
// "success".
bool AnsweredSuccess(const PushResult& result);

// Pushes suite events as WeCom does: the XML encrypted with the suite's
// EncodingAESKey (receive id = suite_id; AES-256-CBC as WeChat's safe mode)
// into <xml><ToUserName/><Encrypt/><AgentID/></xml>, ToUserName the
// suite_id and AgentID empty, POSTed with msg_signature, timestamp and
// nonce in the query (no encrypt_type: WeCom always encrypts). The crypto
// is wxtokend's own (server/wechat), as PlatformPusher's. Thread-safe.
//
// A suite's URL is `<push base>/wecom/suite/<suite_id>` (wxtokend's
// push_listen path), unless a URL of its own was set.
class WeComSuitePusher {
 public:
  // A suite's callback Token and EncodingAESKey (from --wecom_suite).
  // INVALID_ARGUMENT when the key is not an EncodingAESKey.
  absl::Status AddSuite(const std::string& suite_id, std::string server_token,
                        const std::string& encoding_aes_key)
      ABSL_LOCKS_EXCLUDED(mu_);
  // http://HOST:PORT[/PREFIX], whose /wecom/suite/<suite_id> every suite's
  // events go to; "" pushes nothing. INVALID_ARGUMENT for another shape.
  absl::Status SetPushBase(const std::string& base_url)
      ABSL_LOCKS_EXCLUDED(mu_);
  // One suite's own URL (http://HOST:PORT/PATH, an edge in front of
  // wxtokend, say); "" goes back to the base. INVALID_ARGUMENT for an
  // unknown suite or a URL of another shape.
  absl::Status SetSuiteUrl(const std::string& suite_id, const std::string& url)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool HasTarget(const std::string& suite_id) const ABSL_LOCKS_EXCLUDED(mu_);
  // Pushes `event_xml` and waits for the answer (5 s at most).
  PushResult Push(const std::string& suite_id, absl::string_view event_xml,
                  absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Suite {
    std::string server_token;
    server::MessageKey key;
    std::string url;  // its own; "" = under the base
  };
  // The URL `suite` is pushed to; "" when none.
  std::string UrlOf(const std::string& suite_id, const Suite& suite) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Suite> suites_ ABSL_GUARDED_BY(mu_);
  std::string base_ ABSL_GUARDED_BY(mu_);  // without a trailing '/'
};

// What WeCom does every 10 minutes: mints the suite's next ticket and, when
// the suite has a target, pushes it and records the answer in `state`.
// `ticket` is empty for an unknown suite; `pushed` false without a target.
struct SuiteTicketPush {
  std::string ticket;
  bool pushed = false;
  PushResult result;
};
SuiteTicketPush PushSuiteTicket(WeComSuiteState& state,
                                WeComSuitePusher& pusher,
                                const std::string& suite_id, absl::Time now);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_WECOM_SUITE_PUSHER_H_
