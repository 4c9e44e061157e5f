#include "tests/sandbox/wecom_routes.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "httplib.h"
#include "tests/sandbox/fault_answer.h"
#include "tests/sandbox/fault_queue.h"
#include "tests/sandbox/json.h"
#include "tests/sandbox/sandbox_state.h"
#include "tests/sandbox/wechat_answer.h"
#include "tests/sandbox/wecom_state.h"

namespace wxtoken::sandbox {
namespace {

using google::protobuf::Struct;

// `value_field` is "access_token" or "ticket".
void WriteAnswer(const httplib::Request& req, httplib::Response& res,
                 const Answer& answer, const char* value_field) {
  if (answer.errcode == 60020) {
    WriteError(res, answer.errcode, WeComIpBlockedMessage(req.remote_addr));
    return;
  }
  if (answer.errcode != 0) {
    WriteError(res, answer.errcode, answer.errmsg);
    return;
  }
  Struct body;
  SetNumber(body, "errcode", 0);
  SetString(body, "errmsg", answer.errmsg);
  SetString(body, value_field, answer.value);
  SetNumber(body, "expires_in", static_cast<double>(answer.expires_in));
  WriteJson(res, body, kWeChatContentType);
}

}  // namespace

void AddWeComRoutes(httplib::Server& server, WeComState* state,
                    FaultQueue* faults, std::function<absl::Time()> now) {
  server.Get(
      "/cgi-bin/gettoken", [state, faults, now](const httplib::Request& req,
                                                httplib::Response& res) {
        const std::string corpid = req.get_param_value("corpid");
        const std::string secret = req.get_param_value("corpsecret");
        std::optional<Fault> slow;
        if (std::optional<Fault> fault =
                TakeAnsweringFault(*faults, Endpoint::kWeComToken, &slow)) {
          state->CountGetTokenCall(corpid, secret);
          WriteFault(*fault, req, res);
          return;
        }
        // As /cgi-bin/token: a late request counts when it arrives.
        Answer answer;
        if (slow && slow->kind == Fault::Kind::kLate) {
          state->CountGetTokenCall(corpid, secret);
          DelayTheWork(slow);
          answer = state->ProcessGetToken(corpid, secret, now());
        } else {
          answer = state->GetToken(corpid, secret, now());
        }
        if (DelayTheAnswer(slow, req, res)) return;
        WriteAnswer(req, res, answer, "access_token");
      });

  server.Get("/cgi-bin/get_jsapi_ticket",
             [state, faults, now](const httplib::Request& req,
                                  httplib::Response& res) {
               const std::string token = req.get_param_value("access_token");
               std::optional<Fault> slow;
               if (std::optional<Fault> fault = TakeAnsweringFault(
                       *faults, Endpoint::kWeComCorpTicket, &slow)) {
                 state->CountCorpTicketCall(token);
                 WriteFault(*fault, req, res);
                 return;
               }
               DelayTheWork(slow);
               const Answer answer = state->CorpTicket(token, now());
               if (DelayTheAnswer(slow, req, res)) return;
               WriteAnswer(req, res, answer, "ticket");
             });

  server.Get(
      "/cgi-bin/ticket/get", [state, faults, now](const httplib::Request& req,
                                                  httplib::Response& res) {
        const std::string token = req.get_param_value("access_token");
        std::optional<Fault> slow;
        if (std::optional<Fault> fault = TakeAnsweringFault(
                *faults, Endpoint::kWeComAgentTicket, &slow)) {
          state->CountAgentTicketCall(token);
          WriteFault(*fault, req, res);
          return;
        }
        DelayTheWork(slow);
        const Answer answer =
            state->AgentTicket(token, req.get_param_value("type"), now());
        if (DelayTheAnswer(slow, req, res)) return;
        WriteAnswer(req, res, answer, "ticket");
      });
}

Struct WeComStatsJson(const WeComState& state, absl::Time now) {
  Struct keys;
  for (const auto& [key, stats] : state.Stats(now)) {
    const std::pair<const char*, int64_t> counts[] = {
        {"gettoken_calls", stats.gettoken_calls},
        {"gettoken_failures", stats.gettoken_failures},
        {"tokens_issued", stats.tokens_issued},
        {"corp_ticket_calls", stats.corp_ticket_calls},
        {"agent_ticket_calls", stats.agent_ticket_calls},
        {"tickets_issued", stats.tickets_issued},
        {"ticket_rate_limited", stats.ticket_rate_limited},
        {"ticket_calls_last_hour", stats.ticket_calls_last_hour},
        {"ticket_calls_peak_hour", stats.ticket_calls_peak_hour}};
    Struct counters;
    for (const auto& [name, count] : counts) {
      SetNumber(counters, name, static_cast<double>(count));
    }
    *(*keys.mutable_fields())[key].mutable_struct_value() = std::move(counters);
  }
  return keys;
}

}  // namespace wxtoken::sandbox
