#ifndef WXTOKEN_TESTS_SANDBOX_ENCRYPTED_PUSH_H_
#define WXTOKEN_TESTS_SANDBOX_ENCRYPTED_PUSH_H_

#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/wechat/message_crypto.h"

namespace wxtoken::sandbox {

// What the receiving server answered a push.
struct PushResult {
  int http_status = 0;  // 0: no answer (the error says why)
  std::string body;
  std::string error;
};

// <name><![CDATA[text]]></name>
std::string Element(absl::string_view name, absl::string_view text);

// One safe-mode push, as WeChat's platforms and WeCom's suites get them:
// `event_xml` encrypted with `key` for `receive_id`, wrapped by `envelope`
// (given the ciphertext), signed with `server_token` and POSTed to
// http://`host_port``path` with msg_signature, timestamp, nonce and
// `extra_query` appended.
struct EncryptedPush {
  const server::MessageKey* key = nullptr;
  absl::string_view server_token;
  absl::string_view receive_id;
  absl::string_view event_xml;
  std::function<std::string(absl::string_view encrypt)> envelope;
  absl::string_view host_port;  // http://HOST:PORT
  absl::string_view path;
  absl::string_view extra_query;  // "&name=value..." or ""
};
PushResult PostEncrypted(const EncryptedPush& push, absl::Time now);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_ENCRYPTED_PUSH_H_
