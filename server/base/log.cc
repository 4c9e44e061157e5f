#include "server/base/log.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/util/json_util.h>

#include <atomic>
#include <cstdio>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wxtoken::server {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kJson};
ABSL_CONST_INIT absl::Mutex g_write_mu(absl::kConstInit);

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// Text from outside (WeChat's errmsg, file names) may be any bytes. JSON
// needs UTF-8, and protobuf would drop bad bytes with a complaint of its own
// on stderr, so such a value is logged hex-escaped instead.
std::string JsonSafe(absl::string_view value) {
  if (google::protobuf::internal::IsStructurallyValidUTF8(value.data(),
                                                          value.size())) {
    return std::string(value);
  }
  return absl::CHexEscape(value);
}

std::string JsonLine(absl::string_view time, LogLevel level,
                     absl::string_view message,
                     std::initializer_list<LogField> fields) {
  // protobuf's JSON printer does the escaping (key order is unspecified).
  google::protobuf::Struct line;
  auto& out = *line.mutable_fields();
  out["time"].set_string_value(std::string(time));
  out["level"].set_string_value(std::string(LevelName(level)));
  out["msg"].set_string_value(JsonSafe(message));
  for (const LogField& field : fields) {
    std::string key(field.key);
    // A field never replaces time, level or msg.
    while (out.contains(key)) key = absl::StrCat("_", key);
    out[key].set_string_value(JsonSafe(field.value));
  }
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(line, &json).ok()) {
    json = absl::StrCat("{\"level\":\"error\",\"msg\":\"unloggable line\"}");
  }
  return json;
}

// C-style escapes keep a text line one line whatever the values contain.
std::string TextLine(absl::string_view time, LogLevel level,
                     absl::string_view message,
                     std::initializer_list<LogField> fields) {
  std::string line =
      absl::StrCat(time, " ", LevelName(level), " ", absl::CEscape(message));
  for (const LogField& field : fields) {
    absl::StrAppend(&line, " ", field.key, "=", absl::CEscape(field.value));
  }
  return line;
}

}  // namespace

void SetLogFormat(LogFormat format) { g_format.store(format); }

void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields) {
  const std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                            absl::UTCTimeZone());
  std::string line = g_format.load() == LogFormat::kJson
                         ? JsonLine(time, level, message, fields)
                         : TextLine(time, level, message, fields);
  line.push_back('\n');
  absl::MutexLock lock(&g_write_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace wxtoken::server
