#include "server/wechat/curl_upstream.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/wechat/response_parser.h"

namespace wxtoken::server {
namespace {

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// "https://user:pw@host:443/path?q" -> "host:443": enough to tell bases apart
// in a log line, without userinfo or query, which may carry credentials.
std::string AuthorityOf(std::string_view url) {
  size_t start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  size_t end = url.find_first_of("/?#", start);
  if (end == std::string_view::npos) end = url.size();
  std::string_view authority = url.substr(start, end - start);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return std::string(authority);
}

std::optional<std::string> UrlEscape(CURL* easy, std::string_view s) {
  if (s.size() > static_cast<size_t>(INT_MAX)) return std::nullopt;
  char* escaped = curl_easy_escape(easy, s.data(), static_cast<int>(s.size()));
  if (escaped == nullptr) return std::nullopt;
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

// One Start(). CURLOPT_POSTFIELDS does not copy, so the body lives here
// until the easy handle is gone.
struct Fetch {
  FetchRequest request;
  UpstreamClient::Callback done;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string post_body;
  std::string response;
  bool too_large = false;

  ~Fetch() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (headers != nullptr) curl_slist_free_all(headers);
  }
};

size_t OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* fetch = static_cast<Fetch*>(user);
  const size_t n = size * nmemb;
  if (n > CurlUpstreamClient::kMaxResponseBytes - fetch->response.size()) {
    // Returning less than n makes curl abort with CURLE_WRITE_ERROR: a token
    // answer is a few hundred bytes, so this is not WeChat talking.
    fetch->too_large = true;
    return 0;
  }
  fetch->response.append(data, n);
  return n;
}

FetchResult TransientResult(bool maybe_issued, std::string detail) {
  FetchResult result;
  result.failure = FailureClass::kTransient;
  result.maybe_issued = maybe_issued;
  result.detail = std::move(detail);
  return result;
}

// Every credential a request carries: secret, token, verify or suite
// ticket, authorization code, refresh or permanent code.
std::array<absl::string_view, 5> Credentials(const FetchRequest& request) {
  return {request.secret, request.access_token, request.verify_ticket,
          request.authorization_code, request.refresh_token};
}

// The details come from our own words, curl's static error strings and
// WeChat's errmsg; none should hold a secret, but a server could echo one
// back in errmsg, so scrub every credential the request carried before
// anyone logs or reports it. (The parser scrubs errmsg before cutting it.)
void Redact(const FetchRequest& request, FetchResult* result) {
  for (absl::string_view secret : Credentials(request)) {
    if (!secret.empty()) {
      for (std::string* text : {&result->detail, &result->errmsg}) {
        absl::StrReplaceAll({{secret, "<redacted>"}}, text);
      }
    }
  }
}

}  // namespace

class CurlUpstreamClient::Impl {
 public:
  Impl(std::vector<std::string> base_urls,
       std::vector<std::string> wecom_base_urls, absl::Duration timeout,
       int max_connections)
      : wechat_(std::move(base_urls), "base_urls"),
        wecom_(std::move(wecom_base_urls), "wecom.base_urls"),
        timeout_ms_(std::max<int64_t>(
            1,
            std::min<int64_t>(absl::ToInt64Milliseconds(timeout), LONG_MAX))) {
    GlobalInitOnce();
    multi_ = curl_multi_init();
    if (multi_ != nullptr) {
      curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS,
                        static_cast<long>(std::max(1, max_connections)));
    }
  }

  ~Impl() {
    // Abandon in-flight attempts; their callbacks never run (see header).
    for (auto& [easy, fetch] : active_) {
      if (multi_ != nullptr) curl_multi_remove_handle(multi_, easy);
    }
    active_.clear();
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }

  void Start(FetchRequest request, Callback done) {
    ++in_flight_;
    auto fetch = std::make_unique<Fetch>();
    fetch->request = std::move(request);
    fetch->done = std::move(done);
    if (fetch->request.base_index >= BaseCount(fetch->request.api)) {
      Finish(std::move(fetch),
             TransientResult(false, "no such upstream base URL"));
      return;
    }
    StartRequest(std::move(fetch));
  }

  size_t BaseCount(FetchApi api) const { return Family(api).urls.size(); }

  void Poll(absl::Duration max_wait) {
    if (multi_ != nullptr) {
      int running = 0;
      curl_multi_perform(multi_, &running);
      CollectDone();
      // Waiting is pointless when callbacks are due (e.g. from Start()).
      if (ready_.empty()) {
        curl_multi_poll(multi_, nullptr, 0, PollMillis(max_wait), nullptr);
        curl_multi_perform(multi_, &running);
        CollectDone();
      }
    }
    RunCallbacks();
  }

  void Wakeup() {
    if (multi_ != nullptr) curl_multi_wakeup(multi_);
  }

  int InFlight() const { return in_flight_; }

 private:
  static int PollMillis(absl::Duration max_wait) {
    if (max_wait <= absl::ZeroDuration()) return 0;
    // Round up: a 0.5 ms wait must not become a busy loop of 0 ms polls.
    const absl::Duration rounded = absl::Ceil(max_wait, absl::Milliseconds(1));
    if (rounded >= absl::Milliseconds(INT_MAX)) return INT_MAX;
    return static_cast<int>(absl::ToInt64Milliseconds(rounded));
  }

  // Sets up the request and hands it to the multi handle; a setup failure
  // is a transient failure that sent nothing.
  void StartRequest(std::unique_ptr<Fetch> fetch) {
    const char* failure = nullptr;
    if (multi_ == nullptr) {
      failure = "libcurl multi handle unavailable";
    } else if ((fetch->easy = curl_easy_init()) == nullptr ||
               !Configure(fetch.get())) {
      failure = "could not set up request";
    } else if (curl_multi_add_handle(multi_, fetch->easy) != CURLM_OK) {
      failure = "could not start request";
    }
    if (failure != nullptr) {
      // Build the result before `fetch` is moved from.
      FetchResult result =
          TransientResult(false, absl::StrCat(failure, " at ", Label(*fetch)));
      Finish(std::move(fetch), std::move(result));
      return;
    }
    CURL* easy = fetch->easy;
    active_.emplace(easy, std::move(fetch));
  }

  // One host family's base URLs, and how errors name each.
  struct Bases {
    Bases(std::vector<std::string> base_urls, absl::string_view key) {
      for (size_t i = 0; i < base_urls.size(); ++i) {
        std::string& base = base_urls[i];
        while (!base.empty() && base.back() == '/') base.pop_back();
        labels.push_back(
            absl::StrCat(key, "[", i, "] (", AuthorityOf(base), ")"));
      }
      urls = std::move(base_urls);
    }
    std::vector<std::string> urls;
    std::vector<std::string> labels;  // "base_urls[i] (host:port)"
  };

  const Bases& Family(FetchApi api) const {
    return IsWeComApi(api) ? wecom_ : wechat_;
  }

  const std::string& Label(const Fetch& fetch) const {
    return Family(fetch.request.api).labels[fetch.request.base_index];
  }

  // A POST's JSON body and its headers.
  static bool SetJsonBody(const google::protobuf::Struct& body, Fetch* fetch) {
    fetch->post_body.clear();
    if (fetch->headers != nullptr) curl_slist_free_all(fetch->headers);
    fetch->headers = nullptr;
    if (!google::protobuf::util::MessageToJsonString(body, &fetch->post_body)
             .ok()) {
      return false;
    }
    fetch->headers =
        curl_slist_append(nullptr, "Content-Type: application/json");
    if (fetch->headers == nullptr) return false;
    // A small body needs no "Expect: 100-continue" round trip.
    curl_slist* with_expect = curl_slist_append(fetch->headers, "Expect:");
    if (with_expect == nullptr) return false;
    fetch->headers = with_expect;
    return true;
  }

  // Builds URL, body and options for the current attempt. The URL and body
  // hold the secret or the access token: they go to curl and nowhere else.
  bool Configure(Fetch* fetch) {
    CURL* easy = fetch->easy;
    const FetchRequest& request = fetch->request;
    const std::string& base =
        Family(request.api).urls[fetch->request.base_index];
    std::string url;
    switch (request.api) {
      case FetchApi::kClassic: {
        auto app_id = UrlEscape(easy, request.app_id);
        auto secret = UrlEscape(easy, request.secret);
        if (!app_id || !secret) return false;
        url = absl::StrCat(
            base, "/cgi-bin/token?grant_type=client_credential&appid=", *app_id,
            "&secret=", *secret);
        break;
      }
      case FetchApi::kStable: {
        url = absl::StrCat(base, "/cgi-bin/stable_token");
        google::protobuf::Struct body;
        auto& fields = *body.mutable_fields();
        fields["grant_type"].set_string_value("client_credential");
        fields["appid"].set_string_value(request.app_id);
        fields["secret"].set_string_value(request.secret);
        fields["force_refresh"].set_bool_value(request.force_refresh);
        if (!SetJsonBody(body, fetch)) return false;
        break;
      }
      case FetchApi::kComponentToken: {
        url = absl::StrCat(base, "/cgi-bin/component/api_component_token");
        google::protobuf::Struct body;
        auto& fields = *body.mutable_fields();
        fields["component_appid"].set_string_value(request.app_id);
        fields["component_appsecret"].set_string_value(request.secret);
        fields["component_verify_ticket"].set_string_value(
            request.verify_ticket);
        if (!SetJsonBody(body, fetch)) return false;
        break;
      }
      case FetchApi::kQueryAuth:
      case FetchApi::kAuthorizerToken:
      case FetchApi::kAuthorizerInfo: {
        auto token = UrlEscape(easy, request.access_token);
        if (!token) return false;
        const bool code = request.api == FetchApi::kQueryAuth;
        url = absl::StrCat(base, "/cgi-bin/component/",
                           code ? "api_query_auth"
                           : request.api == FetchApi::kAuthorizerInfo
                               ? "api_get_authorizer_info"
                               : "api_authorizer_token",
                           "?component_access_token=", *token);
        google::protobuf::Struct body;
        auto& fields = *body.mutable_fields();
        fields["component_appid"].set_string_value(request.app_id);
        if (code) {
          fields["authorization_code"].set_string_value(
              request.authorization_code);
        } else {
          fields["authorizer_appid"].set_string_value(
              request.authorizer_app_id);
          if (request.api == FetchApi::kAuthorizerToken) {
            fields["authorizer_refresh_token"].set_string_value(
                request.refresh_token);
          }
        }
        if (!SetJsonBody(body, fetch)) return false;
        break;
      }
      case FetchApi::kAuthorizerList: {
        auto token = UrlEscape(easy, request.access_token);
        if (!token) return false;
        url = absl::StrCat(base,
                           "/cgi-bin/component/api_get_authorizer_list"
                           "?component_access_token=",
                           *token);
        google::protobuf::Struct body;
        auto& fields = *body.mutable_fields();
        fields["component_appid"].set_string_value(request.app_id);
        fields["offset"].set_number_value(static_cast<double>(request.offset));
        fields["count"].set_number_value(static_cast<double>(request.count));
        if (!SetJsonBody(body, fetch)) return false;
        break;
      }
      case FetchApi::kStartPushTicket: {
        url = absl::StrCat(base, "/cgi-bin/component/api_start_push_ticket");
        google::protobuf::Struct body;
        auto& fields = *body.mutable_fields();
        fields["component_appid"].set_string_value(request.app_id);
        fields["component_secret"].set_string_value(request.secret);
        if (!SetJsonBody(body, fetch)) return false;
        break;
      }
      case FetchApi::kQuotaGet: {
        auto token = UrlEscape(easy, request.access_token);
        if (!token) return false;
        url = absl::StrCat(base,
                           "/cgi-bin/openapi/quota/get?access_token=", *token);
        google::protobuf::Struct body;
        (*body.mutable_fields())["cgi_path"].set_string_value(request.cgi_path);
        if (!SetJsonBody(body, fetch)) return false;
        break;
      }
      case FetchApi::kWeComToken: {
        auto corp_id = UrlEscape(easy, request.corp_id);
        auto secret = UrlEscape(easy, request.secret);
        if (!corp_id || !secret) return false;
        url = absl::StrCat(base, "/cgi-bin/gettoken?corpid=", *corp_id,
                           "&corpsecret=", *secret);
        break;
      }
      case FetchApi::kWeComProviderToken: {
        url = absl::StrCat(base, "/cgi-bin/service/get_provider_token");
        google::protobuf::Struct body;
        auto& fields = *body.mutable_fields();
        fields["corpid"].set_string_value(request.corp_id);
        fields["provider_secret"].set_string_value(request.secret);
        if (!SetJsonBody(body, fetch)) return false;
        break;
      }
      case FetchApi::kWeComSuiteToken: {
        url = absl::StrCat(base, "/cgi-bin/service/get_suite_token");
        google::protobuf::Struct body;
        auto& fields = *body.mutable_fields();
        fields["suite_id"].set_string_value(request.app_id);
        fields["suite_secret"].set_string_value(request.secret);
        fields["suite_ticket"].set_string_value(request.verify_ticket);
        if (!SetJsonBody(body, fetch)) return false;
        break;
      }
      case FetchApi::kWeComPermanentCode:
      case FetchApi::kWeComCorpToken: {
        auto token = UrlEscape(easy, request.access_token);
        if (!token) return false;
        const bool code = request.api == FetchApi::kWeComPermanentCode;
        url = absl::StrCat(base, "/cgi-bin/service/",
                           code ? "get_permanent_code" : "get_corp_token",
                           "?suite_access_token=", *token);
        google::protobuf::Struct body;
        auto& fields = *body.mutable_fields();
        if (code) {
          fields["auth_code"].set_string_value(request.authorization_code);
        } else {
          fields["auth_corpid"].set_string_value(request.authorizer_app_id);
          fields["permanent_code"].set_string_value(request.refresh_token);
        }
        if (!SetJsonBody(body, fetch)) return false;
        break;
      }
      case FetchApi::kWeComTicket: {
        auto token = UrlEscape(easy, request.access_token);
        if (!token) return false;
        url = request.ticket_type == "jsapi"
                  ? absl::StrCat(
                        base, "/cgi-bin/get_jsapi_ticket?access_token=", *token)
                  : absl::StrCat(base,
                                 "/cgi-bin/ticket/get?access_token=", *token,
                                 "&type=agent_config");
        break;
      }
      case FetchApi::kTicket: {
        auto token = UrlEscape(easy, request.access_token);
        auto type = UrlEscape(easy, request.ticket_type);
        if (!token || !type) return false;
        url = absl::StrCat(base,
                           "/cgi-bin/ticket/getticket?access_token=", *token,
                           "&type=", *type);
        break;
      }
    }

    const long timeout_ms = static_cast<long>(timeout_ms_);
    bool ok = true;
    auto set = [&ok](CURLcode code) { ok = ok && code == CURLE_OK; };
    set(curl_easy_setopt(easy, CURLOPT_URL, url.c_str()));  // copied by curl
    set(curl_easy_setopt(easy, CURLOPT_PRIVATE, fetch));
    set(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody));
    set(curl_easy_setopt(easy, CURLOPT_WRITEDATA, fetch));
    // No signals from a library running inside a server's worker thread.
    set(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
    set(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms));
    set(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms));
    // A redirect would resend the secret to wherever it points.
    set(curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L));
    set(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"));
    set(curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                         static_cast<curl_off_t>(kMaxResponseBytes)));
    set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L));
    set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L));
    set(curl_easy_setopt(easy, CURLOPT_USERAGENT, "wxtoken"));
    if (!fetch->post_body.empty()) {
      set(curl_easy_setopt(easy, CURLOPT_POST, 1L));
      set(curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                           static_cast<curl_off_t>(fetch->post_body.size())));
      set(curl_easy_setopt(easy, CURLOPT_POSTFIELDS, fetch->post_body.data()));
      set(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, fetch->headers));
    }
    return ok;
  }

  void CollectDone() {
    // Gather first: removing handles invalidates the messages.
    std::vector<std::pair<CURL*, CURLcode>> done;
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        done.emplace_back(msg->easy_handle, msg->data.result);
      }
    }
    for (auto [easy, code] : done) {
      auto it = active_.find(easy);
      if (it == active_.end()) continue;
      std::unique_ptr<Fetch> fetch = std::move(it->second);
      active_.erase(it);
      FetchResult result = RequestResult(*fetch, code);
      curl_multi_remove_handle(multi_, easy);
      Finish(std::move(fetch), std::move(result));
    }
  }

  FetchResult RequestResult(const Fetch& fetch, CURLcode code) const {
    CURL* easy = fetch.easy;
    long http_status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http_status);
    FetchResult result;
    if (code == CURLE_OK) {
      result =
          ParseFetchResponse(fetch.request.api, static_cast<int>(http_status),
                             fetch.response, Credentials(fetch.request));
    } else if (fetch.too_large || code == CURLE_FILESIZE_EXCEEDED) {
      result = TransientResult(true, absl::StrCat("response body larger than ",
                                                  kMaxResponseBytes, " bytes"));
    } else {
      result = CurlFailure(easy, code);
    }
    result.http_status = static_cast<int>(http_status);
    absl::StrAppend(&result.detail, " at ", Label(fetch));
    return result;
  }

  // Maps a curl error to a transient failure. maybe_issued is false only when
  // the request cannot have left this process. The words are ours or curl's
  // static strings: curl's error buffer can quote the URL, which carries the
  // secret, so it is never used.
  FetchResult CurlFailure(CURL* easy, CURLcode code) const {
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    // Curl records the pre-transfer time just before it sends the request;
    // zero means nothing was sent.
    curl_off_t pretransfer_us = 0;
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
    const bool sent = pretransfer_us > 0;

    switch (code) {
      case CURLE_COULDNT_RESOLVE_HOST:
        return TransientResult(false, "could not resolve host");
      case CURLE_COULDNT_RESOLVE_PROXY:
        return TransientResult(false, "could not resolve proxy");
      case CURLE_COULDNT_CONNECT:
        if (os_errno == ECONNREFUSED) {
          return TransientResult(false, "connection refused");
        }
        if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH) {
          return TransientResult(false, "host unreachable");
        }
        return TransientResult(false, "could not connect");
      case CURLE_OPERATION_TIMEDOUT:
        return TransientResult(
            sent, absl::StrCat(sent ? "timeout" : "connect timeout", " after ",
                               timeout_ms_, "ms"));
      case CURLE_GOT_NOTHING:
        return TransientResult(true, "empty reply");
      case CURLE_SEND_ERROR:
        return TransientResult(sent, "connection dropped while sending");
      case CURLE_RECV_ERROR:
        return TransientResult(true, "connection dropped while receiving");
      case CURLE_PARTIAL_FILE:
        return TransientResult(true, "response cut short");
      // TLS setup happens before the request goes out.
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_ENGINE_NOTFOUND:
      case CURLE_SSL_ENGINE_SETFAILED:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return TransientResult(false,
                               absl::StrCat("TLS: ", curl_easy_strerror(code)));
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_URL_MALFORMAT:
        return TransientResult(
            false, absl::StrCat("bad base URL: ", curl_easy_strerror(code)));
      default:
        return TransientResult(
            sent, absl::StrCat("curl error ", static_cast<int>(code), ": ",
                               curl_easy_strerror(code)));
    }
  }

  void Finish(std::unique_ptr<Fetch> fetch, FetchResult result) {
    Redact(fetch->request, &result);
    ready_.emplace_back(std::move(fetch->done), std::move(result));
  }

  void RunCallbacks() {
    // Swap first: a callback may Start() a fetch that fails at once; its
    // callback runs on the next Poll(), not inside this loop.
    std::vector<std::pair<Callback, FetchResult>> ready;
    ready.swap(ready_);
    for (auto& [done, result] : ready) {
      --in_flight_;
      if (done) done(std::move(result));
    }
  }

  // Constant after construction.
  const Bases wechat_;
  const Bases wecom_;
  const int64_t timeout_ms_;
  CURLM* multi_ = nullptr;  // null only if libcurl could not allocate it

  // Attempts handed to multi_, by easy handle.
  absl::flat_hash_map<CURL*, std::unique_ptr<Fetch>> active_;
  // Finished fetches whose callbacks the next Poll() runs.
  std::vector<std::pair<Callback, FetchResult>> ready_;
  int in_flight_ = 0;
};

CurlUpstreamClient::CurlUpstreamClient(std::vector<std::string> base_urls,
                                       absl::Duration timeout,
                                       int max_connections,
                                       std::vector<std::string> wecom_base_urls)
    : impl_(std::make_unique<Impl>(std::move(base_urls),
                                   std::move(wecom_base_urls), timeout,
                                   max_connections)) {}

CurlUpstreamClient::~CurlUpstreamClient() = default;

void CurlUpstreamClient::Start(FetchRequest request, Callback done) {
  impl_->Start(std::move(request), std::move(done));
}

size_t CurlUpstreamClient::BaseCount(FetchApi api) const {
  return impl_->BaseCount(api);
}

void CurlUpstreamClient::Poll(absl::Duration max_wait) {
  impl_->Poll(max_wait);
}

void CurlUpstreamClient::Wakeup() { impl_->Wakeup(); }

int CurlUpstreamClient::InFlight() const { return impl_->InFlight(); }

}  // namespace wxtoken::server
