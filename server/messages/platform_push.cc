#include "server/messages/platform_push.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/wechat/platform_event.h"
#include "server/wechat/suite_event.h"

namespace wxtoken::server {
namespace {

absl::flat_hash_map<std::string, bool> OwnerFamilies(
    std::vector<PlatformPushIntake::Owner> owners) {
  absl::flat_hash_map<std::string, bool> families;
  for (PlatformPushIntake::Owner& owner : owners) {
    families.emplace(std::move(owner.id), owner.wecom_suite);
  }
  return families;
}

}  // namespace

PlatformPushIntake::PlatformPushIntake(std::vector<Owner> owners,
                                       const Swappable<PushMessages>& messages,
                                       EventSink event_sink,
                                       Forwarding forwarding)
    : owners_(OwnerFamilies(std::move(owners))),
      messages_(messages),
      event_sink_(std::move(event_sink)),
      forwarding_(std::move(forwarding)) {}

absl::Status PlatformPushIntake::CheckOwner(const std::string& id,
                                            PlatformPush::Path path) const {
  using Path = PlatformPush::Path;
  auto it = owners_.find(id);
  const bool known = it != owners_.end();
  const bool wecom_suite = known && it->second;
  if (known &&
      (path == Path::kAny || wecom_suite == (path == Path::kWeComSuite))) {
    return absl::OkStatus();
  }
  // A known id on the other family's URL: say where it belongs.
  std::string hint;
  if (known) {
    hint = wecom_suite
               ? absl::StrCat(" (it is a WeCom suite: /wecom/suite/", id, ")")
               : absl::StrCat(" (it is a platform: /wechat/platform/", id, ")");
  }
  const absl::string_view what = path == Path::kAny ? "platform or suite"
                                 : path == Path::kWeComSuite ? "WeCom suite"
                                                             : "platform";
  return absl::NotFoundError(
      absl::StrCat("no ", what, " \"", id, "\" is configured", hint));
}

void PlatformPushIntake::Submit(PlatformPush push, Done done,
                                bool may_forward) {
  const std::string& platform = push.component_app_id;
  if (absl::Status known = CheckOwner(platform, push.path); !known.ok()) {
    return done(std::move(known));
  }
  const bool wecom_suite = owners_.at(platform);
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
      wecom_suite ? ParseSuiteEvent(decrypted->plaintext)
                  : ParsePlatformEvent(decrypted->plaintext);
  if (!event.ok()) return done(event.status());
  if (event->component_app_id != platform) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("event: ", wecom_suite ? "SuiteId" : "AppId", " \"",
                     event->component_app_id, "\" is not the ",
                     wecom_suite ? "suite" : "platform", " of this URL")));
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
    Log(LogLevel::kInfo,
        wecom_suite ? "suite event not acted on"
                    : "platform event not acted on",
        {{"app_id", platform}, {"info_type", event->info_type}});
  }
  event_sink_(*std::move(event),
              [this, key, done = std::move(done)](absl::Status status) {
                if (status.ok()) Remember(key);
                done(status);
              });
}

absl::StatusOr<std::string> PlatformPushIntake::AnswerUrlCheck(
    const std::string& suite_id, absl::string_view msg_signature,
    absl::string_view timestamp, absl::string_view nonce,
    absl::string_view echostr) const {
  if (absl::Status known =
          CheckOwner(suite_id, PlatformPush::Path::kWeComSuite);
      !known.ok()) {
    return known;
  }
  if (msg_signature.empty()) {
    return absl::InvalidArgumentError("msg_signature: required");
  }
  if (echostr.empty()) return absl::InvalidArgumentError("echostr: required");
  if (echostr.size() > kMaxBodyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("echostr: longer than ", kMaxBodyBytes, " bytes"));
  }
  absl::StatusOr<PushMessages::Decrypted> decrypted =
      messages_.Get()->DecryptEchoStr(suite_id, msg_signature, timestamp, nonce,
                                      echostr);
  if (!decrypted.ok()) return decrypted.status();
  return std::move(decrypted->plaintext);
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
