#ifndef WXTOKEN_TESTS_SANDBOX_WECOM_ROUTES_H_
#define WXTOKEN_TESTS_SANDBOX_WECOM_ROUTES_H_

#include <functional>

#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "httplib.h"
#include "tests/sandbox/fault_queue.h"
#include "tests/sandbox/wecom_state.h"

namespace wxtoken::sandbox {

// WeCom's token endpoints over a WeComState (WECHAT.md "WeCom (企业微信)
// APIs"), on the same host as WeChat's, as the sandbox stands in for both
// api.weixin.qq.com and qyapi.weixin.qq.com. Every answer is JSON with HTTP
// 200 and carries errcode (0 with errmsg "ok" on success), as WeCom's.
// Injected faults hit them as they hit WeChat's (endpoints gettoken,
// get_jsapi_ticket, ticket_get, or any).
//
//   GET /cgi-bin/gettoken?corpid=&corpsecret=
//       {"errcode":0,"errmsg":"ok","access_token","expires_in"}
//   GET /cgi-bin/get_jsapi_ticket?access_token=
//   GET /cgi-bin/ticket/get?access_token=&type=agent_config
//       {"errcode":0,"errmsg":"ok","ticket","expires_in"}
void AddWeComRoutes(httplib::Server& server, WeComState* state,
                    FaultQueue* faults, std::function<absl::Time()> now);

// The "wecom" part of /sandbox/stats: key ("CORPID/AGENT", "CORPID" or "")
// to its counters, by WeComStats' field names.
google::protobuf::Struct WeComStatsJson(const WeComState& state,
                                        absl::Time now);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_WECOM_ROUTES_H_
