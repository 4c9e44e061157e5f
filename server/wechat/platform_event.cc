#include "server/wechat/platform_event.h"

#include <array>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/wechat/flat_xml.h"
#include "server/wechat/limits.h"

namespace wxtoken::server {
namespace {

constexpr size_t kMaxInfoTypeLength = 64;
constexpr size_t kMaxCodeLength = 512;

absl::Status Invalid(absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("event: ", reason));
}

// The elements wxtokend reads; others (PreAuthCode, ...) are ignored.
constexpr std::array<absl::string_view, 7> kFields = {
    "AppId",
    "CreateTime",
    "InfoType",
    "ComponentVerifyTicket",
    "AuthorizerAppid",
    "AuthorizationCode",
    "AuthorizationCodeExpiredTime"};

bool IsPrintable(absl::string_view text) {
  for (char c : text) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

absl::StatusOr<absl::Time> Seconds(absl::string_view name,
                                   absl::string_view text) {
  int64_t seconds = 0;
  if (text.empty() || text.size() > kMaxTimestampLength ||
      !absl::c_all_of(text, absl::ascii_isdigit) ||
      !absl::SimpleAtoi(text, &seconds)) {
    return Invalid(absl::StrCat(name, " is not decimal Unix seconds"));
  }
  return absl::FromUnixSeconds(seconds);
}

// A credential's text (a ticket, an authorization code): never quoted.
absl::Status CheckCredential(absl::string_view name, absl::string_view text,
                             size_t max) {
  if (text.empty()) return Invalid(absl::StrCat(name, " is empty"));
  if (text.size() > max) {
    return Invalid(absl::StrCat(name, " is longer than ", max, " bytes"));
  }
  if (!IsPrintable(text)) {
    return Invalid(absl::StrCat(name, " is not printable ASCII"));
  }
  return absl::OkStatus();
}

absl::Status CheckAppId(absl::string_view name, absl::string_view text) {
  if (!IsWellFormedAppId(text)) {
    return Invalid(absl::StrCat(name, " is not an AppID"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PlatformEvent> ParsePlatformEvent(absl::string_view plaintext) {
  absl::flat_hash_map<absl::string_view, absl::string_view> fields;
  absl::Status status = ReadFlatXml(
      plaintext, [&](absl::string_view name, absl::string_view text) {
        if (absl::c_find(kFields, name) == kFields.end()) {
          return absl::OkStatus();
        }
        if (!fields.emplace(name, text).second) {
          return Invalid(absl::StrCat(name, " appears more than once"));
        }
        return absl::OkStatus();
      });
  if (!status.ok()) {
    return absl::StartsWith(status.message(), "event: ")
               ? status
               : Invalid(status.message());
  }
  auto field =
      [&](absl::string_view name) -> absl::StatusOr<absl::string_view> {
    auto it = fields.find(name);
    if (it == fields.end()) return Invalid(absl::StrCat(name, " is missing"));
    return it->second;
  };

  PlatformEvent event;
  absl::StatusOr<absl::string_view> app_id = field("AppId");
  if (!app_id.ok()) return app_id.status();
  if (status = CheckAppId("AppId", *app_id); !status.ok()) return status;
  event.component_app_id = std::string(*app_id);
  absl::StatusOr<absl::string_view> created = field("CreateTime");
  if (!created.ok()) return created.status();
  absl::StatusOr<absl::Time> create_time = Seconds("CreateTime", *created);
  if (!create_time.ok()) return create_time.status();
  event.create_time = *create_time;
  absl::StatusOr<absl::string_view> info_type = field("InfoType");
  if (!info_type.ok()) return info_type.status();
  if (info_type->empty() || info_type->size() > kMaxInfoTypeLength ||
      !IsPrintable(*info_type)) {
    return Invalid("InfoType is not a short printable name");
  }
  event.info_type = std::string(*info_type);

  const absl::flat_hash_map<absl::string_view, PlatformEvent::Type> types = {
      {"component_verify_ticket", PlatformEvent::Type::kVerifyTicket},
      {"authorized", PlatformEvent::Type::kAuthorized},
      {"updateauthorized", PlatformEvent::Type::kUpdateAuthorized},
      {"unauthorized", PlatformEvent::Type::kUnauthorized}};
  auto type = types.find(*info_type);
  if (type == types.end()) return event;  // kOther: nothing more to read
  event.type = type->second;

  if (event.type == PlatformEvent::Type::kVerifyTicket) {
    absl::StatusOr<absl::string_view> ticket = field("ComponentVerifyTicket");
    if (!ticket.ok()) return ticket.status();
    status = CheckCredential("ComponentVerifyTicket", *ticket, kMaxTokenLength);
    if (!status.ok()) return status;
    event.ticket = std::string(*ticket);
    return event;
  }
  absl::StatusOr<absl::string_view> authorizer = field("AuthorizerAppid");
  if (!authorizer.ok()) return authorizer.status();
  if (status = CheckAppId("AuthorizerAppid", *authorizer); !status.ok()) {
    return status;
  }
  event.authorizer_app_id = std::string(*authorizer);
  if (event.type == PlatformEvent::Type::kUnauthorized) return event;
  absl::StatusOr<absl::string_view> code = field("AuthorizationCode");
  if (!code.ok()) return code.status();
  status = CheckCredential("AuthorizationCode", *code, kMaxCodeLength);
  if (!status.ok()) return status;
  event.authorization_code = std::string(*code);
  if (auto it = fields.find("AuthorizationCodeExpiredTime");
      it != fields.end()) {
    absl::StatusOr<absl::Time> expires =
        Seconds("AuthorizationCodeExpiredTime", it->second);
    if (!expires.ok()) return expires.status();
    event.code_expires = *expires;
  }
  return event;
}

}  // namespace wxtoken::server
