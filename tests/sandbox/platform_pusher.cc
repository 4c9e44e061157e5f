#include "tests/sandbox/platform_pusher.h"

#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace wxtoken::sandbox {
namespace {

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
  if (!target) {
    PushResult result;
    result.error = "no push target for this platform";
    return result;
  }
  return PostEncrypted({.key = &target->key,
                        .server_token = target->server_token,
                        .receive_id = component_appid,
                        .event_xml = event_xml,
                        .envelope =
                            [&](absl::string_view encrypt) {
                              return absl::StrCat(
                                  "<xml>", Element("AppId", component_appid),
                                  Element("Encrypt", encrypt), "</xml>");
                            },
                        .host_port = target->host_port,
                        .path = target->path,
                        .extra_query = "&encrypt_type=aes"},
                       now);
}

}  // namespace wxtoken::sandbox
