#include "tests/sandbox/wecom_service_routes.h"

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "httplib.h"
#include "tests/sandbox/fault_answer.h"
#include "tests/sandbox/fault_queue.h"
#include "tests/sandbox/json.h"
#include "tests/sandbox/wechat_answer.h"

namespace wxtoken::sandbox {
namespace {

using google::protobuf::Struct;

constexpr char kService[] = "/cgi-bin/service/";

// The body's string fields into `*out`; false (47001) when it is not an
// object of strings where strings are expected.
bool Body(const httplib::Request& req,
          std::initializer_list<const char*> strings,
          std::map<std::string, std::string>* out) {
  std::optional<Struct> body = ParseJsonObject(req.body);
  if (!body) return false;
  bool ok = true;
  for (const char* key : strings) {
    ok = GetString(*body, key, &(*out)[key]) && ok;
  }
  return ok;
}

// `value_field` and expires_in, or the error.
void WriteValue(httplib::Response& res, const Answer& answer,
                const char* value_field) {
  if (answer.errcode != 0) {
    WriteError(res, answer.errcode, answer.errmsg);
    return;
  }
  Struct body;
  SetString(body, value_field, answer.value);
  SetNumber(body, "expires_in", static_cast<double>(answer.expires_in));
  WriteJson(res, body, kWeChatContentType);
}

void WritePermanentCode(httplib::Response& res,
                        const PermanentCodeAnswer& answer) {
  if (answer.errcode != 0) {
    WriteError(res, answer.errcode, answer.errmsg);
    return;
  }
  Struct corp;
  SetString(corp, "corpid", answer.corpid);
  SetString(corp, "corp_name", "sandbox corp " + answer.corpid);
  Struct body;
  SetString(body, "access_token", answer.access_token);
  SetNumber(body, "expires_in", static_cast<double>(answer.expires_in));
  SetString(body, "permanent_code", answer.permanent_code);
  *(*body.mutable_fields())["auth_corp_info"].mutable_struct_value() =
      std::move(corp);
  WriteJson(res, body, kWeChatContentType);
}

void SetPushResult(const PushResult& result, Struct& answer) {
  SetNumber(answer, "push_status", result.http_status);
  SetString(answer, "push_body", result.body);
  SetString(answer, "push_error", result.error);
}

// Pushes an auth event when the suite has a target, counts how it went and
// says so in `answer`.
void PushAuthEvent(WeComSuiteState* suites, WeComSuitePusher* pusher,
                   const std::string& suite_id, const std::string& event_xml,
                   absl::Time now, Struct& answer) {
  if (!pusher->HasTarget(suite_id)) return;
  const PushResult result = pusher->Push(suite_id, event_xml, now);
  suites->RecordPush(suite_id, SuitePush::kAuth, AnsweredSuccess(result));
  SetPushResult(result, answer);
}

void WriteBadRequest(httplib::Response& res, const absl::Status& status) {
  res.status = 400;
  res.set_content(std::string(status.message()) + "\n", "text/plain");
}

// Key to counters; `fields` names a T's counters.
template <typename T, typename Fields>
Struct CountsJson(const std::map<std::string, T>& stats, Fields fields) {
  Struct keys;
  for (const auto& [key, counters] : stats) {
    Struct out;
    for (const auto& [name, count] : fields(counters)) {
      SetNumber(out, name, static_cast<double>(count));
    }
    *(*keys.mutable_fields())[key].mutable_struct_value() = std::move(out);
  }
  return keys;
}

}  // namespace

void AddWeComServiceRoutes(httplib::Server& server,
                           WeComProviderState* providers,
                           WeComSuiteState* suites, WeComSuitePusher* pusher,
                           FaultQueue* faults,
                           std::function<absl::Time()> now) {
  const auto route = [&server](const std::string& name,
                               httplib::Server::Handler handler) {
    server.Post(std::string(kService) + name, std::move(handler));
  };
  // Each takes its fault first; a delaying one wraps the work, which
  // counts the call (so a late one counts when processed).
  route("get_provider_token", [providers, faults, now](
                                  const httplib::Request& req,
                                  httplib::Response& res) {
    std::map<std::string, std::string> f;
    const bool well_formed = Body(req, {"corpid", "provider_secret"}, &f);
    std::optional<Fault> slow;
    if (std::optional<Fault> fault =
            TakeAnsweringFault(*faults, Endpoint::kProviderToken, &slow)) {
      providers->CountProviderTokenCall(f["corpid"]);
      return WriteFault(*fault, req, res);
    }
    DelayTheWork(slow);
    Answer answer;
    if (well_formed) {
      answer =
          providers->ProviderToken(f["corpid"], f["provider_secret"], now());
    } else {
      providers->CountProviderTokenCall(f["corpid"]);
      answer = Answer::Error(47001, "data format error");
    }
    if (DelayTheAnswer(slow, req, res)) return;
    WriteValue(res, answer, "provider_access_token");
  });
  route("get_suite_token", [suites, faults, now](const httplib::Request& req,
                                                 httplib::Response& res) {
    std::map<std::string, std::string> f;
    const bool well_formed =
        Body(req, {"suite_id", "suite_secret", "suite_ticket"}, &f);
    std::optional<Fault> slow;
    if (std::optional<Fault> fault =
            TakeAnsweringFault(*faults, Endpoint::kSuiteToken, &slow)) {
      suites->CountSuiteTokenCall(f["suite_id"]);
      return WriteFault(*fault, req, res);
    }
    DelayTheWork(slow);
    Answer answer;
    if (well_formed) {
      answer = suites->SuiteToken(f["suite_id"], f["suite_secret"],
                                  f["suite_ticket"], now());
    } else {
      suites->CountSuiteTokenCall(f["suite_id"]);
      answer = Answer::Error(47001, "data format error");
    }
    if (DelayTheAnswer(slow, req, res)) return;
    WriteValue(res, answer, "suite_access_token");
  });
  route("get_permanent_code", [suites, faults, now](const httplib::Request& req,
                                                    httplib::Response& res) {
    const std::string token = req.get_param_value("suite_access_token");
    std::map<std::string, std::string> f;
    const bool well_formed = Body(req, {"auth_code"}, &f);
    std::optional<Fault> slow;
    if (std::optional<Fault> fault =
            TakeAnsweringFault(*faults, Endpoint::kPermanentCode, &slow)) {
      suites->CountPermanentCodeCall(token);
      return WriteFault(*fault, req, res);
    }
    DelayTheWork(slow);
    PermanentCodeAnswer answer;
    if (well_formed) {
      answer = suites->PermanentCode(token, f["auth_code"], now());
    } else {
      suites->CountPermanentCodeCall(token);
      answer.errcode = 47001;
      answer.errmsg = "data format error";
    }
    if (DelayTheAnswer(slow, req, res)) return;
    WritePermanentCode(res, answer);
  });
  route("get_corp_token", [suites, faults, now](const httplib::Request& req,
                                                httplib::Response& res) {
    const std::string token = req.get_param_value("suite_access_token");
    std::map<std::string, std::string> f;
    const bool well_formed = Body(req, {"auth_corpid", "permanent_code"}, &f);
    std::optional<Fault> slow;
    if (std::optional<Fault> fault =
            TakeAnsweringFault(*faults, Endpoint::kSuiteCorpToken, &slow)) {
      suites->CountCorpTokenCall(token, f["auth_corpid"]);
      return WriteFault(*fault, req, res);
    }
    DelayTheWork(slow);
    Answer answer;
    if (well_formed) {
      answer = suites->CorpToken(token, f["auth_corpid"], f["permanent_code"],
                                 now());
    } else {
      suites->CountCorpTokenCall(token, f["auth_corpid"]);
      answer = Answer::Error(47001, "data format error");
    }
    if (DelayTheAnswer(slow, req, res)) return;
    WriteValue(res, answer, "access_token");
  });

  // The tests' side.
  server.Post("/sandbox/wecom/push_base", [pusher](const httplib::Request& req,
                                                   httplib::Response& res) {
    const absl::Status status = pusher->SetPushBase(req.get_param_value("url"));
    if (!status.ok()) return WriteBadRequest(res, status);
    WriteJson(res, Struct());
  });
  server.Post("/sandbox/wecom/push_target",
              [pusher](const httplib::Request& req, httplib::Response& res) {
                const absl::Status status =
                    pusher->SetSuiteUrl(req.get_param_value("suite_id"),
                                        req.get_param_value("url"));
                if (!status.ok()) return WriteBadRequest(res, status);
                WriteJson(res, Struct());
              });
  server.Post("/sandbox/wecom/suite_ticket",
              [suites, pusher, now](const httplib::Request& req,
                                    httplib::Response& res) {
                const SuiteTicketPush push = PushSuiteTicket(
                    *suites, *pusher, req.get_param_value("suite_id"), now());
                if (push.ticket.empty())
                  return WriteError(res, 40083, "invalid suite_id");
                Struct body;
                SetString(body, "ticket", push.ticket);
                if (push.pushed) SetPushResult(push.result, body);
                WriteJson(res, body);
              });
  server.Post("/sandbox/wecom/install", [suites, pusher, now](
                                            const httplib::Request& req,
                                            httplib::Response& res) {
    const std::string suite_id = req.get_param_value("suite_id");
    const absl::Time at = now();
    const std::string code =
        suites->Install(suite_id, req.get_param_value("corp_id"), at);
    if (code.empty()) {
      return WriteError(res, 40083, "invalid suite_id, or corp_id missing");
    }
    Struct body;
    SetString(body, "auth_code", code);
    PushAuthEvent(suites, pusher, suite_id,
                  CreateAuthEventXml(suite_id, code, at), at, body);
    WriteJson(res, body);
  });
  server.Post("/sandbox/wecom/uninstall", [suites, pusher, now](
                                              const httplib::Request& req,
                                              httplib::Response& res) {
    const std::string suite_id = req.get_param_value("suite_id");
    const std::string corpid = req.get_param_value("corp_id");
    const absl::Time at = now();
    const bool done = suites->Uninstall(suite_id, corpid, at);
    Struct body;
    SetBool(body, "uninstalled", done);
    if (done) {
      PushAuthEvent(suites, pusher, suite_id,
                    CancelAuthEventXml(suite_id, corpid, at), at, body);
    }
    WriteJson(res, body);
  });
  server.Get(
      "/sandbox/wecom/permanent_codes",
      [suites](const httplib::Request&, httplib::Response& res) {
        Struct body;
        auto& list =
            *(*body.mutable_fields())["permanent_codes"].mutable_list_value();
        for (const std::string& code : suites->IssuedPermanentCodes()) {
          list.add_values()->set_string_value(code);
        }
        WriteJson(res, body);
      });
}

Struct WeComProviderStatsJson(const WeComProviderState& state) {
  return CountsJson(state.Stats(), [](const WeComProviderStats& stats) {
    return std::vector<std::pair<const char*, int64_t>>{
        {"provider_token_calls", stats.provider_token_calls},
        {"provider_token_failures", stats.provider_token_failures},
        {"tokens_issued", stats.tokens_issued}};
  });
}

Struct WeComSuiteStatsJson(const WeComSuiteState& state) {
  return CountsJson(state.Stats(), [](const WeComSuiteStats& stats) {
    return std::vector<std::pair<const char*, int64_t>>{
        {"suite_token_calls", stats.suite_token_calls},
        {"suite_token_failures", stats.suite_token_failures},
        {"suite_tokens_issued", stats.suite_tokens_issued},
        {"tickets_issued", stats.tickets_issued},
        {"ticket_pushes", stats.ticket_pushes},
        {"ticket_pushes_success", stats.ticket_pushes_success},
        {"auth_pushes", stats.auth_pushes},
        {"auth_pushes_success", stats.auth_pushes_success},
        {"installs", stats.installs},
        {"uninstalls", stats.uninstalls},
        {"permanent_code_calls", stats.permanent_code_calls},
        {"permanent_codes_issued", stats.permanent_codes_issued},
        {"corp_token_calls", stats.corp_token_calls},
        {"corp_token_failures", stats.corp_token_failures},
        {"corp_tokens_issued", stats.corp_tokens_issued}};
  });
}

Struct WeComSuiteCorpStatsJson(const WeComSuiteState& state) {
  return CountsJson(state.CorpStats(), [](const WeComSuiteCorpStats& stats) {
    return std::vector<std::pair<const char*, int64_t>>{
        {"installed", stats.installed},
        {"installs", stats.installs},
        {"uninstalls", stats.uninstalls},
        {"permanent_codes_issued", stats.permanent_codes_issued},
        {"corp_token_calls", stats.corp_token_calls},
        {"corp_token_failures", stats.corp_token_failures},
        {"corp_tokens_issued", stats.corp_tokens_issued}};
  });
}

}  // namespace wxtoken::sandbox
