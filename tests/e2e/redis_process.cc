#include "tests/e2e/redis_process.h"

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace wxtoken::testing {
namespace {

// Generous for a loaded 2-core machine; only a broken run waits this long.
constexpr absl::Duration kRedisStartTimeout = absl::Seconds(20);

}  // namespace

std::string RedisProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void RedisProcess::StartServer(const std::string& dir,
                               const std::string& replica_of,
                               const std::string& password) {
  dir_ = dir;
  password_ = password;
  port_ = PickFreePort();
  argv_ = {"/usr/bin/redis-server", "--port", absl::StrCat(port_), "--bind",
           "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
           "--daemonize", "no",
           // A replica syncs at once, not after the default 5 s batching.
           "--repl-diskless-sync-delay", "0"};
  if (!password.empty()) argv_.insert(argv_.end(), {"--requirepass", password});
  if (!replica_of.empty()) {
    const size_t colon = replica_of.rfind(':');
    argv_.insert(argv_.end(), {"--replicaof", replica_of.substr(0, colon),
                               replica_of.substr(colon + 1)});
  }
  Launch();
}

void RedisProcess::StartSentinel(const std::string& dir,
                                 const std::string& master,
                                 const std::string& master_name) {
  dir_ = dir;
  port_ = PickFreePort();
  const size_t colon = master.rfind(':');
  config_path_ = dir + "/sentinel.conf";
  config_text_ = absl::StrCat(
      "port ", port_, "\nbind 127.0.0.1\ndir ", dir, "\nsentinel monitor ",
      master_name, " ", master.substr(0, colon), " ", master.substr(colon + 1),
      " 1\nsentinel down-after-milliseconds ", master_name,
      " 1000\nsentinel failover-timeout ", master_name,
      " 5000\nsentinel parallel-syncs ", master_name, " 1\n");
  argv_ = {"/usr/bin/redis-sentinel", config_path_};
  Launch();
}

void RedisProcess::Launch() {
  if (!config_path_.empty() && runs_ == 0)
    WriteFile(config_path_, config_text_);
  process_ = std::make_unique<ChildProcess>(
      argv_, absl::StrCat(dir_, "/redis.", port_, ".", runs_++));
  ASSERT_TRUE(process_->started()) << argv_[0] << " did not start";
  const absl::Time deadline = absl::Now() + kRedisStartTimeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<server::RedisValue> pong = Command({"PING"});
    if (pong.ok()) return;
    if (process_->WaitForExit(absl::ZeroDuration())) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  FAIL() << argv_[0] << " on port " << port_
         << " did not answer PING: " << process_->Stdout();
}

void RedisProcess::Restart() { Launch(); }

void RedisProcess::Stop() {
  if (process_) process_->Stop(SIGTERM, absl::Seconds(20));
}

void RedisProcess::Kill() {
  if (process_) process_->Stop(SIGKILL, absl::Seconds(20));
}

void RedisProcess::Pause() {
  if (process_) process_->Signal(SIGSTOP);
}

void RedisProcess::Resume() {
  if (process_) process_->Signal(SIGCONT);
}

absl::Status RedisProcess::Failover(const std::string& master_name) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (true) {
    absl::StatusOr<server::RedisValue> reply =
        Command({"SENTINEL", "FAILOVER", master_name});
    if (reply.ok() || absl::Now() > deadline) return reply.status();
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::StatusOr<server::RedisValue> RedisProcess::Command(
    const std::vector<std::string>& args) {
  auto connection =
      server::RedisConnection::Connect(address(), absl::Seconds(2), password_);
  if (!connection.ok()) return connection.status();
  return (*connection)->Command(args);
}

absl::StatusOr<std::string> RedisProcess::Dump() {
  absl::StatusOr<server::RedisValue> keys = Command({"KEYS", "*"});
  if (!keys.ok()) return keys.status();
  std::string dump;
  for (const server::RedisValue& key : keys->array) {
    absl::StatusOr<server::RedisValue> type = Command({"TYPE", key.string});
    if (!type.ok()) return type.status();
    absl::StatusOr<server::RedisValue> value =
        type->string == "hash"     ? Command({"HGETALL", key.string})
        : type->string == "string" ? Command({"GET", key.string})
                                   : *type;
    if (!value.ok()) return value.status();
    absl::StrAppend(&dump, key.string, " ", value->string, "\n");
    for (const server::RedisValue& item : value->array) {
      absl::StrAppend(&dump, item.string, "\n");
    }
  }
  return dump;
}

}  // namespace wxtoken::testing
