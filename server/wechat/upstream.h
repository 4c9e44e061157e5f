#ifndef WXTOKEN_SERVER_WECHAT_UPSTREAM_H_
#define WXTOKEN_SERVER_WECHAT_UPSTREAM_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace wxtoken::server {

// Which WeChat endpoint a fetch goes to.
enum class FetchApi {
  kClassic,  // GET /cgi-bin/token
  kStable,   // POST /cgi-bin/stable_token
  kTicket,   // GET /cgi-bin/ticket/getticket (ticket_type, access_token)
  // A third-party platform's (WECHAT.md "Third-party platform"):
  kComponentToken,   // POST /cgi-bin/component/api_component_token
  kStartPushTicket,  // POST /cgi-bin/component/api_start_push_ticket: asks
                     // WeChat to push a verify ticket; answers no value
  // An authorizer's token, with the component token (access_token):
  kQueryAuth,        // POST /cgi-bin/component/api_query_auth: for a code
  kAuthorizerToken,  // POST /cgi-bin/component/api_authorizer_token
  kAuthorizerList,   // POST /cgi-bin/component/api_get_authorizer_list
  kAuthorizerInfo,   // POST /cgi-bin/component/api_get_authorizer_info: its
                     // refresh token (no access token)
  // POST /cgi-bin/openapi/quota/get (access_token, cgi_path): WeChat's own
  // count of an API's daily use; issues and revokes nothing.
  kQuotaGet,
  // WeCom's (WECHAT.md "WeCom APIs"), on wecom.base_urls:
  kWeComToken,  // GET /cgi-bin/gettoken (corp_id, an app's secret)
  // With an app's access token: ticket_type "jsapi", the corp's ticket (GET
  // /cgi-bin/get_jsapi_ticket); "agent_config", the app's (GET
  // /cgi-bin/ticket/get?type=agent_config).
  kWeComTicket,
  // POST /cgi-bin/service/get_provider_token (corp_id, the provider_secret)
  kWeComProviderToken,
  // A WeCom suite's (app_id: the suite_id):
  // POST /cgi-bin/service/get_suite_token (suite_id, secret: the
  // suite_secret, verify_ticket: the pushed suite_ticket)
  kWeComSuiteToken,
  // With the suite token (access_token): POST
  // /cgi-bin/service/get_permanent_code (authorization_code: the auth
  // code): the installing corp's permanent code (refresh_token) and corp id
  // (auth_corp_id); the v1 answer's corp token is not used.
  kWeComPermanentCode,
  // POST /cgi-bin/service/get_corp_token (authorizer_app_id: the corp id,
  // refresh_token: its permanent code): the corp's token.
  kWeComCorpToken,
};

// Which host family serves `api`: WeCom's (qyapi) or WeChat's.
inline bool IsWeComApi(FetchApi api) {
  return api == FetchApi::kWeComToken || api == FetchApi::kWeComTicket ||
         api == FetchApi::kWeComProviderToken ||
         api == FetchApi::kWeComSuiteToken ||
         api == FetchApi::kWeComPermanentCode ||
         api == FetchApi::kWeComCorpToken;
}
// A ticket's request: sent with an access token, never a secret.
inline bool IsTicketApi(FetchApi api) {
  return api == FetchApi::kTicket || api == FetchApi::kWeComTicket;
}

// One request to one of upstream.base_urls (wecom.base_urls for a WeCom
// API). Failover to the next base URL is a new request, decided (and
// counted against the budget) by the caller.
struct FetchRequest {
  std::string app_id;  // a platform's APIs: its component_appid
  FetchApi api = FetchApi::kClassic;
  size_t base_index = 0;  // which of the base URLs of api's family
  std::string secret;     // classic, stable, component, WeCom; never logged
  std::string corp_id;    // WeCom gettoken, get_provider_token
  bool force_refresh = false;  // stable only
  std::string access_token;    // ticket; an authorizer's: the component token
                               // (a suite's: the suite token)
  std::string ticket_type;     // tickets: "jsapi", "wx_card", "agent_config"
  std::string verify_ticket;   // component, suite token only; never logged
  std::string authorizer_app_id;   // kAuthorizerToken, kAuthorizerInfo,
                                   // kWeComCorpToken (the corp id)
  std::string authorization_code;  // kQueryAuth, kWeComPermanentCode; never
                                   // logged
  std::string refresh_token;       // kAuthorizerToken, kWeComCorpToken (the
                                   // permanent code); never logged
  int64_t offset = 0;              // kAuthorizerList: the page
  int64_t count = 0;
  std::string cgi_path;  // kQuotaGet: the API asked about
};

// One entry of an api_get_authorizer_list page.
struct ListedAuthorizer {
  std::string authorizer_app_id;
  std::string refresh_token;  // never logged
};

// How an upstream failure should be treated (DESIGN.md "Upstream errors").
enum class FailureClass {
  kNone,           // success
  kTransient,      // -1, 45011, HTTP 5xx, timeout, refused, malformed: back off
  kPermanent,      // credential or whitelist errors: long backoff, NOT_SERVING
  kQuota,          // 45009: stop until the next Beijing day
  kTokenRejected,  // WeChat rejected the input the request was sent with:
                   // 40001/40014/42001 on getticket (the access token),
                   // 61005/61006 on api_component_token (the verify ticket)
};

struct FetchResult {
  FailureClass failure = FailureClass::kNone;
  // True when WeChat may have issued a new value even though we did not get
  // it (timeout, dropped connection, 5xx, unreadable body): the old value may
  // be revoked after the overlap. False for a clean errcode answer.
  bool maybe_issued = false;
  int errcode = 0;      // WeChat's errcode, 0 when none
  int http_status = 0;  // 0 when no HTTP answer arrived
  std::string detail;   // human-readable, never contains a secret
  // A whitelist error's address WeChat saw us call from (EgressIp); "" when
  // none.
  std::string egress_ip;
  // An errcode answer's errmsg (cleaned to one short line) and the request
  // id WeChat put in it ("rid: ..."), for WeChat's support; "" when none.
  std::string errmsg;
  std::string rid;
  std::string value;          // access_token or ticket on success
  absl::Duration expires_in;  // on success
  // An authorizer's refresh token, as the answer carries it ("" when it
  // carries none); kWeComPermanentCode: the permanent code.
  std::string refresh_token;
  // kWeComPermanentCode: the corp that installed the suite
  // (auth_corp_info.corpid).
  std::string auth_corp_id;
  // kAuthorizerList: the page, and how many there are in all.
  std::vector<ListedAuthorizer> listed;
  int64_t total_count = 0;
  // kQuotaGet: WeChat's count for the day.
  int64_t quota_daily_limit = 0;
  int64_t quota_used = 0;
  int64_t quota_remain = 0;
};

// Talks to WeChat. Not thread-safe: it is driven by the refresh worker's
// thread alone, except Wakeup(), which any thread may call.
class UpstreamClient {
 public:
  using Callback = std::function<void(FetchResult)>;
  virtual ~UpstreamClient() = default;

  // Starts one request and returns at once. `done` runs later, inside
  // Poll(), exactly once.
  virtual void Start(FetchRequest request, Callback done) = 0;

  // How many base URLs `api`'s family has to fail over between (at least
  // one when that family is configured).
  virtual size_t BaseCount(FetchApi api) const = 0;

  // Makes progress on started fetches, waiting at most `max_wait` for
  // something to happen, and runs the callbacks of finished ones.
  virtual void Poll(absl::Duration max_wait) = 0;

  // Makes a Poll() that is waiting return early. Thread-safe.
  virtual void Wakeup() = 0;

  // Number of fetches started and not yet finished.
  virtual int InFlight() const = 0;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_UPSTREAM_H_
