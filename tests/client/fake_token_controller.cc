#include "tests/client/fake_token_controller.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace wxtoken::testing {

using ::google::protobuf::util::TimeUtil;

wxtoken::v1::Token MakeToken(const std::string& value, absl::Time expires_at,
                             absl::Duration max_cache, uint64_t generation,
                             absl::Time fetched_at,
                             std::optional<absl::Duration> stale_if_error) {
  wxtoken::v1::Token token;
  token.set_value(value);
  *token.mutable_expires_at() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(expires_at));
  *token.mutable_max_cache() =
      TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(max_cache));
  *token.mutable_stale_if_error() =
      TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(
          stale_if_error.value_or(expires_at - fetched_at)));
  token.set_generation(generation);
  *token.mutable_fetched_at() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(fetched_at));
  return token;
}

// One WatchToken stream of the fake: messages are written one at a time,
// in order; End() finishes it once they are written.
class FakeTokenController::WatchStream final
    : public grpc::ServerWriteReactor<wxtoken::v1::WatchTokenResponse> {
 public:
  WatchStream(FakeTokenController& fake, grpc::CallbackServerContext* context,
              absl::Time started)
      : fake_(fake), context_(context), started_(started) {}

  // `made`: when the fake made the message, on its clock.
  void Send(const wxtoken::v1::Token& token, absl::Time made,
            std::optional<absl::Duration> stream_age) {
    absl::MutexLock lock(&mu_);
    wxtoken::v1::WatchTokenResponse response;
    *response.mutable_token() = token;
    *response.mutable_stream_age() = TimeUtil::NanosecondsToDuration(
        absl::ToInt64Nanoseconds(stream_age.value_or(made - started_)));
    queue_.push_back(std::move(response));
    Advance();
  }
  void End(grpc::StatusCode code, bool marked) {
    absl::MutexLock lock(&mu_);
    if (marked)
      context_->AddTrailingMetadata("wxtoken-error-origin", "wxtokend");
    end_ = grpc::Status(code, "fake controller ended the stream");
    Advance();
  }
  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    queue_.pop_front();
    if (!ok) end_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
    Advance();
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (!end_) end_ = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    // The message being written stays until OnWriteDone.
    queue_.erase(writing_ ? queue_.begin() + 1 : queue_.begin(), queue_.end());
    Advance();
  }
  void OnDone() override {
    fake_.RemoveStream(this);
    delete this;
  }

 private:
  void Advance() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (!queue_.empty()) {
      writing_ = true;
      StartWrite(&queue_.front());
      return;
    }
    if (end_) {
      finished_ = true;
      Finish(*end_);
    }
  }

  FakeTokenController& fake_;
  grpc::CallbackServerContext* const context_;
  const absl::Time started_;
  absl::Mutex mu_;
  std::deque<wxtoken::v1::WatchTokenResponse> queue_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

FakeTokenController::FakeTokenController() = default;

FakeTokenController::~FakeTokenController() { Stop(); }

void FakeTokenController::Start(int port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                           grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
  ASSERT_NE(server_, nullptr);
  ASSERT_NE(port_, 0) << "could not listen on 127.0.0.1:" << port;
}

void FakeTokenController::Stop() {
  if (server_ == nullptr) return;
  ReleaseAll();
  // Bounded: a call arriving after ReleaseAll is cancelled, not awaited.
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  server_.reset();
}

std::string FakeTokenController::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void FakeTokenController::SetToken(const wxtoken::v1::Token& token) {
  absl::MutexLock lock(&mu_);
  token_ = token;
}

void FakeTokenController::QueueRefreshToken(const wxtoken::v1::Token& token) {
  absl::MutexLock lock(&mu_);
  refresh_tokens_.push_back(token);
}

void FakeTokenController::SetError(grpc::StatusCode code) {
  absl::MutexLock lock(&mu_);
  error_ = code;
  error_marked_ = false;
}

void FakeTokenController::SetControllerError(grpc::StatusCode code) {
  absl::MutexLock lock(&mu_);
  error_ = code;
  error_marked_ = true;
}

void FakeTokenController::ClearError() { SetError(grpc::StatusCode::OK); }

void FakeTokenController::Hold() {
  absl::MutexLock lock(&mu_);
  holding_ = true;
}

void FakeTokenController::Release() { ReleaseAll(); }

void FakeTokenController::SetOnCall(std::function<void()> on_call) {
  absl::MutexLock lock(&mu_);
  on_call_ = std::move(on_call);
}

int FakeTokenController::Calls(const std::string& method) const {
  absl::MutexLock lock(&mu_);
  int count = 0;
  for (const FakeCall& call : calls_) count += call.method == method;
  return count;
}

std::vector<FakeCall> FakeTokenController::AllCalls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

bool FakeTokenController::AwaitCalls(const std::string& method, int count,
                                     absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int seen = 0;
    for (const FakeCall& call : calls_) seen += call.method == method;
    return seen >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout);
}

void FakeTokenController::EnableWatch() {
  absl::MutexLock lock(&mu_);
  watch_enabled_ = true;
}

void FakeTokenController::Push(const wxtoken::v1::Token& token,
                               std::optional<absl::Duration> stream_age) {
  absl::MutexLock lock(&mu_);
  token_ = token;
  for (WatchStream* stream : streams_) {
    stream->Send(token, now_(), stream_age);
  }
}

void FakeTokenController::SetClock(std::function<absl::Time()> now) {
  absl::MutexLock lock(&mu_);
  now_ = std::move(now);
}

void FakeTokenController::EndWatches(grpc::StatusCode code, bool marked) {
  absl::MutexLock lock(&mu_);
  for (WatchStream* stream : streams_) stream->End(code, marked);
}

bool FakeTokenController::AwaitWatchers(int count,
                                        absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto open = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(streams_.size()) >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&open), timeout);
}

void FakeTokenController::RemoveStream(WatchStream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

grpc::ServerWriteReactor<wxtoken::v1::WatchTokenResponse>*
FakeTokenController::WatchToken(grpc::CallbackServerContext* context,
                                const wxtoken::v1::WatchTokenRequest* request) {
  absl::MutexLock lock(&mu_);
  auto* stream = new WatchStream(*this, context, now_());
  FakeCall call;
  call.method = "WatchToken";
  call.app_id = request->app_id();
  call.kind = request->kind();
  calls_.push_back(std::move(call));
  if (!watch_enabled_) {
    stream->End(grpc::StatusCode::UNIMPLEMENTED, /*marked=*/false);
    return stream;
  }
  if (error_ != grpc::StatusCode::OK) {
    stream->End(error_, error_marked_);
    return stream;
  }
  streams_.insert(stream);
  stream->Send(token_, now_(), std::nullopt);
  return stream;
}

grpc::ServerUnaryReactor* FakeTokenController::GetToken(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::GetTokenRequest* request,
    wxtoken::v1::GetTokenResponse* response) {
  FakeCall call;
  call.method = "GetToken";
  call.app_id = request->app_id();
  call.kind = request->kind();
  return Handle(context, std::move(call),
                [this, response] { return AnswerGetToken(response); });
}

grpc::ServerUnaryReactor* FakeTokenController::ForceRefresh(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::ForceRefreshRequest* request,
    wxtoken::v1::ForceRefreshResponse* response) {
  FakeCall call;
  call.method = "ForceRefresh";
  call.app_id = request->app_id();
  call.kind = request->kind();
  call.stale_value = request->stale_value();
  call.errcode = request->wechat_errcode();
  return Handle(context, std::move(call),
                [this, response] { return AnswerForceRefresh(response); });
}

grpc::ServerUnaryReactor* FakeTokenController::Handle(
    grpc::CallbackServerContext* context, FakeCall call,
    std::function<grpc::Status()> answer) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const auto deadline = context->deadline();
  call.deadline_left = deadline == std::chrono::system_clock::time_point::max()
                           ? absl::InfiniteDuration()
                           : absl::FromChrono(deadline) - absl::Now();
  std::function<void()> on_call;
  {
    absl::MutexLock lock(&mu_);
    on_call = on_call_;
  }
  if (on_call) on_call();
  std::function<void()> finish = [this, context, reactor,
                                  answer = std::move(answer)] {
    const grpc::Status status = answer();
    bool marked;
    {
      absl::MutexLock lock(&mu_);
      marked = error_marked_;
    }
    // As server/grpc/metrics_interceptor.h marks wxtokend's own errors.
    if (!status.ok() && marked) {
      context->AddTrailingMetadata("wxtoken-error-origin", "wxtokend");
    }
    reactor->Finish(status);
  };
  {
    absl::MutexLock lock(&mu_);
    calls_.push_back(std::move(call));
    if (holding_) {
      held_.push_back(std::move(finish));
      return reactor;
    }
  }
  finish();
  return reactor;
}

grpc::Status FakeTokenController::AnswerGetToken(
    wxtoken::v1::GetTokenResponse* response) {
  absl::MutexLock lock(&mu_);
  if (error_ != grpc::StatusCode::OK) {
    return grpc::Status(error_, "fake controller error");
  }
  *response->mutable_token() = token_;
  return grpc::Status::OK;
}

grpc::Status FakeTokenController::AnswerForceRefresh(
    wxtoken::v1::ForceRefreshResponse* response) {
  absl::MutexLock lock(&mu_);
  if (error_ != grpc::StatusCode::OK) {
    return grpc::Status(error_, "fake controller error");
  }
  if (!refresh_tokens_.empty()) {
    token_ = refresh_tokens_.front();
    refresh_tokens_.pop_front();
  }
  *response->mutable_token() = token_;
  response->set_outcome(wxtoken::v1::REFRESH_OUTCOME_REFRESHED);
  return grpc::Status::OK;
}

void FakeTokenController::ReleaseAll() {
  std::vector<std::function<void()>> held;
  {
    absl::MutexLock lock(&mu_);
    holding_ = false;
    held.swap(held_);
  }
  for (const std::function<void()>& finish : held) finish();
}

}  // namespace wxtoken::testing
