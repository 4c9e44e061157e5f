#include "tests/sandbox/wecom_suite_pusher.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace wxtoken::sandbox {
namespace {

constexpr absl::string_view kScheme = "http://";

std::string Seconds(absl::Time time) {
  return absl::StrCat(absl::ToUnixSeconds(time));
}

// http://HOST:PORT, then "" or a path from '/' on; nullopt for another
// shape. A path is required when `need_path`.
std::optional<std::pair<std::string, std::string>> SplitUrl(
    const std::string& url, bool need_path) {
  if (!absl::StartsWith(url, kScheme) || url.size() == kScheme.size()) {
    return std::nullopt;
  }
  const size_t slash = url.find('/', kScheme.size());
  if (slash == std::string::npos) {
    if (need_path) return std::nullopt;
    return std::make_pair(url, std::string());
  }
  if (slash == kScheme.size()) return std::nullopt;  // no host
  return std::make_pair(url.substr(0, slash), url.substr(slash));
}

}  // namespace

std::string SuiteTicketEventXml(absl::string_view suite_id,
                                absl::string_view ticket, absl::Time created) {
  return absl::StrCat("<xml>", Element("SuiteId", suite_id),
                      Element("InfoType", "suite_ticket"), "<TimeStamp>",
                      Seconds(created), "</TimeStamp>",
                      Element("SuiteTicket", ticket), "</xml>");
}

std::string CreateAuthEventXml(absl::string_view suite_id,
                               absl::string_view auth_code,
                               absl::Time created) {
  return absl::StrCat(
      "<xml>", Element("SuiteId", suite_id), Element("AuthCode", auth_code),
      Element("InfoType", "create_auth"), "<TimeStamp>", Seconds(created),
      "</TimeStamp>", Element("State", "sandbox"), "</xml>");
}

std::string CancelAuthEventXml(absl::string_view suite_id,
                               absl::string_view corpid, absl::Time created) {
  return absl::StrCat("<xml>", Element("SuiteId", suite_id),
                      Element("InfoType", "cancel_auth"), "<TimeStamp>",
                      Seconds(created), "</TimeStamp>",
                      Element("AuthCorpId", corpid), "</xml>");
}

bool AnsweredSuccess(const PushResult& result) {
  return result.http_status == 200 && result.body == "success";
}

absl::Status WeComSuitePusher::AddSuite(const std::string& suite_id,
                                        std::string server_token,
                                        const std::string& encoding_aes_key) {
  absl::StatusOr<server::MessageKey> key =
      server::MessageKey::FromEncodingAesKey(encoding_aes_key);
  if (!key.ok()) return key.status();
  absl::MutexLock lock(&mu_);
  suites_.insert_or_assign(suite_id,
                           Suite{std::move(server_token), *std::move(key), ""});
  return absl::OkStatus();
}

absl::Status WeComSuitePusher::SetPushBase(const std::string& base_url) {
  if (!base_url.empty() && !SplitUrl(base_url, /*need_path=*/false)) {
    return absl::InvalidArgumentError(
        "url: expected http://HOST:PORT[/PREFIX]");
  }
  absl::MutexLock lock(&mu_);
  base_ = std::string(absl::StripSuffix(base_url, "/"));
  return absl::OkStatus();
}

absl::Status WeComSuitePusher::SetSuiteUrl(const std::string& suite_id,
                                           const std::string& url) {
  if (!url.empty() && !SplitUrl(url, /*need_path=*/true)) {
    return absl::InvalidArgumentError("url: expected http://HOST:PORT/PATH");
  }
  absl::MutexLock lock(&mu_);
  auto it = suites_.find(suite_id);
  if (it == suites_.end()) {
    return absl::InvalidArgumentError("suite_id: not a configured suite");
  }
  it->second.url = url;
  return absl::OkStatus();
}

std::string WeComSuitePusher::UrlOf(const std::string& suite_id,
                                    const Suite& suite) const {
  if (!suite.url.empty()) return suite.url;
  if (base_.empty()) return "";
  return absl::StrCat(base_, "/wecom/suite/", suite_id);
}

bool WeComSuitePusher::HasTarget(const std::string& suite_id) const {
  absl::MutexLock lock(&mu_);
  auto it = suites_.find(suite_id);
  return it != suites_.end() && !UrlOf(suite_id, it->second).empty();
}

PushResult WeComSuitePusher::Push(const std::string& suite_id,
                                  absl::string_view event_xml, absl::Time now) {
  std::optional<Suite> suite;
  std::string url;
  {
    absl::MutexLock lock(&mu_);
    auto it = suites_.find(suite_id);
    if (it != suites_.end()) {
      suite = it->second;
      url = UrlOf(suite_id, it->second);
    }
  }
  const auto split = SplitUrl(url, /*need_path=*/true);
  if (!suite || !split) {
    PushResult result;
    result.error = "no push target for this suite";
    return result;
  }
  return PostEncrypted({.key = &suite->key,
                        .server_token = suite->server_token,
                        .receive_id = suite_id,
                        .event_xml = event_xml,
                        .envelope =
                            [&](absl::string_view encrypt) {
                              return absl::StrCat(
                                  "<xml>", Element("ToUserName", suite_id),
                                  Element("Encrypt", encrypt),
                                  Element("AgentID", ""), "</xml>");
                            },
                        .host_port = split->first,
                        .path = split->second,
                        .extra_query = ""},
                       now);
}

SuiteTicketPush PushSuiteTicket(WeComSuiteState& state,
                                WeComSuitePusher& pusher,
                                const std::string& suite_id, absl::Time now) {
  SuiteTicketPush push;
  push.ticket = state.NewTicket(suite_id, now);
  if (push.ticket.empty() || !pusher.HasTarget(suite_id)) return push;
  push.pushed = true;
  push.result = pusher.Push(
      suite_id, SuiteTicketEventXml(suite_id, push.ticket, now), now);
  state.RecordPush(suite_id, SuitePush::kTicket, AnsweredSuccess(push.result));
  return push;
}

}  // namespace wxtoken::sandbox
