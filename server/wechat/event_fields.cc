#include "server/wechat/event_fields.h"

#include <cstdint>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/wechat/flat_xml.h"
#include "server/wechat/limits.h"

namespace wxtoken::server {
namespace {

bool IsPrintable(absl::string_view text) {
  for (char c : text) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace

absl::Status EventError(absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("event: ", reason));
}

absl::StatusOr<EventFields> EventFields::Read(
    absl::string_view plaintext,
    std::initializer_list<absl::string_view> wanted) {
  EventFields fields;
  absl::Status status = ReadFlatXml(
      plaintext, [&](absl::string_view name, absl::string_view text) {
        if (absl::c_find(wanted, name) == wanted.end()) {
          return absl::OkStatus();
        }
        if (!fields.fields_.emplace(name, text).second) {
          return EventError(absl::StrCat(name, " appears more than once"));
        }
        return absl::OkStatus();
      });
  if (!status.ok()) {
    return absl::StartsWith(status.message(), "event: ")
               ? status
               : EventError(status.message());
  }
  return fields;
}

absl::StatusOr<PlatformEvent> EventFields::ReadHead(const Head& head) const {
  PlatformEvent event;
  absl::StatusOr<std::string> owner = Id(head.owner, head.owner_shape);
  if (!owner.ok()) return owner.status();
  event.component_app_id = *std::move(owner);
  absl::StatusOr<absl::Time> create_time = Seconds(head.time);
  if (!create_time.ok()) return create_time.status();
  event.create_time = *create_time;
  absl::StatusOr<std::string> info_type = InfoType();
  if (!info_type.ok()) return info_type.status();
  event.info_type = *std::move(info_type);
  for (const auto& [name, type] : head.types) {
    if (name == event.info_type) event.type = type;
  }
  return event;
}

absl::StatusOr<absl::string_view> EventFields::Required(
    absl::string_view name) const {
  auto it = fields_.find(name);
  if (it == fields_.end()) return EventError(absl::StrCat(name, " is missing"));
  return it->second;
}

absl::StatusOr<std::string> EventFields::Id(absl::string_view name,
                                            absl::string_view what) const {
  absl::StatusOr<absl::string_view> text = Required(name);
  if (!text.ok()) return text.status();
  if (!IsWellFormedAppId(*text)) {
    return EventError(absl::StrCat(name, " is not ", what));
  }
  return std::string(*text);
}

absl::StatusOr<absl::Time> EventFields::Seconds(absl::string_view name) const {
  absl::StatusOr<absl::string_view> text = Required(name);
  if (!text.ok()) return text.status();
  int64_t seconds = 0;
  if (text->empty() || text->size() > kMaxTimestampLength ||
      !absl::c_all_of(*text, absl::ascii_isdigit) ||
      !absl::SimpleAtoi(*text, &seconds)) {
    return EventError(absl::StrCat(name, " is not decimal Unix seconds"));
  }
  return absl::FromUnixSeconds(seconds);
}

absl::StatusOr<std::string> EventFields::InfoType() const {
  absl::StatusOr<absl::string_view> text = Required("InfoType");
  if (!text.ok()) return text.status();
  if (text->empty() || text->size() > kMaxInfoTypeLength ||
      !IsPrintable(*text)) {
    return EventError("InfoType is not a short printable name");
  }
  return std::string(*text);
}

absl::StatusOr<std::string> EventFields::Credential(absl::string_view name,
                                                    size_t max) const {
  absl::StatusOr<absl::string_view> text = Required(name);
  if (!text.ok()) return text.status();
  if (text->empty()) return EventError(absl::StrCat(name, " is empty"));
  if (text->size() > max) {
    return EventError(absl::StrCat(name, " is longer than ", max, " bytes"));
  }
  if (!IsPrintable(*text)) {
    return EventError(absl::StrCat(name, " is not printable ASCII"));
  }
  return std::string(*text);
}

}  // namespace wxtoken::server
