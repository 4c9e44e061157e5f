#include "client/src/client_impl.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <time.h>

#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/src/grpc_token_source.h"

namespace wxtoken {
namespace client_internal {
namespace {

// Apart from CheckArguments, so that the check inlines into the hit path.
ABSL_ATTRIBUTE_NOINLINE absl::Status ArgumentError(absl::string_view app_id,
                                                   TokenKind kind) {
  if (app_id.empty()) return absl::InvalidArgumentError("app_id is empty");
  return absl::InvalidArgumentError(
      absl::StrCat("kind: unknown value ", static_cast<int>(kind)));
}

absl::Status CheckArguments(absl::string_view app_id, TokenKind kind) {
  switch (kind) {
    case TokenKind::kAccessToken:
    case TokenKind::kJsapiTicket:
    case TokenKind::kWxCardTicket:
    case TokenKind::kAgentConfigTicket:
      if (ABSL_PREDICT_TRUE(!app_id.empty())) return absl::OkStatus();
  }
  return ArgumentError(app_id, kind);
}

// An answer for a pair the full entry table does not cache, labelled as an
// entry labels its answers.
absl::StatusOr<Token> Uncached(absl::StatusOr<Token> answer,
                               absl::string_view app_id, TokenKind kind) {
  if (answer.ok()) {
    answer->app_id = std::string(app_id);
    answer->kind = kind;
  }
  return answer;
}

// Every cache hit reads the clock. The monotonic clock: only differences
// count, and a wall-clock step must not stretch a max_cache. clock_gettime
// directly: Debian's Abseil build makes absl::Now() cost about 2.5 times as
// much.
absl::Time MonotonicNow() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return absl::TimeFromTimespec(now);
}

// Cache hits read the kernel's coarse monotonic clock instead: the same
// clock as of its last tick, so never ahead of MonotonicNow() and behind it
// by less than a tick (its resolution); about 6 ns a read here instead of
// 30. Twice the resolution is the lag allowed for.
int64_t CoarseMonotonicNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

HitClock DefaultHitClock() {
  timespec resolution;
  if (clock_getres(CLOCK_MONOTONIC_COARSE, &resolution) != 0) return {};
  const absl::Duration tick = absl::DurationFromTimespec(resolution);
  // A kernel without a usable coarse clock: every hit reads the fine one.
  if (tick <= absl::ZeroDuration() || tick > absl::Milliseconds(20)) return {};
  return {CoarseMonotonicNanos, 2 * tick};
}

}  // namespace

ClientImpl::ClientImpl(std::unique_ptr<TokenSource> source,
                       std::function<absl::Time()> now,
                       absl::Duration fallback_retry, bool watch,
                       size_t max_entries, HitClock hit_clock)
    : source_(std::move(source)),
      context_{source_.get(), std::move(now), fallback_retry, watch, hit_clock},
      entries_(&context_, max_entries) {}

absl::StatusOr<Token> ClientImpl::DoGetToken(absl::string_view app_id,
                                             TokenKind kind) {
  if (absl::Status status = CheckArguments(app_id, kind); !status.ok()) {
    return status;
  }
  TokenEntry* entry = entries_.FindOrCreate(app_id, kind);
  if (ABSL_PREDICT_TRUE(entry != nullptr)) return entry->Get();
  return Uncached(source_->GetToken(app_id, kind), app_id, kind);
}

absl::Status ClientImpl::DoGetTokenInto(absl::string_view app_id,
                                        TokenKind kind, Token* token) {
  if (absl::Status status = CheckArguments(app_id, kind); !status.ok()) {
    return status;
  }
  TokenEntry* entry = entries_.FindOrCreate(app_id, kind);
  if (ABSL_PREDICT_TRUE(entry != nullptr)) return entry->GetInto(token);
  absl::StatusOr<Token> answer =
      Uncached(source_->GetToken(app_id, kind), app_id, kind);
  if (!answer.ok()) return answer.status();
  *token = *std::move(answer);
  return absl::OkStatus();
}

absl::StatusOr<Token> ClientImpl::ReportInvalid(absl::string_view app_id,
                                                TokenKind kind,
                                                absl::string_view stale_value,
                                                int wechat_errcode) {
  if (absl::Status status = CheckArguments(app_id, kind); !status.ok()) {
    return status;
  }
  TokenEntry* entry = entries_.FindOrCreate(app_id, kind);
  if (entry != nullptr)
    return entry->ReportInvalid(stale_value, wechat_errcode);
  return Uncached(
      source_->ForceRefresh(app_id, kind, stale_value, wechat_errcode), app_id,
      kind);
}

bool ClientImpl::AwaitWaitersForTesting(absl::string_view app_id,
                                        TokenKind kind, int count,
                                        absl::Duration timeout) {
  TokenEntry* entry = entries_.FindOrCreate(app_id, kind);
  return entry != nullptr && entry->AwaitWaitersForTesting(count, timeout);
}

absl::StatusOr<std::unique_ptr<ClientImpl>> NewClientImpl(
    ClientOptions options) {
  if (options.channel == nullptr && options.target.empty()) {
    return absl::InvalidArgumentError(
        "ClientOptions: set target (host:port) or channel");
  }
  if (options.rpc_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "ClientOptions.rpc_timeout must be positive");
  }
  if (options.report_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "ClientOptions.report_timeout must be positive");
  }
  if (options.fallback_retry < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "ClientOptions.fallback_retry must not be negative");
  }
  if (options.max_entries == 0) {
    return absl::InvalidArgumentError(
        "ClientOptions.max_entries must be positive");
  }
  std::shared_ptr<grpc::Channel> channel = std::move(options.channel);
  if (channel == nullptr) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> created =
        CreateChannel(options.target, options.tls ? &*options.tls : nullptr);
    if (!created.ok()) return created.status();
    channel = *std::move(created);
  }
  std::function<absl::Time()> now = std::move(options.now);
  HitClock hit_clock;  // a caller's clock: hits read it too
  if (!now) {
    now = MonotonicNow;
    hit_clock = DefaultHitClock();
  }
  return std::make_unique<ClientImpl>(
      std::make_unique<GrpcTokenSource>(std::move(channel), options.rpc_timeout,
                                        options.report_timeout),
      std::move(now), options.fallback_retry, options.watch,
      options.max_entries, hit_clock);
}

}  // namespace client_internal

absl::Status Client::DoGetTokenInto(absl::string_view app_id, TokenKind kind,
                                    Token* token) {
  absl::StatusOr<Token> answer = DoGetToken(app_id, kind);
  if (!answer.ok()) return answer.status();
  *token = *std::move(answer);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  absl::StatusOr<std::unique_ptr<client_internal::ClientImpl>> client =
      client_internal::NewClientImpl(std::move(options));
  if (!client.ok()) return client.status();
  return std::unique_ptr<Client>(*std::move(client));
}

}  // namespace wxtoken
