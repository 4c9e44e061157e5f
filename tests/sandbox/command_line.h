#ifndef WXTOKEN_TESTS_SANDBOX_COMMAND_LINE_H_
#define WXTOKEN_TESTS_SANDBOX_COMMAND_LINE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wxtoken::sandbox {

// absl keeps only the last occurrence of a flag, but `--app` is meant to be
// repeated. Rewrites `args` (argv, program name first) so every `--NAME V`,
// `--NAME=V`, `-NAME V` and `-NAME=V` before a lone `--` becomes one
// `--NAME=V1,V2,...` where the first one stood; a vector flag then sees all.
std::vector<std::string> MergeRepeatedFlag(std::vector<std::string> args,
                                           absl::string_view name);

// Parses `ID:SECRET` entries of --`flag` (split at the first ':') into id →
// secret. Both parts must be non-empty and ids unique.
absl::StatusOr<std::map<std::string, std::string>> ParseIdSecrets(
    const std::vector<std::string>& entries, absl::string_view flag);

// ParseIdSecrets of --app, with at least one app given (main lets a
// sandbox of platforms or WeCom apps alone have none).
absl::StatusOr<std::map<std::string, std::string>> ParseApps(
    const std::vector<std::string>& entries);

// ParseIdSecrets of --wecom_app: ids are CORPID/AGENT, each part 1 to 32
// of [A-Za-z0-9_-]; the secret picks the app within its corp, so no corp
// has one secret twice. None is no error.
absl::StatusOr<std::map<std::string, std::string>> ParseWeComApps(
    const std::vector<std::string>& entries);

// ParseIdSecrets of --wecom_provider: CORPID:PROVIDER_SECRET, the corpid
// 1 to 32 of [A-Za-z0-9_-]. None is no error.
absl::StatusOr<std::map<std::string, std::string>> ParseWeComProviders(
    const std::vector<std::string>& entries);

// A suite of --wecom_suite.
struct WeComSuiteFlag {
  std::string suite_id;
  std::string secret;
  std::string server_token;      // the callback's Token
  std::string encoding_aes_key;  // the callback's EncodingAESKey
};

// Parses --wecom_suite entries, SUITE_ID:SECRET:TOKEN:AESKEY: the suite id
// 1 to 32 of [A-Za-z0-9_-], no part empty or holding ':', the key 43
// characters (WeCom's EncodingAESKey; its alphabet is checked where it is
// used), suite ids unique. None is no error.
absl::StatusOr<std::vector<WeComSuiteFlag>> ParseWeComSuites(
    const std::vector<std::string>& entries);

// The entries of an apps file: one `APPID:SECRET` a line; blank lines and
// lines starting with '#' are skipped. For thousands of apps, which do not
// fit a command line.
absl::StatusOr<std::vector<std::string>> ReadAppsFile(const std::string& path);

struct ListenAddress {
  std::string host;  // as written, e.g. "127.0.0.1" or "[::1]"
  int port = 0;      // 0 = any free port
};

// Parses `HOST:PORT`; an IPv6 host is written in brackets.
absl::StatusOr<ListenAddress> ParseListen(absl::string_view text);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_COMMAND_LINE_H_
