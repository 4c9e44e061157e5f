#include "tests/sandbox/drop_connection.h"

#include <netdb.h>
#include <sys/socket.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

namespace wxtoken::sandbox {
namespace {

// Formats a socket address the way cpp-httplib fills Request::remote_addr
// and local_addr (getnameinfo, numeric), so the two compare equal.
bool Describe(const sockaddr_storage& addr, socklen_t len, std::string* host,
              int* port) {
  char host_buf[NI_MAXHOST];
  char port_buf[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host_buf,
                  sizeof(host_buf), port_buf, sizeof(port_buf),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return false;
  }
  *host = host_buf;
  return absl::SimpleAtoi(port_buf, port);
}

bool Matches(int fd, absl::string_view local_addr, int local_port,
             absl::string_view remote_addr, int remote_port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  std::string host;
  int port = 0;
  // Not a socket, or not a connected one: getpeername fails.
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      !Describe(addr, len, &host, &port) || host != remote_addr ||
      port != remote_port) {
    return false;
  }
  len = sizeof(addr);
  return getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
         Describe(addr, len, &host, &port) && host == local_addr &&
         port == local_port;
}

}  // namespace

bool ShutdownConnection(absl::string_view local_addr, int local_port,
                        absl::string_view remote_addr, int remote_port) {
  std::error_code error;
  std::filesystem::directory_iterator it("/proc/self/fd", error);
  if (error) return false;
  // Other threads may open and close descriptors meanwhile; that is harmless
  // because only the socket with our exact four addresses is touched, and
  // the calling handler keeps that one open.
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return false;
    int fd = -1;
    if (!absl::SimpleAtoi(it->path().filename().string(), &fd)) continue;
    if (Matches(fd, local_addr, local_port, remote_addr, remote_port)) {
      return shutdown(fd, SHUT_RDWR) == 0;
    }
  }
  return false;
}

}  // namespace wxtoken::sandbox
