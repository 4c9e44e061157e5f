#include "tests/sandbox/encrypted_push.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "server/wechat/signature.h"

namespace wxtoken::sandbox {

std::string Element(absl::string_view name, absl::string_view text) {
  return absl::StrCat("<", name, "><![CDATA[", text, "]]></", name, ">");
}

PushResult PostEncrypted(const EncryptedPush& push, absl::Time now) {
  PushResult result;
  absl::StatusOr<std::string> encrypt =
      server::EncryptMessage(*push.key, push.receive_id, push.event_xml);
  if (!encrypt.ok()) {
    result.error = std::string(encrypt.status().message());
    return result;
  }
  const std::string timestamp = absl::StrCat(absl::ToUnixSeconds(now));
  absl::BitGen gen;
  const std::string nonce = absl::StrCat(absl::Uniform<uint32_t>(gen));
  const std::string signature =
      server::WeChatSignature({push.server_token, timestamp, nonce, *encrypt});
  httplib::Client client(std::string(push.host_port));
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);
  const std::string target =
      absl::StrCat(push.path, absl::StrContains(push.path, '?') ? "&" : "?",
                   "msg_signature=", signature, "&timestamp=", timestamp,
                   "&nonce=", nonce, push.extra_query);
  httplib::Result answer =
      client.Post(target, push.envelope(*encrypt), "text/xml");
  if (!answer) {
    result.error = httplib::to_string(answer.error());
    return result;
  }
  result.http_status = answer->status;
  result.body = answer->body;
  return result;
}

}  // namespace wxtoken::sandbox
