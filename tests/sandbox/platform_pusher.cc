#include "tests/sandbox/platform_pusher.h"

#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "server/wechat/signature.h"

namespace wxtoken::sandbox {
namespace {

std::string Element(absl::string_view name, absl::string_view text) {
  return absl::StrCat("<", name, "><![CDATA[", text, "]]></", name, ">");
}

std::string Seconds(absl::Time time) {
  return absl::StrCat(absl::ToUnixSeconds(time));
}

}  // namespace

std::string TicketEventXml(absl::string_view component_appid,
                           absl::string_view ticket, absl::Time created) {
  return absl::StrCat("<xml>", Element("AppId", component_appid),
                      "<CreateTime>", Seconds(created), "</CreateTime>",
                      Element("InfoType", "component_verify_ticket"),
                      Element("ComponentVerifyTicket", ticket), "</xml>");
}

std::string AuthorizedEventXml(absl::string_view component_appid,
                               absl::string_view authorizer_appid,
                               absl::string_view code, absl::Time created,
                               absl::Time code_expires, bool update) {
  return absl::StrCat(
      "<xml>", Element("AppId", component_appid), "<CreateTime>",
      Seconds(created), "</CreateTime>",
      Element("InfoType", update ? "updateauthorized" : "authorized"),
      Element("AuthorizerAppid", authorizer_appid),
      Element("AuthorizationCode", code), "<AuthorizationCodeExpiredTime>",
      Seconds(code_expires), "</AuthorizationCodeExpiredTime>",
      Element("PreAuthCode", "preauthcode@@@sandbox"), "</xml>");
}

std::string UnauthorizedEventXml(absl::string_view component_appid,
                                 absl::string_view authorizer_appid,
                                 absl::Time created) {
  return absl::StrCat("<xml>", Element("AppId", component_appid),
                      "<CreateTime>", Seconds(created), "</CreateTime>",
                      Element("InfoType", "unauthorized"),
                      Element("AuthorizerAppid", authorizer_appid), "</xml>");
}

absl::Status PlatformPusher::SetTarget(const std::string& component_appid,
                                       PushTarget target) {
  constexpr absl::string_view kScheme = "http://";
  if (!absl::StartsWith(target.url, kScheme)) {
    return absl::InvalidArgumentError("url: expected http://HOST:PORT/PATH");
  }
  const size_t slash = target.url.find('/', kScheme.size());
  if (slash == std::string::npos) {
    return absl::InvalidArgumentError("url: expected http://HOST:PORT/PATH");
  }
  absl::StatusOr<server::MessageKey> key =
      server::MessageKey::FromEncodingAesKey(target.encoding_aes_key);
  if (!key.ok()) return key.status();
  absl::MutexLock lock(&mu_);
  targets_.insert_or_assign(
      component_appid,
      Target{target.url.substr(0, slash), target.url.substr(slash),
             std::move(target.server_token), *std::move(key)});
  return absl::OkStatus();
}

bool PlatformPusher::HasTarget(const std::string& component_appid) const {
  absl::MutexLock lock(&mu_);
  return targets_.contains(component_appid);
}

PushResult PlatformPusher::Push(const std::string& component_appid,
                                absl::string_view event_xml, absl::Time now) {
  std::optional<Target> target;
  {
    absl::MutexLock lock(&mu_);
    auto it = targets_.find(component_appid);
    if (it != targets_.end()) target = it->second;
  }
  PushResult result;
  if (!target) {
    result.error = "no push target for this platform";
    return result;
  }
  absl::StatusOr<std::string> encrypt =
      server::EncryptMessage(target->key, component_appid, event_xml);
  if (!encrypt.ok()) {
    result.error = std::string(encrypt.status().message());
    return result;
  }
  const std::string timestamp = Seconds(now);
  absl::BitGen gen;
  const std::string nonce = absl::StrCat(absl::Uniform<uint32_t>(gen));
  const std::string signature = server::WeChatSignature(
      {target->server_token, timestamp, nonce, *encrypt});
  const std::string body =
      absl::StrCat("<xml>", Element("AppId", component_appid),
                   Element("Encrypt", *encrypt), "</xml>");
  httplib::Client client(target->host_port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);
  const std::string path = absl::StrCat(
      target->path, absl::StrContains(target->path, '?') ? "&" : "?",
      "timestamp=", timestamp, "&nonce=", nonce,
      "&encrypt_type=aes&msg_signature=", signature);
  httplib::Result answer = client.Post(path, body, "text/xml");
  if (!answer) {
    result.error = httplib::to_string(answer.error());
    return result;
  }
  result.http_status = answer->status;
  result.body = answer->body;
  return result;
}

}  // namespace wxtoken::sandbox
