#ifndef WXTOKEN_SERVER_STORE_REDIS_CONNECTION_H_
#define WXTOKEN_SERVER_STORE_REDIS_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wxtoken::server {

// A Redis reply, converted from hiredis's: nil, an integer, a string (bulk or
// status), or an array. An error reply is a Status instead.
struct RedisValue {
  enum class Type { kNil, kInteger, kString, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string string;
  std::vector<RedisValue> array;

  bool is_nil() const { return type == Type::kNil; }
};

// One blocking connection to one Redis server or Sentinel, over hiredis
// (redis_connection.cc is the only file that includes it). Every command is
// bounded by the connection's timeout. After an I/O error the connection is
// broken: every later command fails until a new one is made.
// Not thread-safe: one thread uses it.
class RedisConnection {
 public:
  // Connects to `address` (host:port) and, with a `password`, AUTHs.
  // UNAVAILABLE naming the address when it cannot.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(
      const std::string& address, absl::Duration timeout,
      const std::string& password);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Runs one command. An error reply is INTERNAL with Redis's message
  // (FAILED_PRECONDITION for READONLY: the server is a replica now); an I/O
  // error or timeout is UNAVAILABLE and breaks the connection.
  absl::StatusOr<RedisValue> Command(const std::vector<std::string>& args);

  // After SUBSCRIBE: waits up to `wait` for the next pushed message.
  // DEADLINE_EXCEEDED when none came (the connection stays usable).
  absl::StatusOr<RedisValue> NextMessage(absl::Duration wait);

  bool broken() const { return broken_; }
  const std::string& address() const { return address_; }

 private:
  struct Context;
  RedisConnection(std::unique_ptr<Context> context, std::string address);
  absl::StatusOr<RedisValue> Convert(void* reply);

  std::unique_ptr<Context> context_;
  const std::string address_;
  bool broken_ = false;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_STORE_REDIS_CONNECTION_H_
