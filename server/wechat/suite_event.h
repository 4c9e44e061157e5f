#ifndef WXTOKEN_SERVER_WECHAT_SUITE_EVENT_H_
#define WXTOKEN_SERVER_WECHAT_SUITE_EVENT_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/wechat/platform_event.h"

namespace wxtoken::server {

// Parses what a WeCom suite's 指令回调URL receives, once decrypted (WECHAT.md
// "WeCom (企业微信) APIs"): `<xml><SuiteId/><InfoType/><TimeStamp/>…</xml>`,
// read into a PlatformEvent so the refresh worker takes a suite's pushes as
// it takes a platform's. component_app_id is the SuiteId, create_time the
// TimeStamp, and by InfoType:
//   suite_ticket                       kVerifyTicket, ticket = SuiteTicket
//   create_auth, reset_permanent_code  kAuthorized, authorization_code =
//                                      AuthCode; authorizer_app_id stays ""
//                                      (WeCom names the corp only when the
//                                      code is exchanged)
//   cancel_auth                        kUnauthorized, authorizer_app_id =
//                                      AuthCorpId
//   anything else (change_auth, …)     kOther
// As strict as ParsePlatformEvent: the fields its type needs must be there
// and of their shape, a field given twice is refused; errors are
// INVALID_ARGUMENT, start with "event: " and never quote a ticket or a code.
absl::StatusOr<PlatformEvent> ParseSuiteEvent(absl::string_view plaintext);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_SUITE_EVENT_H_
