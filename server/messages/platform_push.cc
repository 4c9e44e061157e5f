#include "server/messages/platform_push.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/wechat/platform_event.h"

namespace wxtoken::server {

PlatformPushIntake::PlatformPushIntake(
    std::vector<std::string> component_app_ids,
    const Swappable<PushMessages>& messages, EventSink event_sink,
    Forwarding forwarding)
    : platforms_(component_app_ids.begin(), component_app_ids.end()),
      messages_(messages),
      event_sink_(std::move(event_sink)),
      forwarding_(std::move(forwarding)) {}

bool PlatformPushIntake::IsPlatform(const std::string& component_app_id) const {
  return platforms_.contains(component_app_id);
}

void PlatformPushIntake::Submit(PlatformPush push, Done done,
                                bool may_forward) {
  const std::string& platform = push.component_app_id;
  if (!IsPlatform(platform)) {
    return done(absl::NotFoundError(
        absl::StrCat("no platform \"", platform, "\" is configured")));
  }
  if (push.body.size() > kMaxBodyBytes) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("body: larger than ", kMaxBodyBytes, " bytes")));
  }
  const std::string key = absl::StrCat(platform, " ", push.msg_signature);
  // Checked after the signature: only WeChat's own pushes are remembered,
  // so a forged one cannot make it refuse a real one.
  absl::StatusOr<PushMessages::Decrypted> decrypted = messages_.Get()->Decrypt(
      platform, push.msg_signature, push.timestamp, push.nonce, push.body);
  if (!decrypted.ok()) return done(decrypted.status());
  if (Remembered(key)) {
    return done(absl::AlreadyExistsError(
        "msg_signature: a replay of a push already taken"));
  }
  absl::StatusOr<PlatformEvent> event =
      ParsePlatformEvent(decrypted->plaintext);
  if (!event.ok()) return done(event.status());
  if (event->component_app_id != platform) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("event: AppId \"", event->component_app_id,
                     "\" is not the platform of this URL")));
  }
  if (may_forward && forwarding_.should_forward &&
      forwarding_.should_forward()) {
    // The leader stores it, checking it again; acknowledged when it did.
    forwarding_.forward(
        push, [this, key, done = std::move(done)](absl::Status status) {
          if (status.ok()) Remember(key);
          done(status);
        });
    return;
  }
  if (event->type == PlatformEvent::Type::kOther) {
    Log(LogLevel::kInfo, "platform event not acted on",
        {{"app_id", platform}, {"info_type", event->info_type}});
  }
  event_sink_(*std::move(event),
              [this, key, done = std::move(done)](absl::Status status) {
                if (status.ok()) Remember(key);
                done(status);
              });
}

bool PlatformPushIntake::Remembered(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  return accepted_.contains(key);
}

void PlatformPushIntake::Remember(std::string key) {
  absl::MutexLock lock(&mu_);
  if (!accepted_.insert(key).second) return;
  accepted_order_.push_back(std::move(key));
  if (accepted_order_.size() > kRememberedPushes) {
    accepted_.erase(accepted_order_.front());
    accepted_order_.pop_front();
  }
}

int PushHttpStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kAlreadyExists:
      return 409;
    default:
      return 503;
  }
}

}  // namespace wxtoken::server
