#include "server/wechat/platform_event.h"

#include <string>
#include <utility>

#include "server/wechat/event_fields.h"
#include "server/wechat/limits.h"

namespace wxtoken::server {

absl::StatusOr<PlatformEvent> ParsePlatformEvent(absl::string_view plaintext) {
  // The elements wxtokend reads; others (PreAuthCode, ...) are ignored.
  absl::StatusOr<EventFields> fields = EventFields::Read(
      plaintext,
      {"AppId", "CreateTime", "InfoType", "ComponentVerifyTicket",
       "AuthorizerAppid", "AuthorizationCode", "AuthorizationCodeExpiredTime"});
  if (!fields.ok()) return fields.status();
  absl::StatusOr<PlatformEvent> event = fields->ReadHead(
      {.owner = "AppId",
       .owner_shape = "an AppID",
       .time = "CreateTime",
       .types = {
           {"component_verify_ticket", PlatformEvent::Type::kVerifyTicket},
           {"authorized", PlatformEvent::Type::kAuthorized},
           {"updateauthorized", PlatformEvent::Type::kUpdateAuthorized},
           {"unauthorized", PlatformEvent::Type::kUnauthorized}}});
  // kOther: nothing more to read.
  if (!event.ok() || event->type == PlatformEvent::Type::kOther) return event;

  if (event->type == PlatformEvent::Type::kVerifyTicket) {
    absl::StatusOr<std::string> ticket =
        fields->Credential("ComponentVerifyTicket", kMaxTokenLength);
    if (!ticket.ok()) return ticket.status();
    event->ticket = *std::move(ticket);
    return event;
  }
  absl::StatusOr<std::string> authorizer =
      fields->Id("AuthorizerAppid", "an AppID");
  if (!authorizer.ok()) return authorizer.status();
  event->authorizer_app_id = *std::move(authorizer);
  if (event->type == PlatformEvent::Type::kUnauthorized) return event;
  absl::StatusOr<std::string> code =
      fields->Credential("AuthorizationCode", kMaxEventCodeLength);
  if (!code.ok()) return code.status();
  event->authorization_code = *std::move(code);
  if (fields->Has("AuthorizationCodeExpiredTime")) {
    absl::StatusOr<absl::Time> expires =
        fields->Seconds("AuthorizationCodeExpiredTime");
    if (!expires.ok()) return expires.status();
    event->code_expires = *expires;
  }
  return event;
}

}  // namespace wxtoken::server
