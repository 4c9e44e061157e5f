#ifndef WXTOKEN_CLIENT_CLI_STATUS_COMMAND_H_
#define WXTOKEN_CLIENT_CLI_STATUS_COMMAND_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"

namespace wxtoken {

// `wxtoken status` (DESIGN.md "Operations"): every owner's state as a
// table a person reads at a glance, one line per credential kind, or with
// --json the responses themselves.
struct StatusOptions {
  std::string app_id;      // "" = every owner (ListOwners), else one
  std::string key_prefix;  // ListOwners' filter
  std::string state;       // "" = any; "serving", "whitelist_blocked", ...
  bool json = false;
  absl::Duration timeout;  // each RPC's deadline
  absl::Time now;          // what times are shown relative to
  std::function<std::string(const google::protobuf::Message&)> to_json;
};

// Exit status: 0 when every owner shown is serving (or idle), 1 when one is
// not, 2 when an RPC failed, 64 for a state name that does not exist.
int RunStatus(const std::shared_ptr<grpc::Channel>& channel,
              const StatusOptions& options, std::ostream& out,
              std::ostream& err);

}  // namespace wxtoken

#endif  // WXTOKEN_CLIENT_CLI_STATUS_COMMAND_H_
