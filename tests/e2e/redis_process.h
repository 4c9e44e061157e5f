#ifndef WXTOKEN_TESTS_E2E_REDIS_PROCESS_H_
#define WXTOKEN_TESTS_E2E_REDIS_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/redis_connection.h"
#include "tests/e2e/child_process.h"

namespace wxtoken::testing {

// A real redis-server, or redis-sentinel, from Debian's packages, on
// 127.0.0.1 and a free port, keeping nothing on disk: a restart starts
// empty (what the Redis tests of DESIGN.md "Replicas" need). Never a system
// service. Not thread-safe.
class RedisProcess {
 public:
  // redis-server; with `replica_of` (host:port) a replica of that master,
  // with `password` requiring it (AUTH). ASSERTs (fatal failure) when it
  // does not answer PING.
  void StartServer(const std::string& dir, const std::string& replica_of = "",
                   const std::string& password = "");
  // redis-sentinel watching `master` (host:port) as `master_name`, with a
  // quorum of one and a short down-after, so a test's failover is quick.
  void StartSentinel(const std::string& dir, const std::string& master,
                     const std::string& master_name);
  // Starts again on the same port, after Stop() or Kill().
  void Restart();
  // SIGTERM, SIGKILL, SIGSTOP and SIGCONT of the real process.
  void Stop();
  void Kill();
  void Pause();
  void Resume();

  // One command on a fresh connection; the reply or the error.
  absl::StatusOr<server::RedisValue> Command(
      const std::vector<std::string>& args);
  // Every key and what it holds (strings and hashes whole), as text: what a
  // test searches for a secret that must never be stored in plain.
  absl::StatusOr<std::string> Dump();
  // A Sentinel's SENTINEL FAILOVER of `master_name`, asked again until it
  // is accepted (at most 30 s): a Sentinel learns of a master's replicas
  // only from the master's INFO, every 10 s, so one just started may know
  // none to promote yet.
  absl::Status Failover(const std::string& master_name);

  std::string address() const;
  int port() const { return port_; }

 private:
  void Launch();

  std::vector<std::string> argv_;
  std::string dir_;
  std::string config_path_;  // Sentinel rewrites its config file
  std::string config_text_;
  std::string password_;
  int port_ = 0;
  int runs_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace wxtoken::testing

#endif  // WXTOKEN_TESTS_E2E_REDIS_PROCESS_H_
