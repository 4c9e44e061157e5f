#ifndef WXTOKEN_TESTS_SANDBOX_WECOM_SERVICE_ROUTES_H_
#define WXTOKEN_TESTS_SANDBOX_WECOM_SERVICE_ROUTES_H_

#include <functional>

#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "httplib.h"
#include "tests/sandbox/fault_queue.h"
#include "tests/sandbox/wecom_provider_state.h"
#include "tests/sandbox/wecom_suite_pusher.h"
#include "tests/sandbox/wecom_suite_state.h"

namespace wxtoken::sandbox {

// WeCom's service-provider endpoints (WECHAT.md "WeCom (企业微信) APIs")
// over a WeComProviderState and a WeComSuiteState. Bodies are JSON; every
// answer is JSON with HTTP 200. As WECHAT.md says of them, a success
// carries no errcode; a failure is {"errcode","errmsg"}. Injected faults
// hit them too (endpoints get_provider_token, get_suite_token,
// get_permanent_code, get_corp_token, or any).
//
//   POST /cgi-bin/service/get_provider_token {"corpid","provider_secret"}
//        {"provider_access_token","expires_in"}
//   POST /cgi-bin/service/get_suite_token
//        {"suite_id","suite_secret","suite_ticket"}
//        {"suite_access_token","expires_in"}
//   POST /cgi-bin/service/get_permanent_code?suite_access_token= {"auth_code"}
//        {"access_token","expires_in","permanent_code",
//         "auth_corp_info":{"corpid","corp_name"}}     (v1's shape)
//   POST /cgi-bin/service/get_corp_token?suite_access_token=
//        {"auth_corpid","permanent_code"}
//        {"access_token","expires_in"}
//
// And the tests' side, which WeCom's users do in its pages:
//
//   POST /sandbox/wecom/push_base?url=       every suite's events go to
//        url + /wecom/suite/<suite_id> (wxtokend's push_listen); "" = none
//   POST /sandbox/wecom/push_target?suite_id=&url=   one suite's own URL
//        (an edge, say); "" = back to the base
//   POST /sandbox/wecom/suite_ticket?suite_id=       a new ticket, now
//   POST /sandbox/wecom/install?suite_id=&corp_id=   its auth code
//   POST /sandbox/wecom/uninstall?suite_id=&corp_id=
//   GET  /sandbox/wecom/permanent_codes   every one issued, for tests
//
// With a target the middle three push their event there (suite_ticket,
// create_auth, cancel_auth), as WeCom does, and answer with what the target
// answered (push_status, push_body, push_error). A suite's tickets are also
// pushed on SuiteTicketTicker's clock.
void AddWeComServiceRoutes(httplib::Server& server,
                           WeComProviderState* providers,
                           WeComSuiteState* suites, WeComSuitePusher* pusher,
                           FaultQueue* faults, std::function<absl::Time()> now);

// The parts of /sandbox/stats: "wecom_providers" (corpid, or "", to
// WeComProviderStats), "wecom_suites" (suite_id, or "", to WeComSuiteStats)
// and "wecom_suite_corps" ("SUITE_ID/CORPID" to WeComSuiteCorpStats), by
// the structs' field names. Sections of their own, beside "wecom", so their
// keys can never be taken for an app's "CORPID/AGENT".
google::protobuf::Struct WeComProviderStatsJson(
    const WeComProviderState& state);
google::protobuf::Struct WeComSuiteStatsJson(const WeComSuiteState& state);
google::protobuf::Struct WeComSuiteCorpStatsJson(const WeComSuiteState& state);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_WECOM_SERVICE_ROUTES_H_
