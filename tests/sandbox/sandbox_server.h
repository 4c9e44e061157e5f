#ifndef WXTOKEN_TESTS_SANDBOX_SANDBOX_SERVER_H_
#define WXTOKEN_TESTS_SANDBOX_SANDBOX_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "httplib.h"
#include "tests/sandbox/fault_queue.h"
#include "tests/sandbox/platform_pusher.h"
#include "tests/sandbox/platform_state.h"
#include "tests/sandbox/sandbox_state.h"
#include "tests/sandbox/suite_ticket_ticker.h"
#include "tests/sandbox/wecom_provider_state.h"
#include "tests/sandbox/wecom_state.h"
#include "tests/sandbox/wecom_suite_pusher.h"
#include "tests/sandbox/wecom_suite_state.h"

namespace wxtoken::sandbox {

// The HTTP face of the sandbox: maps WeChat's token endpoints onto a
// SandboxState, applies injected faults, and serves the /sandbox/* control
// endpoints the tests use. Everything it answers is JSON (via protobuf's
// Struct) with HTTP 200 unless a fault says otherwise, like WeChat.
//
//   GET  /cgi-bin/token?grant_type=&appid=&secret=
//   POST /cgi-bin/stable_token {"grant_type","appid","secret","force_refresh"}
//   GET  /cgi-bin/ticket/getticket?access_token=&type=jsapi|wx_card
//   POST /sandbox/fault?kind=&count=&errcode=&delay_ms=&endpoint=  (or GET)
//   POST /sandbox/fault/clear                                     (or GET)
//   GET  /sandbox/stats
//   GET  /sandbox/valid?access_token=  (or ticket=)
//   GET  /sandbox/healthz
// and, with ServePlatforms(), the Open Platform's (platform_routes.h); with
// ServeWeCom(), WeCom's (wecom_routes.h); with ServeWeComService(), WeCom's
// service-provider ones (wecom_service_routes.h).
class SandboxServer {
 public:
  using NowFunction = std::function<absl::Time()>;

  // `state` and `faults` must outlive the server. `threads` requests are
  // served at once.
  SandboxServer(
      SandboxState* state, FaultQueue* faults,
      NowFunction now = [] { return absl::Now(); }, int threads = 64);
  ~SandboxServer();

  SandboxServer(const SandboxServer&) = delete;
  SandboxServer& operator=(const SandboxServer&) = delete;

  // Serves the Open Platform's endpoints too (platform_routes.h), and
  // /sandbox/valid knows its values. Call before Start(); `platforms` must
  // outlive the server.
  void ServePlatforms(PlatformState* platforms);
  // Serves WeCom's token endpoints too (wecom_routes.h); /sandbox/valid
  // knows its values and /sandbox/stats has its counters under "wecom".
  // Call before Start(); `wecom` must outlive the server.
  void ServeWeCom(WeComState* wecom);
  // Serves WeCom's service-provider endpoints too (wecom_service_routes.h);
  // /sandbox/valid knows their values and /sandbox/stats has their counters
  // under "wecom_providers", "wecom_suites" and "wecom_suite_corps". With a
  // `ticket_interval` above zero, every suite with a push target is pushed a
  // new suite_ticket that often, from Start() to Stop(). Call before
  // Start(); the three must outlive the server.
  void ServeWeComService(WeComProviderState* providers, WeComSuiteState* suites,
                         WeComSuitePusher* pusher,
                         absl::Duration ticket_interval);

  // Binds `host`:`port` (0 picks a free port) and serves on a background
  // thread. Returns the bound port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // True from Start() until the server stops (Stop() or a fatal error).
  bool serving() const { return started_ && !done_; }
  // Stops accepting, lets in-flight requests finish, joins. Idempotent.
  void Stop();

 private:
  void Route();

  void HandleToken(const httplib::Request& req, httplib::Response& res);
  void HandleStableToken(const httplib::Request& req, httplib::Response& res);
  void HandleGetTicket(const httplib::Request& req, httplib::Response& res);
  // openapi/quota/get: the sandbox's own counts (WeChat's, as it sees them).
  void HandleQuota(const httplib::Request& req, httplib::Response& res);
  void HandleFault(const httplib::Request& req, httplib::Response& res);
  void HandleFaultClear(const httplib::Request& req, httplib::Response& res);
  void HandleStats(const httplib::Request& req, httplib::Response& res);
  void HandleValid(const httplib::Request& req, httplib::Response& res);
  void HandleResetSecret(const httplib::Request& req, httplib::Response& res);

  SandboxState* const state_;
  PlatformState* platforms_ = nullptr;
  WeComState* wecom_ = nullptr;
  WeComProviderState* providers_ = nullptr;
  WeComSuiteState* suites_ = nullptr;
  std::unique_ptr<SuiteTicketTicker> ticker_;  // with a ticket interval
  PlatformPusher pusher_;
  FaultQueue* const faults_;
  const NowFunction now_;
  httplib::Server server_;
  std::thread thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> done_{false};
};

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_SANDBOX_SERVER_H_
