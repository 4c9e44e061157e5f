#ifndef WXTOKEN_TESTS_E2E_CHILD_PROCESS_H_
#define WXTOKEN_TESTS_E2E_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace wxtoken::testing {

// A real child process (wxtokend, wechat-sandbox) whose stdout and stderr go
// to files, so a test can wait for a line and read everything it logged.
// The destructor kills a process still running. Not thread-safe.
class ChildProcess {
 public:
  // Starts `argv[0]` with `argv`; output goes to `output_prefix`.out/.err.
  ChildProcess(std::vector<std::string> argv, std::string output_prefix);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }

  // Waits until stdout or stderr holds `marker` followed by digits (polling
  // the files) and returns the digits, or nullopt on timeout or exit.
  std::optional<std::string> WaitForNumberAfter(const std::string& marker,
                                                absl::Duration timeout);

  // Sends `signal` and waits up to `timeout` for the exit; returns the exit
  // status (or -1 if it had to be killed, 128+N if a signal ended it).
  int Stop(int signal, absl::Duration timeout);

  // Sends `signal` and returns at once (SIGSTOP, SIGCONT).
  void Signal(int signal);

  // Waits up to `timeout` for the process to exit by itself.
  std::optional<int> WaitForExit(absl::Duration timeout);

  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::string out_path_;
  std::string err_path_;
};

// A fresh, empty directory under the test's temporary directory.
std::string MakeTempDir(const std::string& name);

// Writes `contents` to `path` (mode 0600), replacing it.
void WriteFile(const std::string& path, const std::string& contents);

// A TCP port on 127.0.0.1 that nothing listened on a moment ago, for
// programs that cannot pick their own (redis-server) or must know theirs
// before they start (a replica's advertise_address).
int PickFreePort();

}  // namespace wxtoken::testing

#endif  // WXTOKEN_TESTS_E2E_CHILD_PROCESS_H_
