#include "tests/sandbox/fault_answer.h"

#include <cstddef>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "tests/sandbox/drop_connection.h"
#include "tests/sandbox/fault_queue.h"
#include "tests/sandbox/wechat_answer.h"

namespace wxtoken::sandbox {

std::optional<Fault> TakeAnsweringFault(FaultQueue& faults, Endpoint endpoint,
                                        std::optional<Fault>* delaying) {
  std::optional<Fault> fault = faults.Take(endpoint);
  if (fault.has_value() && (fault->kind == Fault::Kind::kSlow ||
                            fault->kind == Fault::Kind::kLate)) {
    *delaying = std::move(fault);
    return std::nullopt;
  }
  return fault;
}

void WriteFault(const Fault& fault, const httplib::Request& req,
                httplib::Response& res) {
  switch (fault.kind) {
    case Fault::Kind::kErrcode: {
      // Whitelist errors name the caller's address, as WeChat's and
      // WeCom's do.
      if (fault.errcode == 40164) {
        WriteError(res, fault.errcode,
                   absl::StrCat("invalid ip ", req.remote_addr,
                                " ipv6 ::ffff:", req.remote_addr,
                                ", not in whitelist rid: sandbox"));
        return;
      }
      if (fault.errcode == 60020) {
        WriteError(res, fault.errcode, WeComIpBlockedMessage(req.remote_addr));
        return;
      }
      WriteError(res, fault.errcode, "injected");
      return;
    }
    case Fault::Kind::kHttp500:
      res.status = 500;
      res.set_content("injected internal server error\n", "text/plain");
      return;
    case Fault::Kind::kMalformed:
      // What a misbehaving proxy in front of WeChat might send.
      res.status = 200;
      res.set_content("<html><body>injected: this is not JSON</body></html>",
                      "text/html");
      return;
    case Fault::Kind::kDrop:
    case Fault::Kind::kLate:
      if (ShutdownConnection(req.local_addr, req.local_port, req.remote_addr,
                             req.remote_port)) {
        return;  // httplib's write now fails and it closes the socket
      }
      // Fallback: promise a body and break off after the headers, so the
      // client at least sees a truncated answer rather than a good one.
      res.status = 200;
      res.set_content_provider(
          64, kJsonContentType,
          [](size_t, size_t, httplib::DataSink&) { return false; });
      return;
    case Fault::Kind::kSlow:
      break;  // not an answering fault
  }
}

void DelayTheWork(const std::optional<Fault>& delaying) {
  if (delaying && delaying->kind == Fault::Kind::kLate) {
    absl::SleepFor(delaying->delay);
  }
}

bool DelayTheAnswer(const std::optional<Fault>& delaying,
                    const httplib::Request& req, httplib::Response& res) {
  if (!delaying) return false;
  if (delaying->kind == Fault::Kind::kLate) {
    WriteFault(*delaying, req, res);
    return true;
  }
  absl::SleepFor(delaying->delay);
  return false;
}

}  // namespace wxtoken::sandbox
