#ifndef WXTOKEN_TESTS_SANDBOX_DROP_CONNECTION_H_
#define WXTOKEN_TESTS_SANDBOX_DROP_CONNECTION_H_

#include "absl/strings/string_view.h"

namespace wxtoken::sandbox {

// Shuts down (both directions) this process's TCP socket whose local and
// remote ends are the given numeric addresses and ports, so the peer sees
// the connection closed before any byte of an answer ("Empty reply from
// server"). cpp-httplib offers no way to abort a connection from a handler,
// so the socket is found by its addresses among the open descriptors; the
// descriptor itself stays open for httplib to close. Linux only (uses
// /proc/self/fd). False when no such socket was found.
bool ShutdownConnection(absl::string_view local_addr, int local_port,
                        absl::string_view remote_addr, int remote_port);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_DROP_CONNECTION_H_
