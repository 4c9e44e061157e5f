#ifndef WXTOKEN_SERVER_WECHAT_PLATFORM_EVENT_H_
#define WXTOKEN_SERVER_WECHAT_PLATFORM_EVENT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wxtoken::server {

// What a third-party platform's 授权事件接收URL receives, once decrypted
// (WECHAT.md "Third-party platform"): a flat XML event naming the platform
// (AppId), when WeChat made it (CreateTime) and what it is (InfoType). A
// WeCom suite's pushes are read into the same shape (ParseSuiteEvent in
// server/wechat/suite_event.h), the suite_id as component_app_id.
struct PlatformEvent {
  enum class Type {
    kVerifyTicket,      // component_verify_ticket: the new ticket
    kAuthorized,        // an account authorized the platform: a code
    kUpdateAuthorized,  // it changed what it authorized: a new code
    kUnauthorized,      // it revoked the authorization
    kOther,             // an InfoType wxtokend does not act on
  };
  Type type = Type::kOther;
  std::string info_type;  // as pushed
  std::string component_app_id;
  absl::Time create_time;
  std::string ticket;                      // kVerifyTicket
  std::string authorizer_app_id;           // kAuthorized, kUpdateAuthorized,
                                           // kUnauthorized; "" in a suite's
                                           // kAuthorized (known once the
                                           // code is exchanged)
  std::string authorization_code;          // kAuthorized, kUpdateAuthorized
  std::optional<absl::Time> code_expires;  // when WeChat says the code ends
};

// Parses a decrypted event. The fields its type needs must be there and of
// their shape (an AppID, decimal seconds, a ticket or code of printable
// ASCII); a field given twice is refused. Errors are INVALID_ARGUMENT,
// start with "event: " and never quote a ticket or a code.
absl::StatusOr<PlatformEvent> ParsePlatformEvent(absl::string_view plaintext);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_PLATFORM_EVENT_H_
