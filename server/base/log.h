#ifndef WXTOKEN_SERVER_BASE_LOG_H_
#define WXTOKEN_SERVER_BASE_LOG_H_

#include <initializer_list>
#include <string>

#include "absl/strings/string_view.h"

namespace wxtoken::server {

enum class LogLevel { kInfo, kWarning, kError };
enum class LogFormat { kJson, kText };

// One extra field of a log line. Values are strings; callers pass secrets
// only through Fingerprint().
struct LogField {
  absl::string_view key;
  std::string value;
};

// Writes one line to stderr: a JSON object {"time","level","msg",fields...}
// by default, or "time LEVEL msg key=value..." in text format.
// Thread-safe; lines never interleave.
void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields = {});

// Chosen once at startup, before other threads log.
void SetLogFormat(LogFormat format);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_BASE_LOG_H_
