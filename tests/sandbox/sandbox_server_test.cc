#include "tests/sandbox/sandbox_server.h"

#include <signal.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/wechat/envelope.h"
#include "server/wechat/flat_xml.h"
#include "server/wechat/message_crypto.h"
#include "server/wechat/platform_event.h"
#include "server/wechat/signature.h"
#include "tests/sandbox/fault_queue.h"
#include "tests/sandbox/json.h"
#include "tests/sandbox/sandbox_state.h"
#include "tests/sandbox/wecom_provider_state.h"
#include "tests/sandbox/wecom_state.h"
#include "tests/sandbox/wecom_suite_pusher.h"
#include "tests/sandbox/wecom_suite_state.h"

namespace wxtoken::sandbox {
namespace {

using google::protobuf::Struct;

constexpr char kTokenPath[] =
    "/cgi-bin/token?grant_type=client_credential&appid=wxapp1&secret=s1";
constexpr char kStableBody[] =
    R"({"grant_type":"client_credential","appid":"wxapp1","secret":"s1"})";

// Drives the real HTTP layer over loopback, so what the end-to-end tests rely
// on (JSON shapes, faults as a client sees them) is checked here first.
class SandboxServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }

  void SetUp() override {
    state_ = std::make_unique<SandboxState>(
        SandboxOptions(), std::map<std::string, std::string>{{"wxapp1", "s1"}});
    server_ = std::make_unique<SandboxServer>(state_.get(), &faults_);
    server_->ServePlatforms(&platforms_);
    server_->ServeWeCom(&wecom_);
    ASSERT_TRUE(suite_pusher_.AddSuite(kSuite, kSuiteToken, kSuiteAesKey).ok());
    server_->ServeWeComService(&providers_, &suites_, &suite_pusher_,
                               absl::ZeroDuration());
    absl::StatusOr<int> port = server_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client_->set_read_timeout(5, 0);
  }

  void TearDown() override { server_->Stop(); }

  // The body of a 200 answer, parsed; nullopt (and a failure) otherwise.
  std::optional<Struct> GetJson(const std::string& path) {
    httplib::Result res = client_->Get(path.c_str());
    if (!res || res->status != 200) {
      ADD_FAILURE() << path << ": no 200 answer";
      return std::nullopt;
    }
    return ParseJsonObject(res->body);
  }

  // POSTs `body`; the 200 answer's body parsed, nullopt (and a failure)
  // otherwise.
  std::optional<Struct> PostJson(const std::string& path,
                                 const std::string& body = "") {
    httplib::Result res = client_->Post(path.c_str(), body, "application/json");
    if (!res || res->status != 200) {
      ADD_FAILURE() << path << ": no 200 answer";
      return std::nullopt;
    }
    return ParseJsonObject(res->body);
  }

  void AddFault(const std::string& query) {
    httplib::Result res = client_->Post(("/sandbox/fault?" + query).c_str());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  }

  static double Number(const Struct& s, const std::string& key) {
    return s.fields().at(key).number_value();
  }
  static std::string String(const Struct& s, const std::string& key) {
    return s.fields().at(key).string_value();
  }

  FaultQueue faults_;
  PlatformState platforms_{PlatformOptions(),
                           {{"wxcomponent00000001", "component-secret"}}};
  // Two failed gettoken calls block, so the test need not make 2000.
  static WeComOptions TestWeComOptions() {
    WeComOptions options;
    options.failures_before_block = 2;
    return options;
  }
  WeComState wecom_{
      TestWeComOptions(),
      {{"wwcorp1/1000001", "secret-a"}, {"wwcorp1/1000002", "secret-b"}}};
  static constexpr char kSuite[] = "wwsuite1";
  static constexpr char kSuiteToken[] = "suite-push-token";
  static constexpr char kSuiteAesKey[] =
      "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
  WeComProviderState providers_{WeComProviderOptions(),
                                {{"wwprovider1", "provider-secret"}}};
  WeComSuiteState suites_{WeComSuiteOptions(), {{kSuite, "suite-secret"}}};
  WeComSuitePusher suite_pusher_;
  std::unique_ptr<SandboxState> state_;
  std::unique_ptr<SandboxServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

// Stands in for wxtokend's push_listen for suites: checks a push as WeCom
// sends it (msg_signature over the Encrypt of a <ToUserName>-<Encrypt>-
// <AgentID> envelope, no encrypt_type, receive id = suite_id), keeps the
// decrypted event's fields and answers "success".
class SuiteReceiver {
 public:
  using Event = std::map<std::string, std::string>;

  SuiteReceiver(std::string suite_id, std::string token, std::string aes_key)
      : suite_id_(std::move(suite_id)),
        token_(std::move(token)),
        aes_key_(std::move(aes_key)) {
    server_.Post("/wecom/suite/" + suite_id_,
                 [this](const httplib::Request& req, httplib::Response& res) {
                   std::optional<Event> event = Open(req);
                   if (!event) {
                     res.status = 400;
                     return;
                   }
                   absl::MutexLock lock(&mu_);
                   events_.push_back(*std::move(event));
                   res.set_content("success", "text/plain");
                 });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~SuiteReceiver() {
    // httplib ignores stop() until its accept loop runs.
    while (port_ > 0 && !server_.is_running()) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    server_.stop();
    thread_.join();
  }

  std::string base() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::vector<Event> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // Waits (10 s at most) until `n` events came.
  bool WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    const auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return events_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }

 private:
  std::optional<Event> Open(const httplib::Request& req) const {
    bool agent_id_empty = false;
    const absl::Status envelope_fields = server::ReadFlatXml(
        req.body, [&](absl::string_view name, absl::string_view text) {
          if (name == "AgentID") agent_id_empty = text.empty();
          return absl::OkStatus();
        });
    absl::StatusOr<server::PushEnvelope> envelope =
        server::ParsePushEnvelope(req.body);
    absl::StatusOr<server::MessageKey> key =
        server::MessageKey::FromEncodingAesKey(aes_key_);
    if (!envelope_fields.ok() || !agent_id_empty || !envelope.ok() ||
        envelope->to_user_name != suite_id_ || !key.ok() ||
        req.has_param("encrypt_type") ||
        !server::VerifyPushSignature(
             token_, req.get_param_value("msg_signature"),
             req.get_param_value("timestamp"), req.get_param_value("nonce"),
             envelope->encrypt)
             .valid) {
      return std::nullopt;
    }
    absl::StatusOr<std::string> plaintext =
        server::DecryptMessage(*key, suite_id_, envelope->encrypt);
    if (!plaintext.ok()) return std::nullopt;
    Event event;
    const absl::Status read = server::ReadFlatXml(
        *plaintext, [&event](absl::string_view name, absl::string_view text) {
          event[std::string(name)] = std::string(text);
          return absl::OkStatus();
        });
    if (!read.ok()) return std::nullopt;
    return event;
  }

  const std::string suite_id_;
  const std::string token_;
  const std::string aes_key_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
};

TEST_F(SandboxServerTest, ServesTokensTicketsAndValidity) {
  std::optional<Struct> token = GetJson(kTokenPath);
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(Number(*token, "expires_in"), 7200);
  const std::string value = String(*token, "access_token");

  httplib::Result stable =
      client_->Post("/cgi-bin/stable_token", kStableBody, "application/json");
  ASSERT_TRUE(stable);
  std::optional<Struct> stable_json = ParseJsonObject(stable->body);
  ASSERT_TRUE(stable_json.has_value());
  EXPECT_NE(String(*stable_json, "access_token"), value);

  std::optional<Struct> ticket =
      GetJson("/cgi-bin/ticket/getticket?type=jsapi&access_token=" + value);
  ASSERT_TRUE(ticket.has_value());
  EXPECT_EQ(Number(*ticket, "errcode"), 0);
  EXPECT_EQ(String(*ticket, "errmsg"), "ok");
  EXPECT_FALSE(String(*ticket, "ticket").empty());

  std::optional<Struct> valid = GetJson("/sandbox/valid?access_token=" + value);
  ASSERT_TRUE(valid.has_value());
  EXPECT_TRUE(valid->fields().at("valid").bool_value());
  EXPECT_EQ(String(*valid, "appid"), "wxapp1");
  EXPECT_EQ(String(*valid, "kind"), "classic");
  valid = GetJson("/sandbox/valid?ticket=" + String(*ticket, "ticket"));
  ASSERT_TRUE(valid.has_value());
  EXPECT_EQ(String(*valid, "kind"), "ticket");
  valid = GetJson("/sandbox/valid?access_token=nope");
  ASSERT_TRUE(valid.has_value());
  EXPECT_FALSE(valid->fields().at("valid").bool_value());
  EXPECT_EQ(String(*valid, "reason"), "unknown");

  std::optional<Struct> stats = GetJson("/sandbox/stats");
  ASSERT_TRUE(stats.has_value());
  const Struct& app = stats->fields()
                          .at("apps")
                          .struct_value()
                          .fields()
                          .at("wxapp1")
                          .struct_value();
  EXPECT_EQ(Number(app, "token_calls"), 1);
  EXPECT_EQ(Number(app, "stable_calls"), 1);
  EXPECT_EQ(Number(app, "ticket_calls"), 1);
  EXPECT_EQ(Number(app, "tokens_issued"), 2);
}

TEST_F(SandboxServerTest, AnswersErrorsLikeWeChat) {
  std::optional<Struct> error = GetJson(
      "/cgi-bin/token?grant_type=client_credential&appid=wxapp1&secret=no");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(Number(*error, "errcode"), 40125);
  httplib::Result res =
      client_->Post("/cgi-bin/stable_token", "{not json", "application/json");
  ASSERT_TRUE(res);
  error = ParseJsonObject(res->body);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(Number(*error, "errcode"), 47001);
}

TEST_F(SandboxServerTest, InjectsFaultsInOrder) {
  AddFault("kind=errcode&errcode=40164&endpoint=token");
  AddFault("kind=http500");
  AddFault("kind=malformed");
  AddFault("kind=drop");

  std::optional<Struct> error = GetJson(kTokenPath);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(Number(*error, "errcode"), 40164);
  // As WeChat's, it names the address the call came from.
  EXPECT_EQ(String(*error, "errmsg"),
            "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: "
            "sandbox");

  httplib::Result res = client_->Get(kTokenPath);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);

  res = client_->Get(kTokenPath);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(ParseJsonObject(res->body), std::nullopt);

  res = client_->Get(kTokenPath);
  EXPECT_FALSE(res) << "dropped, yet answered " << res->status;

  EXPECT_TRUE(GetJson(kTokenPath).has_value());
  std::optional<Struct> stats = GetJson("/sandbox/stats");
  ASSERT_TRUE(stats.has_value());
  const Struct& app = stats->fields()
                          .at("apps")
                          .struct_value()
                          .fields()
                          .at("wxapp1")
                          .struct_value();
  EXPECT_EQ(Number(app, "token_calls"), 5);
  EXPECT_EQ(Number(app, "quota_used_today"), 5);
  EXPECT_EQ(Number(app, "tokens_issued"), 1);
}

TEST_F(SandboxServerTest, SlowFaultStillIssuesAToken) {
  AddFault("kind=slow&delay_ms=300&endpoint=stable_token");
  const absl::Time start = absl::Now();
  httplib::Result res =
      client_->Post("/cgi-bin/stable_token", kStableBody, "application/json");
  ASSERT_TRUE(res);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  std::optional<Struct> token = ParseJsonObject(res->body);
  ASSERT_TRUE(token.has_value());
  EXPECT_TRUE(
      state_->Check(String(*token, "access_token"), absl::Now()).valid());
}

TEST_F(SandboxServerTest, RejectsBadFaultsAndClears) {
  httplib::Result res = client_->Post("/sandbox/fault?kind=explode");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  // GET works too, for scripts that POST without a Content-Length.
  res = client_->Get("/sandbox/fault?kind=http500&count=-1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = client_->Get(kTokenPath);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  res = client_->Post("/sandbox/fault/clear");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(GetJson(kTokenPath).has_value());
  res = client_->Get("/sandbox/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "ok\n");
}

// A platform's whole path over HTTP, as wxtokend will walk it: a pushed
// ticket, the component token, an authorization, its code exchanged, the
// authorizer's token refreshed, the list, and a revocation.
TEST_F(SandboxServerTest, ServesAThirdPartyPlatform) {
  const std::string component = "wxcomponent00000001";
  std::optional<Struct> ticket =
      PostJson("/sandbox/platform/ticket?component_appid=" + component);
  ASSERT_TRUE(ticket);
  std::optional<Struct> token =
      PostJson("/cgi-bin/component/api_component_token",
               R"({"component_appid":")" + component +
                   R"(","component_appsecret":"component-secret",)" +
                   R"("component_verify_ticket":")" +
                   String(*ticket, "ticket") + R"("})");
  ASSERT_TRUE(token);
  const std::string component_token = String(*token, "component_access_token");
  EXPECT_EQ(Number(*token, "expires_in"), 7200);
  std::optional<Struct> code =
      PostJson("/sandbox/platform/authorize?component_appid=" + component +
               "&authorizer_appid=wx0123456789abcdef");
  ASSERT_TRUE(code);
  std::optional<Struct> auth = PostJson(
      "/cgi-bin/component/api_query_auth?component_access_token=" +
          component_token,
      R"({"component_appid":")" + component + R"(","authorization_code":")" +
          String(*code, "authorization_code") + R"("})");
  ASSERT_TRUE(auth);
  const Struct& info = auth->fields().at("authorization_info").struct_value();
  EXPECT_EQ(String(info, "authorizer_appid"), "wx0123456789abcdef");
  const std::string refresh = String(info, "authorizer_refresh_token");
  std::optional<Struct> refreshed = PostJson(
      "/cgi-bin/component/api_authorizer_token?access_token=" + component_token,
      R"({"component_appid":")" + component +
          R"(","authorizer_appid":"wx0123456789abcdef",)" +
          R"("authorizer_refresh_token":")" + refresh + R"("})");
  ASSERT_TRUE(refreshed);
  const std::string access = String(*refreshed, "authorizer_access_token");
  EXPECT_EQ(String(*refreshed, "authorizer_refresh_token"), refresh);
  std::optional<Struct> list = PostJson(
      "/cgi-bin/component/api_get_authorizer_list?component_access_token=" +
          component_token,
      R"({"component_appid":")" + component + R"(","offset":0,"count":100})");
  ASSERT_TRUE(list);
  EXPECT_EQ(Number(*list, "total_count"), 1);
  EXPECT_EQ(
      String(list->fields().at("list").list_value().values(0).struct_value(),
             "refresh_token"),
      refresh);
  std::optional<Struct> valid =
      GetJson("/sandbox/valid?access_token=" + access);
  ASSERT_TRUE(valid);
  EXPECT_TRUE(valid->fields().at("valid").bool_value());
  EXPECT_EQ(String(*valid, "kind"), "authorizer_token");
  ASSERT_TRUE(PostJson("/sandbox/platform/unauthorize?component_appid=" +
                       component + "&authorizer_appid=wx0123456789abcdef"));
  valid = GetJson("/sandbox/valid?access_token=" + access);
  ASSERT_TRUE(valid);
  EXPECT_EQ(String(*valid, "reason"), "revoked");
  // A wrong shape is WeChat's 47001; a bad token its 40001.
  std::optional<Struct> bad =
      PostJson("/cgi-bin/component/api_get_authorizer_list?access_token=x",
               R"({"component_appid":")" + component + R"(","offset":"0"})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(Number(*bad, "errcode"), 47001);
  bad = PostJson("/cgi-bin/component/api_get_authorizer_list?access_token=x",
                 R"({"offset":0,"count":1})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(Number(*bad, "errcode"), 40001);
}

// The sandbox pushes a platform's events as WeChat does; wxtokend's own
// checks (signature, envelope, decryption, event) accept them.
TEST_F(SandboxServerTest, PushesAPlatformsEventsSignedAndEncrypted) {
  const std::string component = "wxcomponent00000001";
  const std::string token = "push-token";
  const std::string aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
  std::vector<server::PlatformEvent> received;
  absl::Mutex mu;
  httplib::Server receiver;
  receiver.Post("/wechat/platform/" + component,
                [&](const httplib::Request& req, httplib::Response& res) {
                  absl::StatusOr<server::PushEnvelope> envelope =
                      server::ParsePushEnvelope(req.body);
                  absl::StatusOr<server::MessageKey> key =
                      server::MessageKey::FromEncodingAesKey(aes_key);
                  if (!envelope.ok() || !key.ok() ||
                      req.get_param_value("encrypt_type") != "aes" ||
                      !server::VerifyPushSignature(
                           token, req.get_param_value("msg_signature"),
                           req.get_param_value("timestamp"),
                           req.get_param_value("nonce"), envelope->encrypt)
                           .valid) {
                    res.status = 400;
                    return;
                  }
                  absl::StatusOr<std::string> plaintext =
                      server::DecryptMessage(*key, component,
                                             envelope->encrypt);
                  if (!plaintext.ok()) {
                    res.status = 400;
                    return;
                  }
                  absl::StatusOr<server::PlatformEvent> event =
                      server::ParsePlatformEvent(*plaintext);
                  if (!event.ok()) {
                    res.status = 400;
                    return;
                  }
                  absl::MutexLock lock(&mu);
                  received.push_back(*std::move(event));
                  res.set_content("success", "text/plain");
                });
  const int port = receiver.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { receiver.listen_after_bind(); });
  ASSERT_TRUE(PostJson(absl::StrCat(
      "/sandbox/platform/push_target?component_appid=", component,
      "&url=http://127.0.0.1:", port, "/wechat/platform/", component,
      "&server_token=", token, "&encoding_aes_key=", aes_key)));

  std::optional<Struct> ticket =
      PostJson("/sandbox/platform/ticket?component_appid=" + component);
  std::optional<Struct> code =
      PostJson("/sandbox/platform/authorize?component_appid=" + component +
               "&authorizer_appid=wx0123456789abcdef");
  std::optional<Struct> revoked =
      PostJson("/sandbox/platform/unauthorize?component_appid=" + component +
               "&authorizer_appid=wx0123456789abcdef");
  receiver.stop();
  serving.join();
  ASSERT_TRUE(ticket && code && revoked);
  for (const Struct* answer : {&*ticket, &*code, &*revoked}) {
    EXPECT_EQ(Number(*answer, "push_status"), 200);
    EXPECT_EQ(String(*answer, "push_body"), "success");
  }
  absl::MutexLock lock(&mu);
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[0].type, server::PlatformEvent::Type::kVerifyTicket);
  EXPECT_EQ(received[0].ticket, String(*ticket, "ticket"));
  EXPECT_EQ(received[1].type, server::PlatformEvent::Type::kAuthorized);
  EXPECT_EQ(received[1].authorization_code,
            String(*code, "authorization_code"));
  EXPECT_EQ(received[2].type, server::PlatformEvent::Type::kUnauthorized);
  EXPECT_EQ(received[2].authorizer_app_id, "wx0123456789abcdef");
  // A target that is not a URL is refused.
  httplib::Result bad = client_->Post(
      "/sandbox/platform/push_target?component_appid=x&url=ftp://h/p");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

// WeCom's answers as a client sees them: errcode 0 and errmsg "ok" on
// success too, tickets for the corp and the app, its values known to
// /sandbox/valid, its counters in /sandbox/stats.
TEST_F(SandboxServerTest, ServesWeCom) {
  std::optional<Struct> token =
      GetJson("/cgi-bin/gettoken?corpid=wwcorp1&corpsecret=secret-b");
  ASSERT_TRUE(token);
  EXPECT_EQ(Number(*token, "errcode"), 0);
  EXPECT_EQ(String(*token, "errmsg"), "ok");
  EXPECT_EQ(Number(*token, "expires_in"), 7200);
  const std::string value = String(*token, "access_token");

  std::optional<Struct> corp =
      GetJson("/cgi-bin/get_jsapi_ticket?access_token=" + value);
  ASSERT_TRUE(corp);
  EXPECT_EQ(Number(*corp, "errcode"), 0);
  EXPECT_EQ(String(*corp, "errmsg"), "ok");
  EXPECT_EQ(Number(*corp, "expires_in"), 7200);
  std::optional<Struct> agent =
      GetJson("/cgi-bin/ticket/get?type=agent_config&access_token=" + value);
  ASSERT_TRUE(agent);
  EXPECT_EQ(Number(*agent, "errcode"), 0);
  EXPECT_NE(String(*agent, "ticket"), String(*corp, "ticket"));
  std::optional<Struct> bad =
      GetJson("/cgi-bin/ticket/get?type=agent_config&access_token=nope");
  ASSERT_TRUE(bad);
  EXPECT_EQ(Number(*bad, "errcode"), 40014);

  std::optional<Struct> valid = GetJson("/sandbox/valid?access_token=" + value);
  ASSERT_TRUE(valid);
  EXPECT_TRUE(valid->fields().at("valid").bool_value());
  EXPECT_EQ(String(*valid, "appid"), "wwcorp1/1000002");
  EXPECT_EQ(String(*valid, "kind"), "wecom_token");
  valid = GetJson("/sandbox/valid?ticket=" + String(*agent, "ticket"));
  ASSERT_TRUE(valid);
  EXPECT_EQ(String(*valid, "kind"), "wecom_agent_ticket");

  std::optional<Struct> stats = GetJson("/sandbox/stats");
  ASSERT_TRUE(stats);
  const auto& wecom = stats->fields().at("wecom").struct_value().fields();
  const Struct& app = wecom.at("wwcorp1/1000002").struct_value();
  EXPECT_EQ(Number(app, "gettoken_calls"), 1);
  EXPECT_EQ(Number(app, "agent_ticket_calls"), 1);
  EXPECT_EQ(Number(app, "ticket_calls_last_hour"), 1);
  EXPECT_EQ(Number(app, "ticket_rate_limited"), 0);
  const Struct& corp_stats = wecom.at("wwcorp1").struct_value();
  EXPECT_EQ(Number(corp_stats, "corp_ticket_calls"), 1);
  EXPECT_EQ(Number(corp_stats, "ticket_rate_limited"), 0);
  EXPECT_EQ(Number(wecom.at("").struct_value(), "agent_ticket_calls"), 1);
}

TEST_F(SandboxServerTest, WeComBlocksAfterFailuresAndTakesFaults) {
  const std::string good =
      "/cgi-bin/gettoken?corpid=wwcorp1&corpsecret=secret-a";
  AddFault("kind=errcode&errcode=60020&endpoint=gettoken");
  AddFault("kind=http500&endpoint=get_jsapi_ticket");
  AddFault("kind=malformed&endpoint=ticket_get");
  // An injected 60020 names the caller's address, as WeCom's does.
  std::optional<Struct> error = GetJson(good);
  ASSERT_TRUE(error);
  EXPECT_EQ(Number(*error, "errcode"), 60020);
  EXPECT_THAT(String(*error, "errmsg"),
              ::testing::StartsWith("not allow to access from your ip, "));
  EXPECT_THAT(String(*error, "errmsg"),
              ::testing::HasSubstr("from ip: 127.0.0.1"));
  std::optional<Struct> token = GetJson(good);
  ASSERT_TRUE(token);
  const std::string value = String(*token, "access_token");
  httplib::Result res =
      client_->Get(("/cgi-bin/get_jsapi_ticket?access_token=" + value).c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  res = client_->Get(
      ("/cgi-bin/ticket/get?type=agent_config&access_token=" + value).c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(ParseJsonObject(res->body), std::nullopt);

  // Bad corp, bad secret: with this test's threshold of 2, blocked.
  error = GetJson("/cgi-bin/gettoken?corpid=wwnobody&corpsecret=x");
  ASSERT_TRUE(error);
  EXPECT_EQ(Number(*error, "errcode"), 40013);
  error = GetJson("/cgi-bin/gettoken?corpid=wwcorp1&corpsecret=x");
  ASSERT_TRUE(error);
  EXPECT_EQ(Number(*error, "errcode"), 40001);
  error = GetJson(good);
  ASSERT_TRUE(error);
  EXPECT_EQ(Number(*error, "errcode"), 60020);
  EXPECT_THAT(String(*error, "errmsg"),
              ::testing::HasSubstr("from ip: 127.0.0.1"));

  std::optional<Struct> stats = GetJson("/sandbox/stats");
  ASSERT_TRUE(stats);
  const auto& wecom = stats->fields().at("wecom").struct_value().fields();
  const Struct& app = wecom.at("wwcorp1/1000001").struct_value();
  EXPECT_EQ(Number(app, "gettoken_calls"), 3);
  EXPECT_EQ(Number(app, "gettoken_failures"), 1);
  EXPECT_EQ(Number(app, "tokens_issued"), 1);
  EXPECT_EQ(Number(app, "agent_ticket_calls"), 1);
  EXPECT_EQ(Number(wecom.at("wwcorp1").struct_value(), "corp_ticket_calls"), 1);
  EXPECT_EQ(Number(wecom.at("wwcorp1").struct_value(), "gettoken_failures"), 1);
}

// WeCom's service-provider side as wxtokend sees it: a provider token; a
// suite_ticket pushed encrypted and signed, traded for a suite token; a
// corp's install pushed with an auth code, traded once for a permanent code;
// corp tokens that /sandbox/valid knows and an uninstall ends.
TEST_F(SandboxServerTest, ServesWeComSuitesAndPushesTheirEvents) {
  std::optional<Struct> provider = PostJson(
      "/cgi-bin/service/get_provider_token",
      R"({"corpid":"wwprovider1","provider_secret":"provider-secret"})");
  ASSERT_TRUE(provider);
  EXPECT_FALSE(provider->fields().contains("errcode"));
  EXPECT_EQ(Number(*provider, "expires_in"), 7200);
  std::optional<Struct> valid =
      GetJson("/sandbox/valid?access_token=" +
              String(*provider, "provider_access_token"));
  ASSERT_TRUE(valid);
  EXPECT_TRUE(valid->fields().at("valid").bool_value());
  EXPECT_EQ(String(*valid, "kind"), "wecom_provider_token");
  std::optional<Struct> refused =
      PostJson("/cgi-bin/service/get_provider_token",
               R"({"corpid":"wwprovider1","provider_secret":"wrong"})");
  ASSERT_TRUE(refused);
  EXPECT_EQ(Number(*refused, "errcode"), 40001);

  SuiteReceiver receiver(kSuite, kSuiteToken, kSuiteAesKey);
  ASSERT_TRUE(PostJson("/sandbox/wecom/push_base?url=" + receiver.base()));
  std::optional<Struct> ticket =
      PostJson(std::string("/sandbox/wecom/suite_ticket?suite_id=") + kSuite);
  ASSERT_TRUE(ticket);
  EXPECT_EQ(Number(*ticket, "push_status"), 200);
  EXPECT_EQ(String(*ticket, "push_body"), "success");
  std::optional<Struct> suite = PostJson(
      "/cgi-bin/service/get_suite_token",
      absl::StrCat(R"({"suite_id":"wwsuite1","suite_secret":"suite-secret",)",
                   R"("suite_ticket":")", String(*ticket, "ticket"), R"("})"));
  ASSERT_TRUE(suite);
  EXPECT_FALSE(suite->fields().contains("errcode"));
  const std::string suite_token = String(*suite, "suite_access_token");

  std::optional<Struct> installed =
      PostJson("/sandbox/wecom/install?suite_id=wwsuite1&corp_id=wwcorpA");
  ASSERT_TRUE(installed);
  EXPECT_EQ(String(*installed, "push_body"), "success");
  const std::string code_body = absl::StrCat(
      R"({"auth_code":")", String(*installed, "auth_code"), R"("})");
  const std::string permanent_path =
      "/cgi-bin/service/get_permanent_code?suite_access_token=" + suite_token;
  std::optional<Struct> permanent = PostJson(permanent_path, code_body);
  ASSERT_TRUE(permanent);
  EXPECT_EQ(
      String(permanent->fields().at("auth_corp_info").struct_value(), "corpid"),
      "wwcorpA");
  const std::string permanent_code = String(*permanent, "permanent_code");
  std::optional<Struct> again = PostJson(permanent_path, code_body);
  ASSERT_TRUE(again);
  EXPECT_EQ(Number(*again, "errcode"), 40029);

  // A fault first, then the corp token.
  AddFault("kind=errcode&errcode=-1&endpoint=get_corp_token");
  const std::string corp_path =
      "/cgi-bin/service/get_corp_token?suite_access_token=" + suite_token;
  const std::string corp_body =
      absl::StrCat(R"({"auth_corpid":"wwcorpA","permanent_code":")",
                   permanent_code, R"("})");
  std::optional<Struct> corp = PostJson(corp_path, corp_body);
  ASSERT_TRUE(corp);
  EXPECT_EQ(Number(*corp, "errcode"), -1);
  corp = PostJson(corp_path, corp_body);
  ASSERT_TRUE(corp);
  const std::string corp_token = String(*corp, "access_token");
  valid = GetJson("/sandbox/valid?access_token=" + corp_token);
  ASSERT_TRUE(valid);
  EXPECT_TRUE(valid->fields().at("valid").bool_value());
  EXPECT_EQ(String(*valid, "appid"), "wwsuite1/wwcorpA");
  EXPECT_EQ(String(*valid, "kind"), "wecom_suite_corp_token");

  std::optional<Struct> uninstalled =
      PostJson("/sandbox/wecom/uninstall?suite_id=wwsuite1&corp_id=wwcorpA");
  ASSERT_TRUE(uninstalled);
  EXPECT_TRUE(uninstalled->fields().at("uninstalled").bool_value());
  valid = GetJson("/sandbox/valid?access_token=" + corp_token);
  ASSERT_TRUE(valid);
  EXPECT_FALSE(valid->fields().at("valid").bool_value());
  EXPECT_EQ(String(*valid, "reason"), "revoked");
  corp = PostJson(corp_path, corp_body);
  ASSERT_TRUE(corp);
  EXPECT_EQ(Number(*corp, "errcode"), 40084);

  const std::vector<SuiteReceiver::Event> events = receiver.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].at("InfoType"), "suite_ticket");
  EXPECT_EQ(events[0].at("SuiteId"), kSuite);
  EXPECT_EQ(events[0].at("SuiteTicket"), String(*ticket, "ticket"));
  EXPECT_FALSE(events[0].at("TimeStamp").empty());
  EXPECT_EQ(events[1].at("InfoType"), "create_auth");
  EXPECT_EQ(events[1].at("AuthCode"), String(*installed, "auth_code"));
  EXPECT_EQ(events[2].at("InfoType"), "cancel_auth");
  EXPECT_EQ(events[2].at("AuthCorpId"), "wwcorpA");

  std::optional<Struct> stats = GetJson("/sandbox/stats");
  ASSERT_TRUE(stats);
  const auto& fields = stats->fields();
  const Struct& provider_stats = fields.at("wecom_providers")
                                     .struct_value()
                                     .fields()
                                     .at("wwprovider1")
                                     .struct_value();
  EXPECT_EQ(Number(provider_stats, "provider_token_calls"), 2);
  EXPECT_EQ(Number(provider_stats, "provider_token_failures"), 1);
  const Struct& suite_stats = fields.at("wecom_suites")
                                  .struct_value()
                                  .fields()
                                  .at(kSuite)
                                  .struct_value();
  EXPECT_EQ(Number(suite_stats, "suite_token_calls"), 1);
  EXPECT_EQ(Number(suite_stats, "ticket_pushes"), 1);
  EXPECT_EQ(Number(suite_stats, "ticket_pushes_success"), 1);
  EXPECT_EQ(Number(suite_stats, "auth_pushes"), 2);
  EXPECT_EQ(Number(suite_stats, "auth_pushes_success"), 2);
  EXPECT_EQ(Number(suite_stats, "permanent_code_calls"), 2);
  EXPECT_EQ(Number(suite_stats, "corp_token_calls"), 3);
  EXPECT_EQ(Number(suite_stats, "corp_token_failures"), 1);
  const Struct& corp_stats = fields.at("wecom_suite_corps")
                                 .struct_value()
                                 .fields()
                                 .at("wwsuite1/wwcorpA")
                                 .struct_value();
  EXPECT_EQ(Number(corp_stats, "installed"), 0);
  EXPECT_EQ(Number(corp_stats, "corp_tokens_issued"), 2);

  std::optional<Struct> codes = GetJson("/sandbox/wecom/permanent_codes");
  ASSERT_TRUE(codes);
  const auto& list = codes->fields().at("permanent_codes").list_value();
  ASSERT_EQ(list.values_size(), 1);
  EXPECT_EQ(list.values(0).string_value(), permanent_code);

  // Bad targets are refused.
  httplib::Result bad = client_->Post("/sandbox/wecom/push_base?url=ftp://h");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  bad = client_->Post(
      "/sandbox/wecom/push_target?suite_id=wwnobody&url=http://h:1/p");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

// With a ticket interval, a suite is pushed as soon as it has a target,
// then on WeCom's clock (here every 200 ms).
TEST_F(SandboxServerTest, PushesSuiteTicketsOnAClock) {
  SuiteReceiver receiver(kSuite, kSuiteToken, kSuiteAesKey);
  WeComSuiteState suites(WeComSuiteOptions(), {{kSuite, "suite-secret"}});
  WeComSuitePusher pusher;
  ASSERT_TRUE(pusher.AddSuite(kSuite, kSuiteToken, kSuiteAesKey).ok());
  SandboxServer server(state_.get(), &faults_);
  server.ServeWeComService(&providers_, &suites, &pusher,
                           absl::Milliseconds(200));
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_TRUE(receiver.events().empty()) << "pushed with no target";
  ASSERT_TRUE(pusher.SetPushBase(receiver.base()).ok());
  EXPECT_TRUE(receiver.WaitFor(2));
  server.Stop();
  const std::vector<SuiteReceiver::Event> events = receiver.events();
  ASSERT_GE(events.size(), 2u);
  EXPECT_NE(events[0].at("SuiteTicket"), events[1].at("SuiteTicket"));
  // The newest is the one a suite token wants.
  const WeComSuiteStats stats = suites.Stats()[kSuite];
  EXPECT_EQ(stats.ticket_pushes, stats.ticket_pushes_success);
  EXPECT_EQ(stats.ticket_pushes, static_cast<int64_t>(events.size()));
  const std::string newest = events.back().at("SuiteTicket");
  EXPECT_EQ(
      suites.SuiteToken(kSuite, "suite-secret", newest, absl::Now()).errcode,
      0);
  EXPECT_EQ(suites
                .SuiteToken(kSuite, "suite-secret", events[0].at("SuiteTicket"),
                            absl::Now())
                .errcode,
            40085);
}

}  // namespace
}  // namespace wxtoken::sandbox
