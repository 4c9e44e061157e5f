#include "server/wechat/egress_ip.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"

namespace wxtoken::server {
namespace {

bool IsAddress(const std::string& text) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

// The address right after `marker`, up to a space, ',' or ']'.
std::optional<std::string> After(absl::string_view errmsg,
                                 absl::string_view marker) {
  const size_t at = errmsg.find(marker);
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = errmsg.substr(at + marker.size());
  const size_t end = rest.find_first_of(" ,]\t");
  std::string ip(rest.substr(0, end));
  if (ip.empty() || ip.size() > INET6_ADDRSTRLEN || !IsAddress(ip)) {
    return std::nullopt;
  }
  return ip;
}

}  // namespace

std::optional<std::string> EgressIp(int errcode, absl::string_view errmsg) {
  switch (errcode) {
    case 40164:
      return After(errmsg, "invalid ip ");
    case 61004:
      return After(errmsg, "requestIP: ");
    case 60020:
      return After(errmsg, "from ip: ");
    default:
      return std::nullopt;
  }
}

}  // namespace wxtoken::server
