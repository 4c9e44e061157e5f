#include "server/wechat/curl_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/wechat/response_parser.h"

namespace wxtoken::server {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "TopSecret&=+/ %42";
constexpr char kAppId[] = "wx0123456789abcdef";
constexpr char kToken[] = "ACCESS-TOKEN-1";

// What the fake server saw of one request.
struct SeenRequest {
  std::string base;  // the path prefix naming the base: "a", "b", ...
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> params;
  std::string body;
  std::string content_type;
};

// An in-process HTTP server standing in for WeChat. Each base URL the client
// gets is http://127.0.0.1:PORT/<name>, so one server plays several bases.
class FakeWeChat {
 public:
  using Handler = std::function<void(const SeenRequest&, httplib::Response&)>;

  FakeWeChat() {
    auto handle = [this](const httplib::Request& req, httplib::Response& res) {
      SeenRequest seen;
      seen.base = req.matches[1];
      seen.method = req.method;
      seen.path = req.path;
      seen.params = req.params;
      seen.body = req.body;
      seen.content_type = req.get_header_value("Content-Type");
      Handler handler;
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_.push_back(seen);
        handler = handler_;
      }
      handler(seen, res);
    };
    server_.Get(R"(/(\w+)/cgi-bin/.*)", handle);
    server_.Post(R"(/(\w+)/cgi-bin/.*)", handle);
    server_.set_keep_alive_timeout(1);
    port_ = server_.bind_to_any_port("127.0.0.1");
    // bind_to_any_port also listens: connections queue in the backlog until
    // the thread starts accepting, so there is no start-up race.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib 0.11's stop() does nothing until the accept loop runs, so a
    // test that ends at once would hang in the destructor's join().
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  ~FakeWeChat() {
    ReleaseSleepers();
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string Base(const std::string& name) const {
    return absl::StrCat("http://127.0.0.1:", port_, "/", name);
  }

  void SetHandler(Handler handler) {
    std::lock_guard<std::mutex> lock(mu_);
    handler_ = std::move(handler);
  }

  std::vector<SeenRequest> Seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  // Blocks a handler thread for `d` or until the server shuts down, so a
  // slow answer never holds up the test's teardown.
  void SleepFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, d, [this] { return released_; });
  }

  void ReleaseSleepers() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  Handler handler_ = [](const SeenRequest&, httplib::Response& res) {
    res.status = 404;
  };
  std::vector<SeenRequest> seen_;
};

void Json(httplib::Response& res, const std::string& body) {
  res.status = 200;
  res.set_content(body, "application/json");
}

std::string TokenJson(const std::string& token) {
  return absl::StrCat(R"({"access_token":")", token, R"(","expires_in":7200})");
}

// A port on 127.0.0.1 that nobody listens on: bound, then closed again.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

FetchRequest ClassicRequest() {
  FetchRequest request;
  request.app_id = kAppId;
  request.api = FetchApi::kClassic;
  request.secret = kSecret;
  return request;
}

class CurlUpstreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The client honours proxy variables like curl does; the fake server is
    // local.
    for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy",
                             "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
      unsetenv(name);
    }
  }

  // Starts one fetch and polls until its callback ran (bounded).
  FetchResult Fetch(UpstreamClient& client, FetchRequest request) {
    int calls = 0;
    FetchResult out;
    client.Start(std::move(request), [&](FetchResult result) {
      ++calls;
      out = std::move(result);
    });
    EXPECT_EQ(client.InFlight(), 1);
    PollUntil(client, [&] { return calls > 0; });
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(client.InFlight(), 0);
    // Exactly once: more polling runs nothing again.
    client.Poll(absl::ZeroDuration());
    EXPECT_EQ(calls, 1);
    return out;
  }

  static bool PollUntil(UpstreamClient& client,
                        const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (!done() && absl::Now() < deadline) {
      client.Poll(absl::Milliseconds(100));
    }
    return done();
  }

  // Declared before the clients a test makes, so it outlives them.
  FakeWeChat wechat_;
};

TEST_F(CurlUpstreamTest, ClassicSuccess) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res, TokenJson(kToken));
  });
  CurlUpstreamClient client({wechat_.Base("a") + "/"}, absl::Seconds(2));
  const FetchResult result = Fetch(client, ClassicRequest());

  EXPECT_EQ(result.failure, FailureClass::kNone) << result.detail;
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.value, kToken);
  EXPECT_EQ(result.expires_in, absl::Seconds(7200));
  EXPECT_THAT(result.detail, HasSubstr("base_urls[0]"));

  const std::vector<SeenRequest> seen = wechat_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].path, "/a/cgi-bin/token");
  EXPECT_THAT(
      seen[0].params,
      ElementsAre(
          std::pair<const std::string, std::string>("appid", kAppId),
          std::pair<const std::string, std::string>("grant_type",
                                                    "client_credential"),
          std::pair<const std::string, std::string>("secret", kSecret)));
}

TEST_F(CurlUpstreamTest, StableSuccessPostsJson) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res, TokenJson(kToken));
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  FetchRequest request = ClassicRequest();
  request.api = FetchApi::kStable;
  request.force_refresh = true;
  const FetchResult result = Fetch(client, request);

  EXPECT_EQ(result.failure, FailureClass::kNone) << result.detail;
  EXPECT_EQ(result.value, kToken);

  const std::vector<SeenRequest> seen = wechat_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/a/cgi-bin/stable_token");
  EXPECT_EQ(seen[0].content_type, "application/json");
  EXPECT_TRUE(seen[0].params.empty());
  google::protobuf::Struct body;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(seen[0].body, &body).ok())
      << "not JSON";
  const auto& fields = body.fields();
  EXPECT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields.at("grant_type").string_value(), "client_credential");
  EXPECT_EQ(fields.at("appid").string_value(), kAppId);
  EXPECT_EQ(fields.at("secret").string_value(), kSecret);
  EXPECT_EQ(fields.at("force_refresh").kind_case(),
            google::protobuf::Value::kBoolValue);
  EXPECT_TRUE(fields.at("force_refresh").bool_value());
}

TEST_F(CurlUpstreamTest, TicketSuccess) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res,
         R"({"errcode":0,"errmsg":"ok","ticket":"TICKET","expires_in":7200})");
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  FetchRequest request;
  request.app_id = kAppId;
  request.api = FetchApi::kTicket;
  request.access_token = "tok+en/=&1";
  request.ticket_type = "jsapi";
  const FetchResult result = Fetch(client, request);

  EXPECT_EQ(result.failure, FailureClass::kNone) << result.detail;
  EXPECT_EQ(result.value, "TICKET");
  const std::vector<SeenRequest> seen = wechat_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].path, "/a/cgi-bin/ticket/getticket");
  EXPECT_THAT(
      seen[0].params,
      ElementsAre(std::pair<const std::string, std::string>("access_token",
                                                            "tok+en/=&1"),
                  std::pair<const std::string, std::string>("type", "jsapi")));
}

// WeCom's tickets: the corp's from get_jsapi_ticket, an app's from
// ticket/get with type agent_config, both on the WeCom bases.
TEST_F(CurlUpstreamTest, WeComTicketsGoToTheirOwnPaths) {
  wechat_.SetHandler([](const SeenRequest& req, httplib::Response& res) {
    Json(res, absl::StrCat(R"({"errcode":0,"errmsg":"ok","ticket":")", req.path,
                           R"(","expires_in":7200})"));
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2), 8,
                            {wechat_.Base("qy")});
  FetchRequest request;
  request.app_id = "ww0123456789abcdef/1000002";
  request.api = FetchApi::kWeComTicket;
  request.access_token = "tok+en/=&1";
  request.ticket_type = "jsapi";
  EXPECT_EQ(Fetch(client, request).value, "/qy/cgi-bin/get_jsapi_ticket");
  request.ticket_type = "agent_config";
  EXPECT_EQ(Fetch(client, request).value, "/qy/cgi-bin/ticket/get");
  const std::vector<SeenRequest> seen = wechat_.Seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_THAT(seen[0].params,
              ElementsAre(std::pair<const std::string, std::string>(
                  "access_token", "tok+en/=&1")));
  EXPECT_THAT(seen[1].params,
              ElementsAre(std::pair<const std::string, std::string>(
                              "access_token", "tok+en/=&1"),
                          std::pair<const std::string, std::string>(
                              "type", "agent_config")));
}

// A WeCom provider's token: a JSON POST of its corpid and secret, answered
// without an errcode.
TEST_F(CurlUpstreamTest, WeComProviderTokenPostsItsCorpAndSecret) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res, R"({"provider_access_token":"PROVIDER","expires_in":7200})");
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2), 8,
                            {wechat_.Base("qy")});
  FetchRequest request;
  request.app_id = "wwprovider0000001/provider";
  request.api = FetchApi::kWeComProviderToken;
  request.corp_id = "wwprovider0000001";
  request.secret = kSecret;
  const FetchResult result = Fetch(client, request);
  EXPECT_EQ(result.failure, FailureClass::kNone) << result.detail;
  EXPECT_EQ(result.value, "PROVIDER");
  EXPECT_EQ(result.expires_in, absl::Seconds(7200));
  EXPECT_THAT(result.detail, Not(HasSubstr(kSecret)));
  const std::vector<SeenRequest> seen = wechat_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/qy/cgi-bin/service/get_provider_token");
  google::protobuf::Struct body;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(seen[0].body, &body).ok());
  EXPECT_EQ(body.fields().at("corpid").string_value(), "wwprovider0000001");
  EXPECT_EQ(body.fields().at("provider_secret").string_value(), kSecret);
}

// The body of a JSON POST the fake server saw.
google::protobuf::Struct JsonBody(const SeenRequest& seen) {
  google::protobuf::Struct body;
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(seen.body, &body).ok())
      << "not JSON";
  return body;
}

// A suite's token: a JSON POST of its id, secret and the pushed ticket,
// answered without an errcode.
TEST_F(CurlUpstreamTest, WeComSuiteTokenPostsItsIdSecretAndTicket) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res, R"({"suite_access_token":"SUITE","expires_in":7200})");
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2), 8,
                            {wechat_.Base("qy")});
  FetchRequest request;
  request.app_id = "wwsuite000000001";
  request.api = FetchApi::kWeComSuiteToken;
  request.secret = kSecret;
  request.verify_ticket = "TICKET+/=&1";
  const FetchResult result = Fetch(client, request);
  EXPECT_EQ(result.failure, FailureClass::kNone) << result.detail;
  EXPECT_EQ(result.value, "SUITE");
  EXPECT_EQ(result.expires_in, absl::Seconds(7200));
  EXPECT_THAT(result.detail, HasSubstr("wecom.base_urls[0]"));
  const std::vector<SeenRequest> seen = wechat_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/qy/cgi-bin/service/get_suite_token");
  EXPECT_EQ(seen[0].content_type, "application/json");
  EXPECT_TRUE(seen[0].params.empty());
  const google::protobuf::Struct body = JsonBody(seen[0]);
  EXPECT_EQ(body.fields().size(), 3u);
  EXPECT_EQ(body.fields().at("suite_id").string_value(), "wwsuite000000001");
  EXPECT_EQ(body.fields().at("suite_secret").string_value(), kSecret);
  EXPECT_EQ(body.fields().at("suite_ticket").string_value(), "TICKET+/=&1");
}

// An install's auth code, exchanged with the suite token for the corp's
// permanent code; the v1 answer's corp token is not the value.
TEST_F(CurlUpstreamTest, WeComPermanentCodePostsTheAuthCode) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(
        res,
        R"({"access_token":"CORP","expires_in":7200,"permanent_code":"PERMANENT","auth_corp_info":{"corpid":"wwcorp0000000001","corp_name":"c"}})");
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2), 8,
                            {wechat_.Base("qy")});
  FetchRequest request;
  request.app_id = "wwsuite000000001";
  request.api = FetchApi::kWeComPermanentCode;
  request.access_token = "tok+en/=&1";
  request.authorization_code = "AUTH-CODE";
  const FetchResult result = Fetch(client, request);
  EXPECT_EQ(result.failure, FailureClass::kNone) << result.detail;
  EXPECT_EQ(result.value, "");
  EXPECT_EQ(result.refresh_token, "PERMANENT");
  EXPECT_EQ(result.auth_corp_id, "wwcorp0000000001");
  EXPECT_THAT(result.detail, Not(HasSubstr("PERMANENT")));
  const std::vector<SeenRequest> seen = wechat_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/qy/cgi-bin/service/get_permanent_code");
  EXPECT_EQ(seen[0].content_type, "application/json");
  EXPECT_THAT(seen[0].params,
              ElementsAre(std::pair<const std::string, std::string>(
                  "suite_access_token", "tok+en/=&1")));
  const google::protobuf::Struct body = JsonBody(seen[0]);
  EXPECT_EQ(body.fields().size(), 1u);
  EXPECT_EQ(body.fields().at("auth_code").string_value(), "AUTH-CODE");
}

// A corp's token: its corp id and permanent code, with the suite token.
TEST_F(CurlUpstreamTest, WeComCorpTokenPostsTheCorpAndItsPermanentCode) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res, TokenJson("CORP"));
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2), 8,
                            {wechat_.Base("qy0"), wechat_.Base("qy1")});
  EXPECT_EQ(client.BaseCount(FetchApi::kWeComCorpToken), 2u);
  FetchRequest request;
  request.app_id = "wwsuite000000001/wwcorp0000000001";
  request.api = FetchApi::kWeComCorpToken;
  request.base_index = 1;
  request.access_token = "tok+en/=&1";
  request.authorizer_app_id = "wwcorp0000000001";
  request.refresh_token = "PERMANENT";
  const FetchResult result = Fetch(client, request);
  EXPECT_EQ(result.failure, FailureClass::kNone) << result.detail;
  EXPECT_EQ(result.value, "CORP");
  EXPECT_EQ(result.expires_in, absl::Seconds(7200));
  EXPECT_THAT(result.detail, HasSubstr("wecom.base_urls[1]"));
  const std::vector<SeenRequest> seen = wechat_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/qy1/cgi-bin/service/get_corp_token");
  EXPECT_EQ(seen[0].content_type, "application/json");
  EXPECT_THAT(seen[0].params,
              ElementsAre(std::pair<const std::string, std::string>(
                  "suite_access_token", "tok+en/=&1")));
  const google::protobuf::Struct body = JsonBody(seen[0]);
  EXPECT_EQ(body.fields().size(), 2u);
  EXPECT_EQ(body.fields().at("auth_corpid").string_value(), "wwcorp0000000001");
  EXPECT_EQ(body.fields().at("permanent_code").string_value(), "PERMANENT");
}

// A suite API's errcode answer is classified per API: the sandbox's
// answers for a stale ticket, a stale suite token and a wrong permanent
// code.
TEST_F(CurlUpstreamTest, WeComSuiteErrcodesAreClassifiedPerApi) {
  wechat_.SetHandler([](const SeenRequest& req, httplib::Response& res) {
    if (req.path == "/qy/cgi-bin/service/get_suite_token") {
      Json(res, R"({"errcode":40085,"errmsg":"invalid suite_ticket"})");
    } else if (req.path == "/qy/cgi-bin/service/get_permanent_code") {
      Json(res, R"({"errcode":42009,"errmsg":"suite_access_token expired"})");
    } else {
      Json(res, R"({"errcode":40084,"errmsg":"invalid permanent_code"})");
    }
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2), 8,
                            {wechat_.Base("qy")});
  FetchRequest request;
  request.app_id = "wwsuite000000001";
  request.access_token = "SUITE";
  request.api = FetchApi::kWeComSuiteToken;
  FetchResult result = Fetch(client, request);
  EXPECT_EQ(result.failure, FailureClass::kTokenRejected);
  EXPECT_EQ(result.errcode, 40085);
  EXPECT_FALSE(result.maybe_issued);
  request.api = FetchApi::kWeComPermanentCode;
  result = Fetch(client, request);
  EXPECT_EQ(result.failure, FailureClass::kTokenRejected);
  EXPECT_EQ(result.errcode, 42009);
  request.api = FetchApi::kWeComCorpToken;
  result = Fetch(client, request);
  EXPECT_EQ(result.failure, FailureClass::kPermanent);
  EXPECT_EQ(result.errcode, 40084);
  EXPECT_THAT(result.detail,
              HasSubstr("errcode 40084: invalid permanent_code at "
                        "wecom.base_urls[0]"));
}

// WeCom's gettoken goes to wecom.base_urls, with the corp_id and the app's
// secret; WeChat's APIs stay on their own bases.
TEST_F(CurlUpstreamTest, WeComTokenGoesToTheWeComBases) {
  wechat_.SetHandler([](const SeenRequest& req, httplib::Response& res) {
    Json(res, TokenJson(req.base == "qy1" ? kToken : "elsewhere"));
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2), 8,
                            {wechat_.Base("qy0"), wechat_.Base("qy1")});
  EXPECT_EQ(client.BaseCount(FetchApi::kWeComToken), 2u);
  EXPECT_EQ(client.BaseCount(FetchApi::kClassic), 1u);
  FetchRequest request;
  request.app_id = "ww0123456789abcdef/1000002";
  request.api = FetchApi::kWeComToken;
  request.corp_id = "ww0123456789abcdef";
  request.secret = kSecret;
  request.base_index = 1;
  const FetchResult result = Fetch(client, request);

  EXPECT_EQ(result.failure, FailureClass::kNone) << result.detail;
  EXPECT_EQ(result.value, kToken);
  EXPECT_THAT(result.detail, HasSubstr("wecom.base_urls[1]"));
  EXPECT_THAT(result.detail, Not(HasSubstr(kSecret)));
  const std::vector<SeenRequest> seen = wechat_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].path, "/qy1/cgi-bin/gettoken");
  EXPECT_THAT(seen[0].params,
              ElementsAre(std::pair<const std::string, std::string>(
                              "corpid", "ww0123456789abcdef"),
                          std::pair<const std::string, std::string>(
                              "corpsecret", kSecret)));

  // A base the WeCom family does not have is refused, sending nothing.
  request.base_index = 2;
  EXPECT_EQ(Fetch(client, request).failure, FailureClass::kTransient);
  EXPECT_EQ(wechat_.Seen().size(), 1u);
}

TEST_F(CurlUpstreamTest, EachRequestGoesToTheBaseItNames) {
  wechat_.SetHandler([](const SeenRequest& req, httplib::Response& res) {
    Json(res, TokenJson(req.base == "b" ? kToken : "from-a"));
  });
  CurlUpstreamClient client({wechat_.Base("a"), wechat_.Base("b")},
                            absl::Seconds(2));
  EXPECT_EQ(client.BaseCount(FetchApi::kClassic), 2u);
  FetchRequest request = ClassicRequest();
  request.base_index = 1;
  const FetchResult result = Fetch(client, request);
  EXPECT_EQ(result.failure, FailureClass::kNone) << result.detail;
  EXPECT_EQ(result.value, kToken);
  EXPECT_THAT(result.detail, HasSubstr("at base_urls[1]"));
  // One request, one base: failover is the caller's (it counts each one).
  const std::vector<SeenRequest> seen = wechat_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].base, "b");
}

TEST_F(CurlUpstreamTest, ErrcodeAnswerIsCleanAndPermanent) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res, R"({"errcode":40125,"errmsg":"invalid appsecret"})");
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  const FetchResult result = Fetch(client, ClassicRequest());
  EXPECT_EQ(result.failure, FailureClass::kPermanent);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.errcode, 40125);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_THAT(result.detail,
              HasSubstr("errcode 40125: invalid appsecret at base_urls[0]"));
}

TEST_F(CurlUpstreamTest, ServerErrorIsTransientAndMaybeIssued) {
  wechat_.SetHandler(
      [](const SeenRequest&, httplib::Response& res) { res.status = 502; });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  const FetchResult result = Fetch(client, ClassicRequest());
  EXPECT_EQ(result.failure, FailureClass::kTransient);
  // The 502 may have come after WeChat issued a token.
  EXPECT_TRUE(result.maybe_issued);
  EXPECT_EQ(result.http_status, 502);
  EXPECT_THAT(result.detail, HasSubstr("HTTP 502 at base_urls[0]"));
}

TEST_F(CurlUpstreamTest, TransientErrcodeIsNotMaybeIssued) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res, R"({"errcode":-1,"errmsg":"system error"})");
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  const FetchResult result = Fetch(client, ClassicRequest());
  EXPECT_EQ(result.failure, FailureClass::kTransient);
  EXPECT_FALSE(result.maybe_issued);
}

TEST_F(CurlUpstreamTest, ABaseIndexPastTheEndSendsNothing) {
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  FetchRequest request = ClassicRequest();
  request.base_index = 1;
  const FetchResult result = Fetch(client, request);
  EXPECT_EQ(result.failure, FailureClass::kTransient);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_TRUE(wechat_.Seen().empty());
}

TEST_F(CurlUpstreamTest, TimeoutIsTransientAndMaybeIssued) {
  wechat_.SetHandler([this](const SeenRequest&, httplib::Response& res) {
    wechat_.SleepFor(std::chrono::milliseconds(1000));
    Json(res, TokenJson(kToken));
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  const FetchResult result = Fetch(client, ClassicRequest());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(900));

  EXPECT_EQ(result.failure, FailureClass::kTransient);
  EXPECT_TRUE(result.maybe_issued);
  EXPECT_EQ(result.http_status, 0);
  EXPECT_THAT(result.detail, HasSubstr("timeout after 200ms at base_urls[0]"));
}

TEST_F(CurlUpstreamTest, RefusedConnectionIsTransientAndNotIssued) {
  const int port = ClosedPort();
  CurlUpstreamClient client({absl::StrCat("http://127.0.0.1:", port)},
                            absl::Seconds(2));
  const FetchResult result = Fetch(client, ClassicRequest());
  EXPECT_EQ(result.failure, FailureClass::kTransient);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.http_status, 0);
  EXPECT_EQ(result.detail, absl::StrCat("connection refused at base_urls[0] (",
                                        "127.0.0.1:", port, ")"));
}

TEST_F(CurlUpstreamTest, GarbageBodyIsTransientAndMaybeIssued) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res, "<html>oops</html>");
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  const FetchResult result = Fetch(client, ClassicRequest());
  EXPECT_EQ(result.failure, FailureClass::kTransient);
  EXPECT_TRUE(result.maybe_issued);
  EXPECT_THAT(result.detail, Not(HasSubstr("oops")));
}

TEST_F(CurlUpstreamTest, OversizedBodyIsRefused) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res,
         TokenJson(std::string(CurlUpstreamClient::kMaxResponseBytes, 'x')));
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  const FetchResult result = Fetch(client, ClassicRequest());
  EXPECT_EQ(result.failure, FailureClass::kTransient);
  EXPECT_TRUE(result.maybe_issued);
  EXPECT_THAT(result.detail,
              HasSubstr(absl::StrCat("larger than ",
                                     CurlUpstreamClient::kMaxResponseBytes)));
}

TEST_F(CurlUpstreamTest, RedirectIsNotFollowed) {
  wechat_.SetHandler([this](const SeenRequest& req, httplib::Response& res) {
    if (req.base == "a") {
      res.set_redirect(wechat_.Base("c") + "/cgi-bin/token");
    } else {
      Json(res, TokenJson(kToken));
    }
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  const FetchResult result = Fetch(client, ClassicRequest());
  EXPECT_EQ(result.failure, FailureClass::kTransient);
  EXPECT_EQ(result.http_status, 302);
  EXPECT_EQ(wechat_.Seen().size(), 1u);
}

TEST_F(CurlUpstreamTest, FetchesRunConcurrently) {
  wechat_.SetHandler([this](const SeenRequest& req, httplib::Response& res) {
    const auto it = req.params.find("appid");
    if (it != req.params.end() && it->second == "slow") {
      wechat_.SleepFor(std::chrono::milliseconds(500));
      Json(res, TokenJson("SLOW"));
    } else {
      Json(res, TokenJson("FAST"));
    }
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  std::vector<std::string> order;
  auto record = [&order](FetchResult result) {
    EXPECT_EQ(result.failure, FailureClass::kNone) << result.detail;
    order.push_back(result.value);
  };
  FetchRequest slow = ClassicRequest();
  slow.app_id = "slow";
  const absl::Time start = absl::Now();
  client.Start(slow, record);
  client.Start(ClassicRequest(), record);
  EXPECT_EQ(client.InFlight(), 2);

  ASSERT_TRUE(PollUntil(client, [&] { return order.size() == 1; }));
  EXPECT_EQ(order[0], "FAST");
  EXPECT_EQ(client.InFlight(), 1);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(450));
  ASSERT_TRUE(PollUntil(client, [&] { return order.size() == 2; }));
  EXPECT_THAT(order, ElementsAre("FAST", "SLOW"));
  EXPECT_EQ(client.InFlight(), 0);
}

TEST_F(CurlUpstreamTest, WakeupEndsAWaitingPoll) {
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  std::thread waker([&client] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    client.Wakeup();
  });
  const absl::Time start = absl::Now();
  client.Poll(absl::Seconds(10));
  const absl::Duration waited = absl::Now() - start;
  waker.join();
  EXPECT_LT(waited, absl::Seconds(2));

  // A wakeup that comes before the Poll() is not lost.
  client.Wakeup();
  const absl::Time again = absl::Now();
  client.Poll(absl::Seconds(10));
  EXPECT_LT(absl::Now() - again, absl::Seconds(2));
}

TEST_F(CurlUpstreamTest, CallbackRunsInsidePollNotStart) {
  CurlUpstreamClient client({}, absl::Seconds(1));
  int calls = 0;
  FetchResult out;
  client.Start(ClassicRequest(), [&](FetchResult result) {
    ++calls;
    out = std::move(result);
  });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(client.InFlight(), 1);
  client.Poll(absl::Seconds(10));  // must not wait: a callback is due
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(client.InFlight(), 0);
  EXPECT_EQ(out.failure, FailureClass::kTransient);
  EXPECT_FALSE(out.maybe_issued);
}

TEST_F(CurlUpstreamTest, CallbackMayStartAnotherFetch) {
  wechat_.SetHandler([](const SeenRequest&, httplib::Response& res) {
    Json(res, TokenJson(kToken));
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  int calls = 0;
  client.Start(ClassicRequest(), [&](FetchResult) {
    ++calls;
    client.Start(ClassicRequest(), [&](FetchResult) { ++calls; });
  });
  ASSERT_TRUE(PollUntil(client, [&] { return calls == 2; }));
  EXPECT_EQ(client.InFlight(), 0);
}

TEST_F(CurlUpstreamTest, DestructorAbandonsInFlightFetches) {
  wechat_.SetHandler([this](const SeenRequest&, httplib::Response& res) {
    wechat_.SleepFor(std::chrono::milliseconds(1000));
    Json(res, TokenJson(kToken));
  });
  int calls = 0;
  {
    CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
    client.Start(ClassicRequest(), [&](FetchResult) { ++calls; });
    client.Poll(absl::Milliseconds(50));
  }
  EXPECT_EQ(calls, 0);
}

TEST_F(CurlUpstreamTest, DetailsNeverContainTheSecret) {
  const std::string secret = "s3cr3t-VALUE-0123";
  wechat_.SetHandler(
      [this, secret](const SeenRequest& req, httplib::Response& res) {
        if (req.base == "echo") {
          // A hostile or buggy server echoing the request back.
          Json(res, absl::StrCat(R"({"errcode":40125,"errmsg":"bad secret )",
                                 secret, R"("})"));
        } else if (req.base == "garbage") {
          Json(res, "secret=" + secret);
        } else if (req.base == "slow") {
          wechat_.SleepFor(std::chrono::milliseconds(1000));
        } else {
          res.status = 500;
          res.set_content("secret=" + secret, "text/plain");
        }
      });
  const std::vector<std::vector<std::string>> setups = {
      {wechat_.Base("echo")},
      {wechat_.Base("garbage")},
      {wechat_.Base("slow")},
      {wechat_.Base("error"), absl::StrCat("http://127.0.0.1:", ClosedPort()),
       wechat_.Base("garbage")},
      {"http://user:" + secret + "@127.0.0.1:" + std::to_string(ClosedPort())},
  };
  for (const auto& bases : setups) {
    CurlUpstreamClient client(bases, absl::Milliseconds(200));
    for (FetchApi api : {FetchApi::kClassic, FetchApi::kStable}) {
      for (size_t base = 0; base < bases.size(); ++base) {
        FetchRequest request = ClassicRequest();
        request.api = api;
        request.secret = secret;
        request.base_index = base;
        const FetchResult result = Fetch(client, request);
        EXPECT_NE(result.failure, FailureClass::kNone);
        EXPECT_THAT(result.detail, Not(HasSubstr(secret)));
        EXPECT_THAT(result.detail, Not(HasSubstr("s3cr3t")));
      }
    }
  }
}

// What a suite's requests carry (secret, ticket, suite token, auth code,
// permanent code) never reaches a detail or an errmsg, even when a server
// echoes the whole request back.
TEST_F(CurlUpstreamTest, SuiteDetailsNeverContainTheCredentials) {
  const std::vector<std::string> credentials = {
      "SUITE-SECRET-9", "SUITE-TICKET-8", "SUITE-TOKEN-7", "AUTH-CODE-6",
      "PERMANENT-CODE-5"};
  wechat_.SetHandler([](const SeenRequest& req, httplib::Response& res) {
    // Every string the request carried, back in errmsg (or, for "garbage",
    // in a body that is no JSON).
    std::string echo = req.body;
    for (const auto& [name, value] : req.params) {
      absl::StrAppend(&echo, " ", name, "=", value);
    }
    if (req.base == "garbage") {
      Json(res, echo);
      return;
    }
    google::protobuf::Struct answer;
    auto& fields = *answer.mutable_fields();
    fields["errcode"].set_number_value(47001);
    fields["errmsg"].set_string_value(absl::StrCat("data format error ", echo));
    std::string json;
    ASSERT_TRUE(
        google::protobuf::util::MessageToJsonString(answer, &json).ok());
    Json(res, json);
  });
  for (const char* base : {"echo", "garbage"}) {
    CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2), 8,
                              {wechat_.Base(base)});
    for (FetchApi api :
         {FetchApi::kWeComSuiteToken, FetchApi::kWeComPermanentCode,
          FetchApi::kWeComCorpToken}) {
      FetchRequest request;
      request.app_id = "wwsuite000000001";
      request.api = api;
      request.secret = credentials[0];
      request.verify_ticket = credentials[1];
      request.access_token = credentials[2];
      request.authorization_code = credentials[3];
      request.authorizer_app_id = "wwcorp0000000001";
      request.refresh_token = credentials[4];
      const FetchResult result = Fetch(client, request);
      EXPECT_EQ(result.failure, FailureClass::kTransient);
      if (std::string(base) == "echo") {
        EXPECT_EQ(result.errcode, 47001);
        // The echo did arrive, scrubbed.
        EXPECT_THAT(result.errmsg, HasSubstr("<redacted>"));
        EXPECT_THAT(result.detail, HasSubstr("<redacted>"));
      }
      for (const std::string& credential : credentials) {
        EXPECT_THAT(result.detail, Not(HasSubstr(credential)));
        EXPECT_THAT(result.errmsg, Not(HasSubstr(credential)));
      }
    }
  }
}

// WeChat's errmsg is cut to kMaxErrmsgLength bytes: an echoed credential
// that straddles the cut is scrubbed whole first, so no prefix of it is left
// behind the cut.
TEST_F(CurlUpstreamTest, ACredentialAcrossTheErrmsgCutLeavesNoPrefix) {
  const std::string secret = "SECRET-ACROSS-THE-CUT-0123456789";
  wechat_.SetHandler([&secret](const SeenRequest&, httplib::Response& res) {
    google::protobuf::Struct answer;
    auto& fields = *answer.mutable_fields();
    fields["errcode"].set_number_value(40013);
    // The secret starts 12 bytes before the cut.
    fields["errmsg"].set_string_value(
        absl::StrCat(std::string(kMaxErrmsgLength - 12, 'e'), secret));
    std::string json;
    ASSERT_TRUE(
        google::protobuf::util::MessageToJsonString(answer, &json).ok());
    Json(res, json);
  });
  CurlUpstreamClient client({wechat_.Base("a")}, absl::Seconds(2));
  FetchRequest request;
  request.app_id = "wx0000000000000001";
  request.api = FetchApi::kClassic;
  request.secret = secret;
  const FetchResult result = Fetch(client, request);
  EXPECT_EQ(result.errcode, 40013);
  EXPECT_LE(result.errmsg.size(), kMaxErrmsgLength);
  const std::string prefix = secret.substr(0, 6);  // "SECRET"
  EXPECT_THAT(result.errmsg, Not(HasSubstr(prefix))) << result.errmsg;
  EXPECT_THAT(result.detail, Not(HasSubstr(prefix))) << result.detail;
}

}  // namespace
}  // namespace wxtoken::server
