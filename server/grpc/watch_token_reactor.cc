#include "server/grpc/watch_token_reactor.h"

#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/grpc/token_proto.h"
#include "server/token/watch_cursor.h"

namespace wxtoken::server {

class WatchTokenReactor::Stream final : public TokenWatcher {
 public:
  Stream(WatchTokenReactor* reactor, TokenWatchHub& hub,
         const TokenTable& table, const Clock& clock, std::string app_id,
         TokenKind kind, uint64_t known_generation, Authorization authorized)
      : reactor_(reactor),
        hub_(hub),
        table_(table),
        clock_(clock),
        app_id_(std::move(app_id)),
        kind_(kind),
        started_(clock.SteadyNow()),
        authorized_(std::move(authorized)),
        cursor_(known_generation) {}

  // The hub's id for this stream. After OnDone the stream is unwatched at
  // once; OnDone unwatches it otherwise.
  void SetId(uint64_t id) {
    {
      absl::MutexLock lock(&mu_);
      if (!done_) {
        id_ = id;
        return;
      }
    }
    hub_.Unwatch(id);
  }

  void Notify(bool resend) override {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    notified_ = true;
    resend_ |= resend;
    if (!writing_) Advance();
  }

  void End(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    end_ = status;
    if (!writing_) Advance();
  }

  void Reauthorize() override {
    absl::MutexLock lock(&mu_);
    // Until OnDone the RPC, and what `authorized_` reads of it, lives.
    if (finished_ || end_) return;
    if (absl::Status allowed = authorized_(); !allowed.ok()) {
      end_ = allowed;
      if (!writing_) Advance();
    }
  }

  void OnWriteDone(bool ok) {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    // A failed write is a stream that is gone; gRPC still wants a Finish.
    if (!ok && !end_) end_ = absl::CancelledError("the write failed");
    Advance();
  }

  // gRPC is done: nothing may touch the reactor any more.
  void OnDone() {
    uint64_t id;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      finished_ = true;
      id = id_;
    }
    if (id != 0) hub_.Unwatch(id);
  }

 private:
  // With no write in flight: ends the stream, or writes what the cursor
  // says. The reactor's calls are made under the lock; gRPC runs their
  // reactions on its own threads, never inline.
  void Advance() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (end_) {
      finished_ = true;
      reactor_->Finish(ToGrpcStatus(*end_));
      return;
    }
    if (!notified_) return;
    const bool resend = resend_;
    notified_ = false;
    resend_ = false;
    const SteadyTime now = clock_.SteadyNow();
    absl::StatusOr<Token> current = table_.Get(app_id_, kind_, now);
    switch (cursor_.Next(current, resend)) {
      case WatchCursor::Action::kNothing:
        return;
      case WatchCursor::Action::kEnd:
        finished_ = true;
        reactor_->Finish(ToGrpcStatus(current.status()));
        return;
      case WatchCursor::Action::kSend:
        FillToken(*std::move(current), response_.mutable_token());
        // The caller counts max_cache from no later than its request's
        // send time + this, whatever buffers held the message.
        *response_.mutable_stream_age() = ToProtoDuration(now - started_);
        writing_ = true;
        reactor_->StartWrite(&response_);
        return;
    }
  }

  WatchTokenReactor* const reactor_;
  TokenWatchHub& hub_;
  const TokenTable& table_;
  const Clock& clock_;
  const std::string app_id_;
  const TokenKind kind_;
  const SteadyTime started_;
  const Authorization authorized_;

  absl::Mutex mu_;
  WatchCursor cursor_ ABSL_GUARDED_BY(mu_);
  wxtoken::v1::WatchTokenResponse response_ ABSL_GUARDED_BY(mu_);
  uint64_t id_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;   // a write is in flight
  bool notified_ ABSL_GUARDED_BY(mu_) = false;  // Notify() not yet answered
  bool resend_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);  // once writing_ ends
  bool finished_ ABSL_GUARDED_BY(mu_) = false;            // Finish() was called
  bool done_ ABSL_GUARDED_BY(mu_) = false;                // OnDone() ran
};

WatchTokenReactor* WatchTokenReactor::Refuse(const absl::Status& status) {
  auto* reactor = new WatchTokenReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

WatchTokenReactor* WatchTokenReactor::Start(TokenWatchHub& hub,
                                            const TokenTable& table,
                                            const Clock& clock,
                                            std::string app_id, TokenKind kind,
                                            uint64_t known_generation,
                                            Authorization authorized) {
  auto* reactor = new WatchTokenReactor();
  auto stream =
      std::make_shared<Stream>(reactor, hub, table, clock, app_id, kind,
                               known_generation, std::move(authorized));
  reactor->stream_ = stream;
  absl::StatusOr<uint64_t> id = hub.Watch(app_id, kind, stream);
  if (id.ok()) {
    stream->SetId(*id);
  } else {
    stream->End(id.status());
  }
  return reactor;
}

void WatchTokenReactor::OnWriteDone(bool ok) { stream_->OnWriteDone(ok); }

void WatchTokenReactor::OnCancel() {
  if (stream_ != nullptr) {
    stream_->End(absl::CancelledError("the caller went away"));
  }
}

void WatchTokenReactor::OnDone() {
  if (stream_ != nullptr) stream_->OnDone();
  delete this;
}

}  // namespace wxtoken::server
