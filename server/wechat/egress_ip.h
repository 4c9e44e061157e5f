#ifndef WXTOKEN_SERVER_WECHAT_EGRESS_IP_H_
#define WXTOKEN_SERVER_WECHAT_EGRESS_IP_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace wxtoken::server {

// The IP WeChat saw this server call from, as its whitelist errors name it
// (WECHAT.md): 40164 "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in
// whitelist", 61004 "... requestIP: 1.2.3.4 rid: ...", WeCom's 60020
// "... from ip: 1.2.3.4, ...". Only a well-formed IPv4 or IPv6 address is
// returned (it goes into logs and a metric label); nullopt otherwise.
std::optional<std::string> EgressIp(int errcode, absl::string_view errmsg);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_EGRESS_IP_H_
