#ifndef WXTOKEN_TESTS_SANDBOX_PLATFORM_PUSHER_H_
#define WXTOKEN_TESTS_SANDBOX_PLATFORM_PUSHER_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/wechat/message_crypto.h"
#include "tests/sandbox/encrypted_push.h"

namespace wxtoken::sandbox {

// Where WeChat pushes a platform's events (its 授权事件接收URL) and the
// credentials it signs and encrypts them with.
struct PushTarget {
  std::string url;  // http://HOST:PORT/PATH
  std::string server_token;
  std::string encoding_aes_key;
};

// The events WeChat pushes, as their plaintext XML.
std::string TicketEventXml(absl::string_view component_appid,
                           absl::string_view ticket, absl::Time created);
std::string AuthorizedEventXml(absl::string_view component_appid,
                               absl::string_view authorizer_appid,
                               absl::string_view code, absl::Time created,
                               absl::Time code_expires, bool update);
std::string UnauthorizedEventXml(absl::string_view component_appid,
                                 absl::string_view authorizer_appid,
                                 absl::Time created);

// Pushes events as WeChat does (WECHAT.md "Message encryption"): the XML
// encrypted with the platform's EncodingAESKey (receive id =
// component_appid) into <xml><AppId/><Encrypt/></xml>, POSTed with
// timestamp, nonce, encrypt_type=aes and msg_signature in the query. The
// crypto is wxtokend's own (server/wechat), whose vectors are checked
// against WeChat's and npm's independently. Thread-safe.
class PlatformPusher {
 public:
  // INVALID_ARGUMENT when the URL is not http://HOST:PORT/PATH or the key
  // is not an EncodingAESKey.
  absl::Status SetTarget(const std::string& component_appid, PushTarget target)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool HasTarget(const std::string& component_appid) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Pushes `event_xml` and waits for the answer (5 s at most).
  PushResult Push(const std::string& component_appid,
                  absl::string_view event_xml, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Target {
    std::string host_port;  // http://HOST:PORT
    std::string path;
    std::string server_token;
    server::MessageKey key;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Target> targets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_PLATFORM_PUSHER_H_
