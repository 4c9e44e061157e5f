#ifndef WXTOKEN_CLIENT_SRC_GRPC_TOKEN_WATCH_H_
#define WXTOKEN_CLIENT_SRC_GRPC_TOKEN_WATCH_H_

#include <grpcpp/client_context.h>

#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/src/token_source.h"
#include "wxtoken/client.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

namespace wxtoken::client_internal {

// One entry's WatchToken stream, read on its own thread: each message goes
// to on_token as it arrives; when the stream ends, on_end hears why and,
// unless the end is final (IsWatchFinal), the thread connects again after a
// jittered backoff (from 200 ms, doubling to 10 s, back to the start once a
// message arrived), so the callers of a restarted controller do not all return
// at once. Thread-safe.
class GrpcTokenWatch final : public TokenWatch {
 public:
  // `stub` must outlive the watch.
  GrpcTokenWatch(wxtoken::v1::TokenController::Stub& stub, std::string app_id,
                 TokenKind kind, WatchHandlers handlers);
  ~GrpcTokenWatch() override;

  void Restart() override;

 private:
  void Run();
  // Waits `backoff`, or less when the watch is being destroyed; returns
  // whether to go on.
  bool Pause(absl::Duration backoff);

  // Constant after construction.
  wxtoken::v1::TokenController::Stub& stub_;
  const std::string app_id_;
  const TokenKind kind_;
  const WatchHandlers handlers_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The stream open now, to cancel; null between streams.
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;  // last: started once everything else is set
};

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_GRPC_TOKEN_WATCH_H_
