#include "server/store/redis_connection.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace wxtoken::server {
namespace {

// hiredis reads a zero timeout as "wait forever"; never hand it one.
timeval PositiveTimeval(absl::Duration d) {
  const int64_t us = std::max<int64_t>(1, absl::ToInt64Microseconds(d));
  return timeval{static_cast<time_t>(us / 1000000),
                 static_cast<suseconds_t>(us % 1000000)};
}

bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::SimpleAtoi(address.substr(colon + 1), port);
}

}  // namespace

struct RedisConnection::Context {
  redisContext* redis = nullptr;
  ~Context() {
    if (redis != nullptr) redisFree(redis);
  }
};

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(
    const std::string& address, absl::Duration timeout,
    const std::string& password) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(address, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Redis address \"", address, "\" is not host:port"));
  }
  auto context = std::make_unique<Context>();
  context->redis =
      redisConnectWithTimeout(host.c_str(), port, PositiveTimeval(timeout));
  if (context->redis == nullptr || context->redis->err != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to Redis at ", address, ": ",
        context->redis == nullptr ? "out of memory" : context->redis->errstr));
  }
  if (redisSetTimeout(context->redis, PositiveTimeval(timeout)) != REDIS_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot set a timeout on Redis at ", address));
  }
  std::unique_ptr<RedisConnection> connection(
      new RedisConnection(std::move(context), address));
  if (!password.empty()) {
    absl::StatusOr<RedisValue> auth = connection->Command({"AUTH", password});
    if (!auth.ok()) {
      // Redis's reply does not echo the password; ours does not either.
      return absl::PermissionDeniedError(
          absl::StrCat("Redis at ", address,
                       " refused the password: ", auth.status().message()));
    }
  }
  return connection;
}

RedisConnection::RedisConnection(std::unique_ptr<Context> context,
                                 std::string address)
    : context_(std::move(context)), address_(std::move(address)) {}

RedisConnection::~RedisConnection() = default;

absl::StatusOr<RedisValue> RedisConnection::Convert(void* raw) {
  if (raw == nullptr) {
    broken_ = true;
    return absl::UnavailableError(absl::StrCat(
        "Redis at ", address_, ": ",
        context_->redis->errstr[0] != '\0' ? context_->redis->errstr
                                           : "no answer"));
  }
  struct Free {
    void operator()(redisReply* r) const { freeReplyObject(r); }
  };
  std::unique_ptr<redisReply, Free> reply(static_cast<redisReply*>(raw));
  // Converts one reply; errors become the status of the whole command.
  absl::Status error;
  std::function<RedisValue(const redisReply&)> convert =
      [&](const redisReply& r) {
        RedisValue value;
        switch (r.type) {
          case REDIS_REPLY_INTEGER:
            value.type = RedisValue::Type::kInteger;
            value.integer = r.integer;
            break;
          case REDIS_REPLY_STRING:
          case REDIS_REPLY_STATUS:
            value.type = RedisValue::Type::kString;
            value.string.assign(r.str, r.len);
            break;
          case REDIS_REPLY_ARRAY:
            value.type = RedisValue::Type::kArray;
            for (size_t i = 0; i < r.elements; ++i) {
              value.array.push_back(convert(*r.element[i]));
            }
            break;
          case REDIS_REPLY_ERROR: {
            const std::string message(r.str, r.len);
            if (error.ok()) {
              error = absl::StartsWith(message, "READONLY")
                          ? absl::FailedPreconditionError(message)
                          : absl::InternalError(message);
            }
            break;
          }
          default:
            break;  // nil
        }
        return value;
      };
  RedisValue value = convert(*reply);
  if (!error.ok()) return error;
  return value;
}

absl::StatusOr<RedisValue> RedisConnection::Command(
    const std::vector<std::string>& args) {
  if (broken_) {
    return absl::UnavailableError(
        absl::StrCat("Redis at ", address_, ": connection lost"));
  }
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  return Convert(redisCommandArgv(context_->redis,
                                  static_cast<int>(argv.size()), argv.data(),
                                  lengths.data()));
}

absl::StatusOr<RedisValue> RedisConnection::NextMessage(absl::Duration wait) {
  if (broken_) {
    return absl::UnavailableError(
        absl::StrCat("Redis at ", address_, ": connection lost"));
  }
  redisContext* redis = context_->redis;
  void* reply = nullptr;
  // A message may already sit in hiredis's buffer.
  if (redisGetReplyFromReader(redis, &reply) != REDIS_OK) {
    broken_ = true;
    return absl::UnavailableError(
        absl::StrCat("Redis at ", address_, ": ", redis->errstr));
  }
  if (reply != nullptr) return Convert(reply);
  // Wait without hiredis's timeout, which would break the connection.
  pollfd readable = {redis->fd, POLLIN, 0};
  const int ready = ::poll(&readable, 1,
                           static_cast<int>(std::clamp<int64_t>(
                               absl::ToInt64Milliseconds(wait), 0, 1 << 30)));
  if (ready == 0) return absl::DeadlineExceededError("no message");
  if (ready < 0) {
    return absl::DeadlineExceededError("interrupted");
  }
  if (redisGetReply(redis, &reply) != REDIS_OK) {
    broken_ = true;
    return absl::UnavailableError(
        absl::StrCat("Redis at ", address_, ": ", redis->errstr));
  }
  return Convert(reply);
}

}  // namespace wxtoken::server
