#include "tests/sandbox/sandbox_server.h"

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "httplib.h"
#include "tests/sandbox/fault_answer.h"
#include "tests/sandbox/fault_queue.h"
#include "tests/sandbox/json.h"
#include "tests/sandbox/platform_routes.h"
#include "tests/sandbox/sandbox_state.h"
#include "tests/sandbox/wechat_answer.h"
#include "tests/sandbox/wecom_routes.h"
#include "tests/sandbox/wecom_service_routes.h"
#include "tests/sandbox/wecom_state.h"

namespace wxtoken::sandbox {
namespace {

using google::protobuf::Struct;

// /cgi-bin/token and /cgi-bin/stable_token answers.
void WriteTokenAnswer(httplib::Response& res, const Answer& answer) {
  if (answer.errcode != 0) {
    WriteError(res, answer.errcode, answer.errmsg);
    return;
  }
  Struct body;
  SetString(body, "access_token", answer.value);
  SetNumber(body, "expires_in", static_cast<double>(answer.expires_in));
  WriteJson(res, body, kWeChatContentType);
}

// /cgi-bin/ticket/getticket answers carry errcode 0 on success too.
void WriteTicketAnswer(httplib::Response& res, const Answer& answer) {
  if (answer.errcode != 0) {
    WriteError(res, answer.errcode, answer.errmsg);
    return;
  }
  Struct body;
  SetNumber(body, "errcode", 0);
  SetString(body, "errmsg", answer.errmsg);
  SetString(body, "ticket", answer.value);
  SetNumber(body, "expires_in", static_cast<double>(answer.expires_in));
  WriteJson(res, body, kWeChatContentType);
}

// Splits a host for printing and binding: "[::1]" is "::1".
std::string BareHost(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

SandboxServer::SandboxServer(SandboxState* state, FaultQueue* faults,
                             NowFunction now, int threads)
    : state_(state), faults_(faults), now_(std::move(now)) {
  server_.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  // Answers go out at once: without it, Nagle's algorithm and the client's
  // delayed ACK hold back the second segment of an answer for up to 40 ms
  // on a reused connection, a stall WeChat does not have.
  server_.set_tcp_nodelay(true);
  Route();
}

SandboxServer::~SandboxServer() { Stop(); }

void SandboxServer::ServePlatforms(PlatformState* platforms) {
  platforms_ = platforms;
  AddPlatformRoutes(server_, platforms, &pusher_, now_);
}

void SandboxServer::ServeWeCom(WeComState* wecom) {
  wecom_ = wecom;
  AddWeComRoutes(server_, wecom, faults_, now_);
}

void SandboxServer::ServeWeComService(WeComProviderState* providers,
                                      WeComSuiteState* suites,
                                      WeComSuitePusher* pusher,
                                      absl::Duration ticket_interval) {
  providers_ = providers;
  suites_ = suites;
  AddWeComServiceRoutes(server_, providers, suites, pusher, faults_, now_);
  if (ticket_interval > absl::ZeroDuration()) {
    ticker_ = std::make_unique<SuiteTicketTicker>(
        suites->SuiteIds(), ticket_interval,
        [pusher](const std::string& suite_id) {
          return pusher->HasTarget(suite_id);
        },
        [suites, pusher, now = now_](const std::string& suite_id) {
          PushSuiteTicket(*suites, *pusher, suite_id, now());
        },
        now_);
  }
}

absl::StatusOr<int> SandboxServer::Start(const std::string& host, int port) {
  if (started_) return absl::FailedPreconditionError("already started");
  const std::string bind_host = BareHost(host);
  int bound = port;
  if (port == 0) {
    bound = server_.bind_to_any_port(bind_host);
  } else if (!server_.bind_to_port(bind_host, port)) {
    bound = -1;
  }
  if (bound < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port));
  }
  started_ = true;
  thread_ = std::thread([this] {
    server_.listen_after_bind();
    done_ = true;
  });
  if (ticker_ != nullptr) ticker_->Start();
  return bound;
}

void SandboxServer::Stop() {
  if (!started_) return;
  // No push may start once the server is going: its state may go next.
  if (ticker_ != nullptr) ticker_->Stop();
  // httplib ignores stop() until its accept loop runs, which may be a moment
  // after Start() returned; keep asking until the loop has ended.
  while (!done_) {
    server_.stop();
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (thread_.joinable()) thread_.join();
}

void SandboxServer::Route() {
  server_.Get("/cgi-bin/token",
              [this](const httplib::Request& req, httplib::Response& res) {
                HandleToken(req, res);
              });
  server_.Post("/cgi-bin/stable_token",
               [this](const httplib::Request& req, httplib::Response& res) {
                 HandleStableToken(req, res);
               });
  server_.Get("/cgi-bin/ticket/getticket",
              [this](const httplib::Request& req, httplib::Response& res) {
                HandleGetTicket(req, res);
              });
  server_.Post("/cgi-bin/openapi/quota/get",
               [this](const httplib::Request& req, httplib::Response& res) {
                 HandleQuota(req, res);
               });
  // Control calls change state, so they are POSTs; GET works too because
  // httplib answers 400 to a POST without Content-Length (plain
  // `curl -X POST`), which would be an easy trap in a test script.
  const auto fault = [this](const httplib::Request& req,
                            httplib::Response& res) { HandleFault(req, res); };
  const auto clear = [this](const httplib::Request& req,
                            httplib::Response& res) {
    HandleFaultClear(req, res);
  };
  server_.Post("/sandbox/fault", fault).Get("/sandbox/fault", fault);
  server_.Post("/sandbox/fault/clear", clear)
      .Get("/sandbox/fault/clear", clear);
  // POST /sandbox/secret?appid=...&secret=...: the console's "reset
  // AppSecret".
  const auto reset = [this](const httplib::Request& req,
                            httplib::Response& res) {
    HandleResetSecret(req, res);
  };
  server_.Post("/sandbox/secret", reset).Get("/sandbox/secret", reset);
  server_.Get("/sandbox/stats",
              [this](const httplib::Request& req, httplib::Response& res) {
                HandleStats(req, res);
              });
  server_.Get("/sandbox/valid",
              [this](const httplib::Request& req, httplib::Response& res) {
                HandleValid(req, res);
              });
  server_.Get("/sandbox/healthz",
              [](const httplib::Request&, httplib::Response& res) {
                res.set_content("ok\n", "text/plain");
              });
}

void SandboxServer::HandleToken(const httplib::Request& req,
                                httplib::Response& res) {
  Credentials creds;
  creds.grant_type = req.get_param_value("grant_type");
  creds.appid = req.get_param_value("appid");
  creds.secret = req.get_param_value("secret");

  std::optional<Fault> slow;
  if (std::optional<Fault> fault =
          TakeAnsweringFault(*faults_, Endpoint::kToken, &slow)) {
    state_->CountClassicCall(creds.appid, now_());
    WriteFault(*fault, req, res);
    return;
  }
  // Slow means WeChat did the work at once and the answer is late; late,
  // that the work was late and the answer never came.
  Answer answer;
  if (slow && slow->kind == Fault::Kind::kLate) {
    // Counted as it arrives, like any call, and processed late.
    state_->CountClassicCall(creds.appid, now_());
    DelayTheWork(slow);
    answer = state_->ProcessClassic(creds, now_());
  } else {
    answer = state_->FetchClassic(creds, now_());
  }
  if (DelayTheAnswer(slow, req, res)) return;
  WriteTokenAnswer(res, answer);
}

void SandboxServer::HandleStableToken(const httplib::Request& req,
                                      httplib::Response& res) {
  Credentials creds;
  bool force_refresh = false;
  const std::optional<Struct> body = ParseJsonObject(req.body);
  const bool well_formed = body.has_value() &&
                           GetString(*body, "grant_type", &creds.grant_type) &&
                           GetString(*body, "appid", &creds.appid) &&
                           GetString(*body, "secret", &creds.secret) &&
                           GetBool(*body, "force_refresh", &force_refresh);

  std::optional<Fault> slow;
  if (std::optional<Fault> fault =
          TakeAnsweringFault(*faults_, Endpoint::kStableToken, &slow)) {
    state_->CountStableCall(creds.appid, force_refresh);
    WriteFault(*fault, req, res);
    return;
  }
  DelayTheWork(slow);
  if (!well_formed) {
    state_->CountStableCall(creds.appid, force_refresh);
    if (DelayTheAnswer(slow, req, res)) return;
    WriteError(res, 47001, "data format error");
    return;
  }
  const Answer answer = state_->FetchStable(creds, force_refresh, now_());
  if (DelayTheAnswer(slow, req, res)) return;
  WriteTokenAnswer(res, answer);
}

void SandboxServer::HandleQuota(const httplib::Request& req,
                                httplib::Response& res) {
  std::string cgi_path;
  const std::optional<Struct> body = ParseJsonObject(req.body);
  if (!body || !GetString(*body, "cgi_path", &cgi_path)) {
    WriteError(res, 47001, "data format error");
    return;
  }
  const std::string token = req.get_param_value("access_token");
  QuotaAnswer answer = state_->Quota(token, cgi_path, now_());
  if (answer.errcode == 40001 && platforms_ != nullptr) {
    answer = platforms_->Quota(token, cgi_path, now_());
  }
  if (answer.errcode != 0) {
    WriteError(res, answer.errcode, answer.errmsg);
    return;
  }
  Struct quota;
  SetNumber(quota, "daily_limit", static_cast<double>(answer.daily_limit));
  SetNumber(quota, "used", static_cast<double>(answer.used));
  SetNumber(quota, "remain", static_cast<double>(answer.remain));
  Struct reply;
  SetNumber(reply, "errcode", 0);
  SetString(reply, "errmsg", "ok");
  *(*reply.mutable_fields())["quota"].mutable_struct_value() = quota;
  WriteJson(res, reply, kWeChatContentType);
}

void SandboxServer::HandleGetTicket(const httplib::Request& req,
                                    httplib::Response& res) {
  const std::string access_token = req.get_param_value("access_token");
  const std::string type = req.get_param_value("type");

  std::optional<Fault> slow;
  if (std::optional<Fault> fault =
          TakeAnsweringFault(*faults_, Endpoint::kGetTicket, &slow)) {
    state_->CountTicketCall(access_token);
    WriteFault(*fault, req, res);
    return;
  }
  DelayTheWork(slow);
  const Answer answer = state_->FetchTicket(access_token, type, now_());
  if (DelayTheAnswer(slow, req, res)) return;
  WriteTicketAnswer(res, answer);
}

void SandboxServer::HandleFault(const httplib::Request& req,
                                httplib::Response& res) {
  absl::StatusOr<Fault> fault = ParseFault(
      req.get_param_value("kind"), req.get_param_value("count"),
      req.get_param_value("errcode"), req.get_param_value("delay_ms"),
      req.get_param_value("endpoint"));
  Struct body;
  if (!fault.ok()) {
    SetBool(body, "ok", false);
    SetString(body, "error", fault.status().message());
    WriteJson(res, body);
    res.status = 400;
    return;
  }
  faults_->Add(*std::move(fault));
  SetBool(body, "ok", true);
  SetNumber(body, "queued", static_cast<double>(faults_->size()));
  WriteJson(res, body);
}

void SandboxServer::HandleResetSecret(const httplib::Request& req,
                                      httplib::Response& res) {
  const bool ok = state_->ResetSecret(req.get_param_value("appid"),
                                      req.get_param_value("secret"));
  Struct body;
  SetBool(body, "ok", ok);
  if (!ok) {
    SetString(body, "error", "appid: unknown app, or secret: empty");
    res.status = 400;
  }
  WriteJson(res, body);
}

void SandboxServer::HandleFaultClear(const httplib::Request&,
                                     httplib::Response& res) {
  faults_->Clear();
  Struct body;
  SetBool(body, "ok", true);
  SetNumber(body, "queued", 0);
  WriteJson(res, body);
}

void SandboxServer::HandleStats(const httplib::Request&,
                                httplib::Response& res) {
  Struct apps;
  for (const auto& [appid, stats] : state_->Stats(now_())) {
    Struct app;
    SetNumber(app, "token_calls", static_cast<double>(stats.token_calls));
    SetNumber(app, "stable_calls", static_cast<double>(stats.stable_calls));
    SetNumber(app, "stable_force_calls",
              static_cast<double>(stats.stable_force_calls));
    SetNumber(app, "ticket_calls", static_cast<double>(stats.ticket_calls));
    SetNumber(app, "tokens_issued", static_cast<double>(stats.tokens_issued));
    SetNumber(app, "tickets_issued", static_cast<double>(stats.tickets_issued));
    SetNumber(app, "quota_used_today",
              static_cast<double>(stats.quota_used_today));
    *(*apps.mutable_fields())[appid].mutable_struct_value() = std::move(app);
  }
  Struct body;
  *(*body.mutable_fields())["apps"].mutable_struct_value() = std::move(apps);
  if (platforms_ != nullptr) {
    Struct platforms;
    for (const auto& [component, stats] : platforms_->Stats()) {
      Struct platform;
      const std::pair<const char*, int64_t> counts[] = {
          {"component_token_calls", stats.component_token_calls},
          {"query_auth_calls", stats.query_auth_calls},
          {"authorizer_token_calls", stats.authorizer_token_calls},
          {"list_calls", stats.list_calls},
          {"info_calls", stats.info_calls},
          {"start_push_calls", stats.start_push_calls},
          {"tickets_pushed", stats.tickets_pushed}};
      for (const auto& [name, count] : counts) {
        SetNumber(platform, name, static_cast<double>(count));
      }
      *(*platforms.mutable_fields())[component].mutable_struct_value() =
          std::move(platform);
    }
    *(*body.mutable_fields())["platforms"].mutable_struct_value() =
        std::move(platforms);
  }
  if (wecom_ != nullptr) {
    *(*body.mutable_fields())["wecom"].mutable_struct_value() =
        WeComStatsJson(*wecom_, now_());
  }
  if (providers_ != nullptr) {
    *(*body.mutable_fields())["wecom_providers"].mutable_struct_value() =
        WeComProviderStatsJson(*providers_);
  }
  if (suites_ != nullptr) {
    *(*body.mutable_fields())["wecom_suites"].mutable_struct_value() =
        WeComSuiteStatsJson(*suites_);
    *(*body.mutable_fields())["wecom_suite_corps"].mutable_struct_value() =
        WeComSuiteCorpStatsJson(*suites_);
  }
  WriteJson(res, body);
}

void SandboxServer::HandleValid(const httplib::Request& req,
                                httplib::Response& res) {
  const std::string value = req.has_param("access_token")
                                ? req.get_param_value("access_token")
                                : req.get_param_value("ticket");
  Validity validity = state_->Check(value, now_());
  if (validity.status == Validity::Status::kUnknown && platforms_ != nullptr) {
    validity = platforms_->Check(value, now_());
  }
  if (validity.status == Validity::Status::kUnknown && wecom_ != nullptr) {
    validity = wecom_->Check(value, now_());
  }
  if (validity.status == Validity::Status::kUnknown && providers_ != nullptr) {
    validity = providers_->Check(value, now_());
  }
  if (validity.status == Validity::Status::kUnknown && suites_ != nullptr) {
    validity = suites_->Check(value, now_());
  }
  Struct body;
  SetBool(body, "valid", validity.valid());
  SetString(body, "appid", validity.appid);
  SetString(body, "kind",
            validity.status == Validity::Status::kUnknown
                ? ""
                : ValueKindName(validity.kind));
  SetString(body, "reason", ValidityReason(validity.status));
  // The sandbox's own record: when the value stops (or stopped) being
  // accepted, as far as it knows now (a later fetch may bring it forward).
  if (validity.status != Validity::Status::kUnknown) {
    SetNumber(body, "valid_until_ms",
              static_cast<double>(absl::ToUnixMillis(validity.valid_until)));
  }
  WriteJson(res, body);
}

}  // namespace wxtoken::sandbox
