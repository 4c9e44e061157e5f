#ifndef WXTOKEN_TESTS_SANDBOX_PLATFORM_ROUTES_H_
#define WXTOKEN_TESTS_SANDBOX_PLATFORM_ROUTES_H_

#include <functional>

#include "absl/time/time.h"
#include "httplib.h"
#include "tests/sandbox/platform_pusher.h"
#include "tests/sandbox/platform_state.h"

namespace wxtoken::sandbox {

// The Open Platform's endpoints over a PlatformState (WECHAT.md
// "Third-party platform"); every body is JSON, every answer JSON with HTTP
// 200, as WeChat's. Component APIs take ?component_access_token= (or
// ?access_token=).
//
//   POST /cgi-bin/component/api_start_push_ticket  (then pushes a ticket)
//   POST /cgi-bin/component/api_component_token
//   POST /cgi-bin/component/api_query_auth
//   POST /cgi-bin/component/api_authorizer_token
//   POST /cgi-bin/component/api_get_authorizer_info
//   POST /cgi-bin/component/api_get_authorizer_list
//
// And the tests' side of a platform, which WeChat's users do in its pages:
//
//   POST /sandbox/platform/push_target?component_appid=&url=&server_token=
//        &encoding_aes_key=          where its events go (wxtokend's URL)
//   POST /sandbox/platform/ticket?component_appid=       a new ticket
//   POST /sandbox/platform/authorize?component_appid=&authorizer_appid=
//        [&update=1]                                     its code
//   POST /sandbox/platform/unauthorize?component_appid=&authorizer_appid=
//   GET  /sandbox/platform/refresh_tokens     every one issued, for tests
//
// With a push target the last three push their event there, as WeChat
// does, and answer with what the target answered (push_status, push_body,
// push_error).
void AddPlatformRoutes(httplib::Server& server, PlatformState* state,
                       PlatformPusher* pusher, std::function<absl::Time()> now);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_PLATFORM_ROUTES_H_
