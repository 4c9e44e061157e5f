#ifndef WXTOKEN_TESTS_CLIENT_FAKE_TOKEN_CONTROLLER_H_
#define WXTOKEN_TESTS_CLIENT_FAKE_TOKEN_CONTROLLER_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

namespace wxtoken::testing {

// What one RPC to the fake looked like.
struct FakeCall {
  std::string method;  // "GetToken", "ForceRefresh" or "WatchToken"
  std::string app_id;
  wxtoken::v1::TokenKind kind = wxtoken::v1::TOKEN_KIND_UNSPECIFIED;
  std::string stale_value;  // ForceRefresh
  int errcode = 0;          // ForceRefresh
  // The time left until the call's deadline when it arrived; InfiniteDuration
  // when it had none.
  absl::Duration deadline_left;
};

// An in-process wxtoken.v1.TokenController on 127.0.0.1, on a port gRPC
// picks, whose answers the test chooses: a current token, a queue of values
// ForceRefresh rotates to, an error for every call, or holding calls
// unanswered until Release(). It counts and records every call.
// Thread-safe; the callback handlers never block.
class FakeTokenController final
    : public wxtoken::v1::TokenController::CallbackService {
 public:
  FakeTokenController();
  // Releases held calls and stops the server.
  ~FakeTokenController() override;

  // Starts listening, on `port` when not 0 (a restart on the old port).
  void Start(int port = 0);
  // Answers held calls, then stops listening: clients see a refused
  // connection.
  void Stop();
  int port() const { return port_; }
  std::string address() const;

  // The token GetToken answers from now on.
  void SetToken(const wxtoken::v1::Token& token);
  // Each ForceRefresh takes the next of these as the current token (when
  // none is left it answers the current one).
  void QueueRefreshToken(const wxtoken::v1::Token& token);
  // Every call answers `code` until ClearError(), as a proxy or a broken
  // network would: without wxtokend's error mark, so the client takes the
  // controller as unreachable.
  void SetError(grpc::StatusCode code);
  // The same, as wxtokend itself answers errors: with its mark.
  void SetControllerError(grpc::StatusCode code);
  void ClearError();
  // Calls are held unanswered until Release(), which answers them with the
  // state at that moment and stops holding.
  void Hold();
  void Release();
  // Runs on every call, before it is answered or held (e.g. moving a fake
  // clock to model a slow answer). Must not call back into the fake.
  void SetOnCall(std::function<void()> on_call);

  int Calls(const std::string& method) const;
  std::vector<FakeCall> AllCalls() const;
  // Waits until `count` calls of `method` arrived or `timeout` passed.
  bool AwaitCalls(const std::string& method, int count,
                  absl::Duration timeout) const;

  // WatchToken: UNIMPLEMENTED (an older wxtokend) until EnableWatch().
  // Streams then get the current token at once and each Push()ed one.
  void EnableWatch();
  // Makes `token` current and sends it on every open stream, with the
  // stream_age of the clock SetClock() gave (absl::Now by default), or
  // `stream_age` when given (a message that waited in buffers).
  void Push(const wxtoken::v1::Token& token,
            std::optional<absl::Duration> stream_age = std::nullopt);
  void SetClock(std::function<absl::Time()> now);
  // Ends every open stream with `code`, marked as wxtokend's own error when
  // `marked` (as its max-age and shutdown ends are).
  void EndWatches(grpc::StatusCode code, bool marked);
  // Waits until `count` streams are open or `timeout` passed.
  bool AwaitWatchers(int count, absl::Duration timeout) const;

  grpc::ServerUnaryReactor* GetToken(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::GetTokenRequest* request,
      wxtoken::v1::GetTokenResponse* response) override;
  grpc::ServerWriteReactor<wxtoken::v1::WatchTokenResponse>* WatchToken(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::WatchTokenRequest* request) override;
  grpc::ServerUnaryReactor* ForceRefresh(
      grpc::CallbackServerContext* context,
      const wxtoken::v1::ForceRefreshRequest* request,
      wxtoken::v1::ForceRefreshResponse* response) override;

 private:
  class WatchStream;

  // Records the call, then answers it through `answer` now or on Release().
  grpc::ServerUnaryReactor* Handle(grpc::CallbackServerContext* context,
                                   FakeCall call,
                                   std::function<grpc::Status()> answer);
  grpc::Status AnswerGetToken(wxtoken::v1::GetTokenResponse* response);
  grpc::Status AnswerForceRefresh(wxtoken::v1::ForceRefreshResponse* response);
  void ReleaseAll();
  void RemoveStream(WatchStream* stream);

  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  mutable absl::Mutex mu_;
  wxtoken::v1::Token token_ ABSL_GUARDED_BY(mu_);
  std::deque<wxtoken::v1::Token> refresh_tokens_ ABSL_GUARDED_BY(mu_);
  grpc::StatusCode error_ ABSL_GUARDED_BY(mu_) = grpc::StatusCode::OK;
  bool error_marked_ ABSL_GUARDED_BY(mu_) = false;
  bool holding_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> held_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_call_ ABSL_GUARDED_BY(mu_);
  std::vector<FakeCall> calls_ ABSL_GUARDED_BY(mu_);
  bool watch_enabled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<absl::Time()> now_ ABSL_GUARDED_BY(mu_) = [] {
    return absl::Now();
  };
  std::set<WatchStream*> streams_ ABSL_GUARDED_BY(mu_);
};

// A wxtoken.v1.Token of the fake's clock. `stale_if_error` defaults to the
// time left until expires_at as of fetched_at.
wxtoken::v1::Token MakeToken(
    const std::string& value, absl::Time expires_at, absl::Duration max_cache,
    uint64_t generation, absl::Time fetched_at,
    std::optional<absl::Duration> stale_if_error = std::nullopt);

}  // namespace wxtoken::testing

#endif  // WXTOKEN_TESTS_CLIENT_FAKE_TOKEN_CONTROLLER_H_
