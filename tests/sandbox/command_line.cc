#include "tests/sandbox/command_line.h"

#include <cstddef>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace wxtoken::sandbox {

std::vector<std::string> MergeRepeatedFlag(std::vector<std::string> args,
                                           absl::string_view name) {
  const std::string bare_long = absl::StrCat("--", name);
  const std::string bare_short = absl::StrCat("-", name);
  const std::string eq_long = absl::StrCat(bare_long, "=");
  const std::string eq_short = absl::StrCat(bare_short, "=");

  std::vector<std::string> out;
  std::vector<std::string> values;
  size_t first = 0;  // where the merged flag goes in `out`
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (i > 0 && arg == "--") break;  // the rest are positional arguments
    std::string value;
    if (i > 0 && (arg == bare_long || arg == bare_short) &&
        i + 1 < args.size()) {
      value = args[++i];
    } else if (i > 0 && (absl::StartsWith(arg, eq_long) ||
                         absl::StartsWith(arg, eq_short))) {
      value = arg.substr(arg.find('=') + 1);
    } else {
      out.push_back(arg);
      continue;
    }
    if (values.empty()) first = out.size();
    values.push_back(std::move(value));
  }
  for (; i < args.size(); ++i) out.push_back(std::move(args[i]));
  if (!values.empty()) {
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(first),
               absl::StrCat(eq_long, absl::StrJoin(values, ",")));
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseIdSecrets(
    const std::vector<std::string>& entries, absl::string_view flag) {
  std::map<std::string, std::string> apps;
  for (const std::string& entry : entries) {
    const size_t colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size()) {
      // Name only the appid part: the rest is a secret.
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, ": want ID:SECRET, got an entry starting \"",
          entry.substr(0, colon == std::string::npos ? 0 : colon), "\""));
    }
    const std::string appid = entry.substr(0, colon);
    if (!apps.emplace(appid, entry.substr(colon + 1)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": ", appid, " given twice"));
    }
  }
  return apps;
}

absl::StatusOr<std::map<std::string, std::string>> ParseApps(
    const std::vector<std::string>& entries) {
  absl::StatusOr<std::map<std::string, std::string>> apps =
      ParseIdSecrets(entries, "app");
  if (apps.ok() && apps->empty()) {
    return absl::InvalidArgumentError(
        "--app: give at least one APPID:SECRET (or a --platform, "
        "--wecom_app, --wecom_provider or --wecom_suite)");
  }
  return apps;
}

namespace {

// 1 to 32 of [A-Za-z0-9_-], as WeCom's corp ids and agent ids are.
bool IsWeComIdPart(absl::string_view part) {
  if (part.empty() || part.size() > 32) return false;
  for (char c : part) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseWeComApps(
    const std::vector<std::string>& entries) {
  absl::StatusOr<std::map<std::string, std::string>> apps =
      ParseIdSecrets(entries, "wecom_app");
  if (!apps.ok()) return apps;
  std::set<std::pair<std::string, std::string>> secrets;  // corp, secret
  for (const auto& [id, secret] : *apps) {
    const size_t slash = id.find('/');
    if (slash == std::string::npos ||
        !IsWeComIdPart(absl::string_view(id).substr(0, slash)) ||
        !IsWeComIdPart(absl::string_view(id).substr(slash + 1))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--wecom_app: want CORPID/AGENT:SECRET, each id 1 to 32 of "
          "[A-Za-z0-9_-], got \"",
          id, "\""));
    }
    if (!secrets.emplace(id.substr(0, slash), secret).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--wecom_app: two apps of ", id.substr(0, slash),
                       " have one secret; it must pick the app"));
    }
  }
  return apps;
}

absl::StatusOr<std::map<std::string, std::string>> ParseWeComProviders(
    const std::vector<std::string>& entries) {
  absl::StatusOr<std::map<std::string, std::string>> providers =
      ParseIdSecrets(entries, "wecom_provider");
  if (!providers.ok()) return providers;
  for (const auto& [corpid, secret] : *providers) {
    if (!IsWeComIdPart(corpid)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--wecom_provider: want CORPID:SECRET, the corpid 1 to 32 of "
          "[A-Za-z0-9_-], got \"",
          corpid, "\""));
    }
  }
  return providers;
}

absl::StatusOr<std::vector<WeComSuiteFlag>> ParseWeComSuites(
    const std::vector<std::string>& entries) {
  constexpr size_t kAesKeyLength = 43;
  std::vector<WeComSuiteFlag> suites;
  std::set<std::string> ids;
  for (const std::string& entry : entries) {
    const std::vector<std::string> parts = absl::StrSplit(entry, ':');
    const std::string id = parts.front();
    // Name only the suite id: the rest holds secrets.
    if (parts.size() != 4 || !IsWeComIdPart(id) || parts[1].empty() ||
        parts[2].empty() || parts[3].size() != kAesKeyLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--wecom_suite: want SUITE_ID:SECRET:TOKEN:AESKEY (the suite id 1 "
          "to 32 of [A-Za-z0-9_-], the key 43 characters), got an entry "
          "starting \"",
          IsWeComIdPart(id) ? id : "", "\""));
    }
    if (!ids.insert(id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--wecom_suite: ", id, " given twice"));
    }
    suites.push_back(WeComSuiteFlag{id, parts[1], parts[2], parts[3]});
  }
  return suites;
}

absl::StatusOr<std::vector<std::string>> ReadAppsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--apps_file: cannot read \"", path, "\""));
  }
  std::vector<std::string> entries;
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view entry = absl::StripAsciiWhitespace(line);
    if (entry.empty() || absl::StartsWith(entry, "#")) continue;
    entries.emplace_back(entry);
  }
  return entries;
}

absl::StatusOr<ListenAddress> ParseListen(absl::string_view text) {
  const size_t colon = text.rfind(':');
  ListenAddress address;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(text.substr(colon + 1), &address.port) ||
      address.port < 0 || address.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: want HOST:PORT, got \"", text, "\""));
  }
  address.host = std::string(text.substr(0, colon));
  // A bare IPv6 address ("::1:80") is ambiguous; insist on brackets.
  if (address.host.find(':') != std::string::npos &&
      !(address.host.front() == '[' && address.host.back() == ']')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen: write an IPv6 host in brackets, got \"", text, "\""));
  }
  return address;
}

}  // namespace wxtoken::sandbox
