#ifndef WXTOKEN_SERVER_WECHAT_EVENT_FIELDS_H_
#define WXTOKEN_SERVER_WECHAT_EVENT_FIELDS_H_

#include <cstddef>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/wechat/platform_event.h"

namespace wxtoken::server {

// The longest authorization code (a platform's AuthorizationCode, a suite's
// AuthCode) and InfoType taken.
inline constexpr size_t kMaxEventCodeLength = 512;
inline constexpr size_t kMaxInfoTypeLength = 64;

// An INVALID_ARGUMENT "event: <reason>".
absl::Status EventError(absl::string_view reason);

// The elements a pushed event's parser reads (ParsePlatformEvent,
// ParseSuiteEvent), with the checks both apply, so each says only which
// element is what. Every error is an EventError naming the element and
// never quoting a credential. Views into the plaintext it was read from,
// which must outlive it.
class EventFields {
 public:
  // What every event of a family has, by the names the family gives it.
  struct Head {
    absl::string_view owner;        // its component_app_id ("AppId", ...)
    absl::string_view owner_shape;  // e.g. "an AppID"
    absl::string_view time;         // its create_time ("CreateTime", ...)
    // InfoType -> type; any other is kOther.
    std::initializer_list<std::pair<absl::string_view, PlatformEvent::Type>>
        types;
  };

  // Reads the flat XML `plaintext`, keeping the elements named in `wanted`
  // (others are ignored); one given twice is refused.
  static absl::StatusOr<EventFields> Read(
      absl::string_view plaintext,
      std::initializer_list<absl::string_view> wanted);

  // An event with its owner, time, InfoType and type read; the type's own
  // fields are left to the caller.
  absl::StatusOr<PlatformEvent> ReadHead(const Head& head) const;

  bool Has(absl::string_view name) const { return fields_.contains(name); }
  // Each requires the element; `what` says the shape it must have (e.g.
  // "an AppID"), an ID being IsWellFormedAppId.
  absl::StatusOr<std::string> Id(absl::string_view name,
                                 absl::string_view what) const;
  absl::StatusOr<absl::Time> Seconds(absl::string_view name) const;
  // InfoType: a short printable name.
  absl::StatusOr<std::string> InfoType() const;
  // A credential (a ticket, a code): non-empty printable ASCII of at most
  // `max` bytes.
  absl::StatusOr<std::string> Credential(absl::string_view name,
                                         size_t max) const;

 private:
  EventFields() = default;

  absl::StatusOr<absl::string_view> Required(absl::string_view name) const;

  absl::flat_hash_map<absl::string_view, absl::string_view> fields_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_EVENT_FIELDS_H_
