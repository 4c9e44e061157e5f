#include "tests/sandbox/platform_routes.h"

#include <string>
#include <utility>

#include "google/protobuf/struct.pb.h"
#include "tests/sandbox/json.h"
#include "tests/sandbox/wechat_answer.h"

namespace wxtoken::sandbox {
namespace {

using google::protobuf::Struct;

constexpr char kComponent[] = "/cgi-bin/component/";

std::string ComponentToken(const httplib::Request& req) {
  return req.has_param("component_access_token")
             ? req.get_param_value("component_access_token")
             : req.get_param_value("access_token");
}

// The body's string fields, or nullopt (47001) when it is not an object of
// strings where strings are expected.
std::optional<Struct> Body(const httplib::Request& req,
                           std::initializer_list<const char*> strings,
                           std::map<std::string, std::string>* out) {
  std::optional<Struct> body = ParseJsonObject(req.body);
  if (!body) return std::nullopt;
  for (const char* key : strings) {
    if (!GetString(*body, key, &(*out)[key])) return std::nullopt;
  }
  return body;
}

void WriteAuthorizer(httplib::Response& res, const AuthorizerAnswer& answer,
                     bool wrapped) {
  if (answer.errcode != 0) {
    WriteError(res, answer.errcode, answer.errmsg);
    return;
  }
  Struct info;
  if (!answer.access_token.empty()) {
    SetString(info, "authorizer_access_token", answer.access_token);
    SetNumber(info, "expires_in", static_cast<double>(answer.expires_in));
  }
  SetString(info, "authorizer_refresh_token", answer.refresh_token);
  if (!wrapped) {
    WriteJson(res, info, kWeChatContentType);
    return;
  }
  SetString(info, "authorizer_appid", answer.authorizer_appid);
  Struct body;
  (*body.mutable_fields())["authorization_info"].mutable_struct_value()->Swap(
      &info);
  WriteJson(res, body, kWeChatContentType);
}

// Pushes `event_xml` when the platform has a target, and says how it went.
void PushIfTargeted(PlatformPusher* pusher, const std::string& component,
                    const std::string& event_xml, absl::Time now,
                    Struct& answer) {
  if (!pusher->HasTarget(component)) return;
  const PushResult result = pusher->Push(component, event_xml, now);
  SetNumber(answer, "push_status", result.http_status);
  SetString(answer, "push_body", result.body);
  SetString(answer, "push_error", result.error);
}

}  // namespace

void AddPlatformRoutes(httplib::Server& server, PlatformState* state,
                       PlatformPusher* pusher,
                       std::function<absl::Time()> now) {
  auto route = [&server](const std::string& name, httplib::Server::Handler h) {
    server.Post(std::string(kComponent) + name, std::move(h));
  };
  route("api_start_push_ticket",
        [state, pusher, now](const httplib::Request& req,
                             httplib::Response& res) {
          std::map<std::string, std::string> f;
          if (!Body(req, {"component_appid", "component_secret"}, &f)) {
            return WriteError(res, 47001, "data format error");
          }
          const std::string& component = f["component_appid"];
          const Answer answer =
              state->StartPushTicket(component, f["component_secret"]);
          if (answer.errcode == 0 && pusher->HasTarget(component)) {
            // As WeChat does: a ticket is pushed soon after. Here, before the
            // answer, so a test sees it land deterministically.
            const absl::Time at = now();
            const std::string ticket = state->NewTicket(component, at);
            pusher->Push(component, TicketEventXml(component, ticket, at), at);
          }
          WriteError(res, answer.errcode, answer.errmsg);
        });
  route("api_component_token",
        [state, now](const httplib::Request& req, httplib::Response& res) {
          std::map<std::string, std::string> f;
          if (!Body(req,
                    {"component_appid", "component_appsecret",
                     "component_verify_ticket"},
                    &f)) {
            return WriteError(res, 47001, "data format error");
          }
          const Answer answer = state->ComponentToken(
              f["component_appid"], f["component_appsecret"],
              f["component_verify_ticket"], now());
          if (answer.errcode != 0) {
            return WriteError(res, answer.errcode, answer.errmsg);
          }
          Struct body;
          SetString(body, "component_access_token", answer.value);
          SetNumber(body, "expires_in", static_cast<double>(answer.expires_in));
          WriteJson(res, body, kWeChatContentType);
        });
  route("api_query_auth",
        [state, now](const httplib::Request& req, httplib::Response& res) {
          std::map<std::string, std::string> f;
          if (!Body(req, {"component_appid", "authorization_code"}, &f)) {
            return WriteError(res, 47001, "data format error");
          }
          WriteAuthorizer(res,
                          state->QueryAuth(ComponentToken(req),
                                           f["authorization_code"], now()),
                          /*wrapped=*/true);
        });
  route("api_authorizer_token",
        [state, now](const httplib::Request& req, httplib::Response& res) {
          std::map<std::string, std::string> f;
          if (!Body(req,
                    {"component_appid", "authorizer_appid",
                     "authorizer_refresh_token"},
                    &f)) {
            return WriteError(res, 47001, "data format error");
          }
          WriteAuthorizer(
              res,
              state->AuthorizerToken(ComponentToken(req), f["authorizer_appid"],
                                     f["authorizer_refresh_token"], now()),
              /*wrapped=*/false);
        });
  route("api_get_authorizer_info",
        [state, now](const httplib::Request& req, httplib::Response& res) {
          std::map<std::string, std::string> f;
          if (!Body(req, {"component_appid", "authorizer_appid"}, &f)) {
            return WriteError(res, 47001, "data format error");
          }
          WriteAuthorizer(res,
                          state->AuthorizerInfo(ComponentToken(req),
                                                f["authorizer_appid"], now()),
                          /*wrapped=*/true);
        });
  route("api_get_authorizer_list", [state, now](const httplib::Request& req,
                                                httplib::Response& res) {
    std::map<std::string, std::string> f;
    std::optional<Struct> body = Body(req, {"component_appid"}, &f);
    int64_t offset = 0;
    int64_t count = 0;
    if (!body || !GetInteger(*body, "offset", &offset) ||
        !GetInteger(*body, "count", &count)) {
      return WriteError(res, 47001, "data format error");
    }
    const AuthorizerListAnswer answer =
        state->ListAuthorizers(ComponentToken(req), offset, count, now());
    if (answer.errcode != 0) {
      return WriteError(res, answer.errcode, answer.errmsg);
    }
    Struct out;
    SetNumber(out, "total_count", static_cast<double>(answer.total_count));
    auto* list = (*out.mutable_fields())["list"].mutable_list_value();
    for (const AuthorizerListAnswer::Entry& entry : answer.list) {
      Struct item;
      SetString(item, "authorizer_appid", entry.authorizer_appid);
      SetString(item, "refresh_token", entry.refresh_token);
      SetNumber(item, "auth_time", static_cast<double>(entry.auth_time));
      list->add_values()->mutable_struct_value()->Swap(&item);
    }
    WriteJson(res, out, kWeChatContentType);
  });

  // The tests' side.
  server.Post("/sandbox/platform/push_target",
              [pusher](const httplib::Request& req, httplib::Response& res) {
                PushTarget target{req.get_param_value("url"),
                                  req.get_param_value("server_token"),
                                  req.get_param_value("encoding_aes_key")};
                const absl::Status status = pusher->SetTarget(
                    req.get_param_value("component_appid"), std::move(target));
                if (!status.ok()) {
                  res.status = 400;
                  res.set_content(std::string(status.message()) + "\n",
                                  "text/plain");
                  return;
                }
                WriteJson(res, Struct());
              });
  server.Post("/sandbox/platform/ticket", [state, pusher, now](
                                              const httplib::Request& req,
                                              httplib::Response& res) {
    const std::string component = req.get_param_value("component_appid");
    const absl::Time at = now();
    const std::string ticket = state->NewTicket(component, at);
    if (ticket.empty()) return WriteError(res, 40013, "invalid appid");
    Struct body;
    SetString(body, "ticket", ticket);
    PushIfTargeted(pusher, component, TicketEventXml(component, ticket, at), at,
                   body);
    WriteJson(res, body);
  });
  server.Post("/sandbox/platform/authorize", [state, pusher, now](
                                                 const httplib::Request& req,
                                                 httplib::Response& res) {
    const std::string component = req.get_param_value("component_appid");
    const std::string authorizer = req.get_param_value("authorizer_appid");
    const absl::Time at = now();
    const std::string code = state->Authorize(component, authorizer, at);
    if (code.empty()) return WriteError(res, 40013, "invalid appid");
    Struct body;
    SetString(body, "authorization_code", code);
    PushIfTargeted(
        pusher, component,
        AuthorizedEventXml(component, authorizer, code, at, at + absl::Hours(1),
                           req.get_param_value("update") == "1"),
        at, body);
    WriteJson(res, body);
  });
  server.Get(
      "/sandbox/platform/refresh_tokens",
      [state](const httplib::Request&, httplib::Response& res) {
        Struct body;
        auto& list =
            *(*body.mutable_fields())["refresh_tokens"].mutable_list_value();
        for (const std::string& token : state->IssuedRefreshTokens()) {
          list.add_values()->set_string_value(token);
        }
        WriteJson(res, body);
      });
  server.Post("/sandbox/platform/unauthorize", [state, pusher, now](
                                                   const httplib::Request& req,
                                                   httplib::Response& res) {
    const std::string component = req.get_param_value("component_appid");
    const std::string authorizer = req.get_param_value("authorizer_appid");
    const absl::Time at = now();
    const bool done = state->Unauthorize(component, authorizer, at);
    Struct body;
    SetBool(body, "unauthorized", done);
    if (done) {
      PushIfTargeted(pusher, component,
                     UnauthorizedEventXml(component, authorizer, at), at, body);
    }
    WriteJson(res, body);
  });
}

}  // namespace wxtoken::sandbox
