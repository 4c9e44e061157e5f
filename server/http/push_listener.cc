#include "server/http/push_listener.h"

#include <httplib.h>

#include <memory>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/base/log.h"

namespace wxtoken::server {
namespace {

// One push's answer, shared with the worker's callback, which may run after
// the handler gave up waiting.
struct PendingAnswer {
  absl::Notification done;
  absl::Status status;
};

void Answer(httplib::Response& res, const absl::Status& status) {
  res.status = PushHttpStatus(status);
  res.set_content(status.ok() ? std::string("success")
                              : std::string(status.message()) + "\n",
                  "text/plain");
}

void HandlePush(PlatformPushIntake& intake, PlatformPush::Path path,
                const httplib::Request& req, httplib::Response& res) {
  PlatformPush push;
  push.path = path;
  push.component_app_id = req.matches[1];
  push.msg_signature = req.get_param_value("msg_signature");
  push.timestamp = req.get_param_value("timestamp");
  push.nonce = req.get_param_value("nonce");
  push.body = req.body;
  if (absl::Status known = intake.CheckOwner(push.component_app_id, path);
      !known.ok()) {
    return Answer(res, known);
  }
  if (push.msg_signature.empty()) {
    return Answer(res, absl::InvalidArgumentError(
                           "msg_signature: required (pushes are encrypted)"));
  }
  auto pending = std::make_shared<PendingAnswer>();
  intake.Submit(std::move(push), [pending](absl::Status status) {
    pending->status = std::move(status);
    pending->done.Notify();
  });
  if (!pending->done.WaitForNotificationWithTimeout(
          PushListener::kReplyTimeout)) {
    return Answer(
        res, absl::UnavailableError("not stored in time; WeChat pushes again"));
  }
  Answer(res, pending->status);
}

// WeCom's URL check: the decrypted echostr, exactly, or the reason.
void HandleUrlCheck(const PlatformPushIntake& intake,
                    const httplib::Request& req, httplib::Response& res) {
  // The query is URL-decoded, '+' to ' '. Base64 has no ' ', so one is a
  // '+' the sender did not escape.
  std::string echostr = req.get_param_value("echostr");
  absl::c_replace(echostr, ' ', '+');
  absl::StatusOr<std::string> plaintext = intake.AnswerUrlCheck(
      req.matches[1], req.get_param_value("msg_signature"),
      req.get_param_value("timestamp"), req.get_param_value("nonce"), echostr);
  if (!plaintext.ok()) return Answer(res, plaintext.status());
  res.status = 200;
  res.set_content(*std::move(plaintext), "text/plain");
}

}  // namespace

PushListener::PushListener() : server_(std::make_unique<httplib::Server>()) {}

PushListener::~PushListener() { Stop(); }

absl::StatusOr<std::unique_ptr<PushListener>> PushListener::Start(
    const std::string& host_port, PlatformPushIntake& intake) {
  const size_t colon = host_port.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(host_port.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("push_listen: not HOST:PORT: \"", host_port, "\""));
  }
  std::string host = host_port.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::unique_ptr<PushListener> listener(new PushListener());
  httplib::Server& server = *listener->server_;
  server.set_payload_max_length(PlatformPushIntake::kMaxBodyBytes);
  server.Post(R"(/wechat/platform/([^/]+))",
              [&intake](const httplib::Request& req, httplib::Response& res) {
                HandlePush(intake, PlatformPush::Path::kWeChatPlatform, req,
                           res);
              });
  server.Post(R"(/wecom/suite/([^/]+))",
              [&intake](const httplib::Request& req, httplib::Response& res) {
                HandlePush(intake, PlatformPush::Path::kWeComSuite, req, res);
              });
  server.Get(R"(/wecom/suite/([^/]+))",
             [&intake](const httplib::Request& req, httplib::Response& res) {
               HandleUrlCheck(intake, req, res);
             });
  int bound = -1;
  if (port == 0) {
    bound = server.bind_to_any_port(host);  // tests: a free port
  } else if (server.bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    return absl::UnavailableError(
        absl::StrCat("push_listen: cannot listen on \"", host_port, "\""));
  }
  listener->port_ = bound;
  listener->thread_ = std::thread([&server] { server.listen_after_bind(); });
  return listener;
}

void PushListener::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace wxtoken::server
