#ifndef WXTOKEN_SERVER_GRPC_WATCH_TOKEN_REACTOR_H_
#define WXTOKEN_SERVER_GRPC_WATCH_TOKEN_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "server/base/clock.h"
#include "server/token/token.h"
#include "server/token/token_table.h"
#include "server/token/token_watch_hub.h"
#include "wxtoken/v1/token_controller.pb.h"

namespace wxtoken::server {

// One WatchToken RPC: a server stream the TokenWatchHub notifies. At most
// one write is in flight; a notification that arrives meanwhile is kept
// and answered with the table's newest value once the write is done, so a
// slow caller gets the latest Token, never a backlog. Deletes itself when
// gRPC is done with it.
class WatchTokenReactor final
    : public grpc::ServerWriteReactor<wxtoken::v1::WatchTokenResponse> {
 public:
  // Finishes at once with `status` (a request refused before it started).
  static WatchTokenReactor* Refuse(const absl::Status& status);

  // Whether the stream's caller may still watch it: OK, or the status the
  // stream ends with. Called under the stream's lock while the RPC lives.
  using Authorization = std::function<absl::Status()>;

  // Registers the stream with `hub`, which sends its first message (or
  // ends it). Everything must outlive the RPC. `authorized` is asked again
  // each time the hub reauthorizes its streams.
  static WatchTokenReactor* Start(TokenWatchHub& hub, const TokenTable& table,
                                  const Clock& clock, std::string app_id,
                                  TokenKind kind, uint64_t known_generation,
                                  Authorization authorized);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  class Stream;
  WatchTokenReactor() = default;

  // What the hub notifies; outlives the reactor while a notification is
  // under way. Null for a refused request.
  std::shared_ptr<Stream> stream_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_WATCH_TOKEN_REACTOR_H_
