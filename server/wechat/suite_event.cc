#include "server/wechat/suite_event.h"

#include <string>
#include <utility>

#include "server/wechat/event_fields.h"
#include "server/wechat/limits.h"

namespace wxtoken::server {

absl::StatusOr<PlatformEvent> ParseSuiteEvent(absl::string_view plaintext) {
  // The elements wxtokend reads; others (State, AuthType, …) are ignored.
  absl::StatusOr<EventFields> fields =
      EventFields::Read(plaintext, {"SuiteId", "InfoType", "TimeStamp",
                                    "SuiteTicket", "AuthCode", "AuthCorpId"});
  if (!fields.ok()) return fields.status();
  absl::StatusOr<PlatformEvent> event = fields->ReadHead(
      {.owner = "SuiteId",
       .owner_shape = "a suite ID",
       .time = "TimeStamp",
       .types = {{"suite_ticket", PlatformEvent::Type::kVerifyTicket},
                 {"create_auth", PlatformEvent::Type::kAuthorized},
                 // A new permanent code for a corp already authorized:
                 // exchanged as a new authorization's is.
                 {"reset_permanent_code", PlatformEvent::Type::kAuthorized},
                 {"cancel_auth", PlatformEvent::Type::kUnauthorized}}});
  if (!event.ok()) return event;

  switch (event->type) {
    case PlatformEvent::Type::kVerifyTicket: {
      absl::StatusOr<std::string> ticket =
          fields->Credential("SuiteTicket", kMaxTokenLength);
      if (!ticket.ok()) return ticket.status();
      event->ticket = *std::move(ticket);
      break;
    }
    case PlatformEvent::Type::kAuthorized: {
      absl::StatusOr<std::string> code =
          fields->Credential("AuthCode", kMaxEventCodeLength);
      if (!code.ok()) return code.status();
      event->authorization_code = *std::move(code);
      break;
    }
    case PlatformEvent::Type::kUnauthorized: {
      absl::StatusOr<std::string> corp = fields->Id("AuthCorpId", "a CorpID");
      if (!corp.ok()) return corp.status();
      event->authorizer_app_id = *std::move(corp);
      break;
    }
    case PlatformEvent::Type::kUpdateAuthorized:  // not a suite's
    case PlatformEvent::Type::kOther:             // nothing more to read
      break;
  }
  return event;
}

}  // namespace wxtoken::server
