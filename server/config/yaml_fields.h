#ifndef WXTOKEN_SERVER_CONFIG_YAML_FIELDS_H_
#define WXTOKEN_SERVER_CONFIG_YAML_FIELDS_H_

// Reading checked fields out of the config's YAML, for the parsers of each
// section (config.cc, security_config.cc). Every error is InvalidArgument
// "<key path>: <what is wrong>", one line, never containing a secret.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "yaml-cpp/yaml.h"

namespace wxtoken::server::config_yaml {

absl::Status KeyError(absl::string_view path, absl::string_view message);

// Quotes a (non-secret) value from the config for an error message. Escaping
// keeps the message on one line whatever the value contains.
std::string Quote(absl::string_view value);

std::string JoinPath(absl::string_view path, absl::string_view key);
std::string IndexPath(absl::string_view path, size_t index);

// What a YAML node holds, for "expected X, got Y".
std::string Describe(const YAML::Node& node);

// Reads a whole (small) file. On failure the status message is only the
// reason in strerror's words, so callers can wrap it with the key and path.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

// While it lives, notes the path of every file ReadSmallFile() tries on this
// thread (read or not): what one config read depended on. Not nestable.
class FilesReadLog {
 public:
  FilesReadLog();
  ~FilesReadLog();
  FilesReadLog(const FilesReadLog&) = delete;
  FilesReadLog& operator=(const FilesReadLog&) = delete;

  const std::vector<std::string>& files() const { return files_; }

 private:
  friend absl::StatusOr<std::string> ReadSmallFile(const std::string& path);
  std::vector<std::string> files_;
};

// The entries of one YAML map whose keys have been checked: all strings, none
// repeated, all known.
using Entries = std::map<std::string, YAML::Node, std::less<>>;

// The map at `path`; an unknown key is an error (with the known key a typo
// meant), and so is a repeated one. Null reads as empty (all defaults).
absl::StatusOr<Entries> ReadMap(const YAML::Node& node, const std::string& path,
                                const std::vector<absl::string_view>& known);

std::optional<YAML::Node> Find(const Entries& entries, absl::string_view key);

absl::StatusOr<std::string> GetString(const YAML::Node& node,
                                      absl::string_view path);

// Sets *out from entries[key] when present; leaves the default otherwise.
absl::Status ReadString(const Entries& entries, absl::string_view path,
                        absl::string_view key, std::string* out);

enum class Zero { kAllowed, kRefused };

absl::Status ReadDuration(const Entries& entries, absl::string_view path,
                          absl::string_view key, Zero zero,
                          absl::Duration* out);

// Sets *out from entries[key] when present: an integer of at least `min`.
absl::Status ReadInt(const Entries& entries, absl::string_view path,
                     absl::string_view key, int min, int* out);

// Sets *out from entries[key] when present: a non-empty list of http(s)
// base URLs (no query, fragment or spaces), each without its trailing slash
// so that "/cgi-bin/..." can be appended.
absl::Status ReadBaseUrls(const Entries& entries, absl::string_view path,
                          absl::string_view key, std::vector<std::string>* out);

// host:port, with an IPv6 host in brackets. Port 0 is allowed: tests listen
// on an ephemeral port.
absl::Status CheckHostPort(absl::string_view path, absl::string_view value);

}  // namespace wxtoken::server::config_yaml

#endif  // WXTOKEN_SERVER_CONFIG_YAML_FIELDS_H_
