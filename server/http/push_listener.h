#ifndef WXTOKEN_SERVER_HTTP_PUSH_LISTENER_H_
#define WXTOKEN_SERVER_HTTP_PUSH_LISTENER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/messages/platform_push.h"

namespace httplib {
class Server;
}

namespace wxtoken::server {

// push_listen: the plain HTTP listener WeChat's pushes arrive at (DESIGN.md
// "Push intake", "WeCom"). POST /wechat/platform/<component_app_id>?
// msg_signature=&timestamp=&nonce=&encrypt_type=aes, and POST
// /wecom/suite/<suite_id>?msg_signature=&timestamp=&nonce= for a WeCom
// suite, go to the PlatformPushIntake (each path takes only ids of its own
// family, else 404), and are answered exactly "success" (200) once what
// they carry is durable, or 4xx/5xx with the reason (never a secret) in a
// text body. GET /wecom/suite/<suite_id>?msg_signature=&timestamp=&nonce=
// &echostr= is WeCom's URL check: answered the decrypted echostr (200,
// text/plain), changing nothing. Anything else is a 404 or 405; a body
// past 64 KiB a 413.
class PushListener {
 public:
  // How long a push may wait for the worker: WeChat gives up after 5 s.
  static constexpr absl::Duration kReplyTimeout = absl::Milliseconds(4500);

  // Binds `host_port` and serves on its own threads. `intake` must outlive
  // the listener.
  static absl::StatusOr<std::unique_ptr<PushListener>> Start(
      const std::string& host_port, PlatformPushIntake& intake);
  ~PushListener();  // Stop()

  int port() const { return port_; }
  // Stops taking pushes; returns once the pushes being answered are.
  void Stop();

 private:
  PushListener();

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_HTTP_PUSH_LISTENER_H_
