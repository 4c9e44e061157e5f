#include "client/src/token_entry.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace wxtoken::client_internal {

TokenEntry::TokenEntry(std::string app_id, TokenKind kind,
                       const EntryContext* context)
    : app_id_(std::move(app_id)), kind_(kind), context_(*context) {}

absl::StatusOr<Token> TokenEntry::Get() {
  if (Token hit; ReadHit(&hit)) return hit;
  return GetAfterMiss();
}

absl::Status TokenEntry::GetIntoAfterMiss(Token* token) {
  absl::StatusOr<Token> answer = GetAfterMiss();
  if (!answer.ok()) return answer.status();
  *token = *std::move(answer);
  return absl::OkStatus();
}

absl::StatusOr<Token> TokenEntry::GetAfterMiss() {
  absl::MutexLock lock(&mu_);
  TendWatch(context_.now());
  // Every pass returns, or follows another caller's finished RPC.
  while (true) {
    if (std::optional<Token> fresh = FreshCopy(context_.now())) {
      return *std::move(fresh);
    }
    if (flight_ == nullptr) return Fly(/*force_refresh=*/false, "", 0);
    std::shared_ptr<const Flight> flight = AwaitFlight();
    // A ForceRefresh that finished may have left a fresh value, or not.
    if (!flight->force_refresh) return flight->result;
  }
}

absl::StatusOr<Token> TokenEntry::ReportInvalid(absl::string_view stale_value,
                                                int errcode) {
  absl::MutexLock lock(&mu_);
  while (true) {
    // Someone here already had it replaced; the controller would only answer
    // ALREADY_NEWER with what we hold.
    if (!stale_value.empty() && stale_value == previous_value_) {
      if (std::optional<Token> fresh = FreshCopy(context_.now())) {
        return *std::move(fresh);
      }
    }
    if (flight_ == nullptr) {
      return Fly(/*force_refresh=*/true, stale_value, errcode);
    }
    std::shared_ptr<const Flight> flight = AwaitFlight();
    if (flight->force_refresh && flight->stale_value == stale_value) {
      return flight->result;
    }
  }
}

bool TokenEntry::AwaitWaitersForTesting(int count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return waiters_ >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

void TokenEntry::TendWatch(absl::Time now) {
  if (watch_ != nullptr && cached_from_stream_ && now >= fresh_until_) {
    cached_from_stream_ = false;
    watch_->Restart();
  }
}

void TokenEntry::OpenWatch() {
  if (!context_.watch || watch_refused_) return;
  if (watch_ != nullptr && !watch_ended_) return;
  // An ended watch's thread is past its last call into the entry: joining
  // it under mu_ cannot wait for mu_.
  watch_.reset();
  watch_ended_ = false;
  watch_ =
      context_.source->Watch(app_id_, kind_,
                             {[this] {
                                absl::MutexLock lock(&mu_);
                                stream_opened_at_ = context_.now();
                              },
                              [this](Token token, absl::Duration stream_age) {
                                OnPushed(std::move(token), stream_age);
                              },
                              [this](const absl::Status& status, bool final) {
                                OnStreamEnd(status, final);
                              }});
}

void TokenEntry::OnPushed(Token token, absl::Duration stream_age) {
  absl::MutexLock lock(&mu_);
  // A message's max_cache counts from its arrival (DESIGN.md), unless it
  // was made earlier than that by our clock: it may have waited in buffers
  // while this process or its connection stalled.
  const absl::Time made_by = stream_opened_at_ + stream_age;
  Accept(std::move(token), std::min(context_.now(), made_by));
  // Not when Accept refused it (a value reported rejected): a miss then is
  // no sign of a stuck stream.
  cached_from_stream_ = token_.has_value();
}

void TokenEntry::OnStreamEnd(const absl::Status& status, bool final) {
  absl::MutexLock lock(&mu_);
  cached_from_stream_ = false;
  if (final) {
    watch_ended_ = true;
    // Refused streams say nothing about the token: polling goes on.
    watch_refused_ = IsWatchRefused(status);
    if (watch_refused_) return;
  }
  // The controller said the token is not servable (a credential error, an
  // app removed): it knows better than the cache, as for GetToken. An
  // unreachable controller, or a stream closed for its age or a shutdown,
  // leaves the last value to its max_cache.
  if (!IsUnreachable(status) &&
      status.code() != absl::StatusCode::kUnavailable) {
    SetCached(std::nullopt, absl::InfinitePast());
  }
}

std::optional<Token> TokenEntry::FreshCopy(absl::Time now) const {
  if (token_.has_value() && now < fresh_until_) return token_;
  return std::nullopt;
}

void TokenEntry::SetCached(std::optional<Token> token, absl::Time fresh_until) {
  token_ = std::move(token);
  fresh_until_ = fresh_until;
  if (token_.has_value()) {
    // Hits read the hit clock, which may lag `now` by up to its lag: their
    // window ends that much sooner.
    published_.Publish(*token_, fresh_until_ - context_.hit_clock.lag);
  } else {
    published_.Expire();
  }
}

std::shared_ptr<const TokenEntry::Flight> TokenEntry::AwaitFlight() {
  std::shared_ptr<const Flight> flight = flight_;
  ++waiters_;
  mu_.Await(absl::Condition(&flight->done));
  --waiters_;
  return flight;
}

absl::StatusOr<Token> TokenEntry::Fly(bool force_refresh,
                                      absl::string_view stale_value,
                                      int errcode) {
  auto flight = std::make_shared<Flight>();
  flight->force_refresh = force_refresh;
  flight->stale_value = std::string(stale_value);
  flight_ = flight;
  mu_.Unlock();
  // max_cache counts from here: the controller computed it no earlier.
  const absl::Time sent = context_.now();
  absl::StatusOr<Token> answer =
      force_refresh ? context_.source->ForceRefresh(
                          app_id_, kind_, flight->stale_value, errcode)
                    : context_.source->GetToken(app_id_, kind_);
  const absl::Time received = context_.now();
  mu_.Lock();
  flight->result = Settle(*flight, std::move(answer), sent, received);
  flight->done = true;
  flight_ = nullptr;
  return flight->result;
}

Token TokenEntry::Accept(Token answer, absl::Time counted_from) {
  answer.app_id = app_id_;
  answer.kind = kind_;
  answer.stale_fallback = false;
  if (token_.has_value() && token_->value != answer.value) {
    previous_value_ = token_->value;
  }
  if (answer.value == rejected_value_) {
    // The controller has not replaced it yet: hand it out as asked, but
    // keep asking rather than caching what WeChat rejected.
    SetCached(std::nullopt, absl::InfinitePast());
    fallback_until_ = absl::InfinitePast();
    return answer;
  }
  rejected_value_.clear();
  SetCached(answer, counted_from + answer.max_cache);
  fallback_until_ = counted_from + answer.stale_if_error;
  return answer;
}

absl::StatusOr<Token> TokenEntry::Settle(const Flight& flight,
                                         absl::StatusOr<Token> answer,
                                         absl::Time sent, absl::Time now) {
  if (answer.ok()) {
    cached_from_stream_ = false;
    OpenWatch();
    return Accept(*std::move(answer), sent);
  }
  if (flight.force_refresh) {
    // WeChat rejected the value: never serve it again, not even as a
    // fallback, until the controller hands out another.
    rejected_value_ = flight.stale_value.empty() && token_.has_value()
                          ? token_->value
                          : flight.stale_value;
    if (token_.has_value() && token_->value == rejected_value_) {
      previous_value_ = token_->value;
      SetCached(std::nullopt, absl::InfinitePast());
    }
    return answer.status();
  }
  if (!IsUnreachable(answer.status())) {
    // The controller answered: it has no valid value to give, or will not.
    // What it said replaces whatever the cache held.
    SetCached(std::nullopt, absl::InfinitePast());
    return answer.status();
  }
  if (answer.status().code() != absl::StatusCode::kUnavailable) {
    // Not wxtokend's answer, nor a failure to reach it (e.g. a proxy
    // refusing the call): passed on as it is.
    return answer.status();
  }
  if (token_.has_value() && now < fallback_until_) {
    Token fallback = *token_;
    fallback.stale_fallback = true;
    SetCached(fallback,
              std::min(now + context_.fallback_retry, fallback_until_));
    return fallback;
  }
  return absl::UnavailableError(absl::StrCat(
      answer.status().message(), "; no cached token is still certainly valid"));
}

}  // namespace wxtoken::client_internal
