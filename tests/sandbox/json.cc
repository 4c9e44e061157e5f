#include "tests/sandbox/json.h"

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace wxtoken::sandbox {

std::optional<google::protobuf::Struct> ParseJsonObject(
    absl::string_view text) {
  google::protobuf::Struct object;
  google::protobuf::util::JsonParseOptions options;
  // WeChat ignores fields it does not know; so do we.
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(std::string(text), &object,
                                                   options)
           .ok()) {
    return std::nullopt;
  }
  return object;
}

std::string ToJson(const google::protobuf::Struct& object) {
  std::string out;
  // A Struct always serializes; on the impossible failure answer "{}" rather
  // than an empty body, which callers would read as a transport problem.
  if (!google::protobuf::util::MessageToJsonString(object, &out).ok()) {
    return "{}";
  }
  return out;
}

void SetString(google::protobuf::Struct& object, const std::string& key,
               absl::string_view value) {
  (*object.mutable_fields())[key].set_string_value(std::string(value));
}

void SetNumber(google::protobuf::Struct& object, const std::string& key,
               double value) {
  (*object.mutable_fields())[key].set_number_value(value);
}

void SetBool(google::protobuf::Struct& object, const std::string& key,
             bool value) {
  (*object.mutable_fields())[key].set_bool_value(value);
}

bool GetString(const google::protobuf::Struct& body, const std::string& key,
               std::string* out) {
  auto it = body.fields().find(key);
  if (it == body.fields().end() ||
      it->second.kind_case() == google::protobuf::Value::kNullValue) {
    return true;
  }
  if (it->second.kind_case() != google::protobuf::Value::kStringValue)
    return false;
  *out = it->second.string_value();
  return true;
}

bool GetBool(const google::protobuf::Struct& body, const std::string& key,
             bool* out) {
  auto it = body.fields().find(key);
  if (it == body.fields().end() ||
      it->second.kind_case() == google::protobuf::Value::kNullValue) {
    return true;
  }
  if (it->second.kind_case() != google::protobuf::Value::kBoolValue)
    return false;
  *out = it->second.bool_value();
  return true;
}

bool GetInteger(const google::protobuf::Struct& body, const std::string& key,
                int64_t* out) {
  auto it = body.fields().find(key);
  if (it == body.fields().end() ||
      it->second.kind_case() == google::protobuf::Value::kNullValue) {
    return true;
  }
  if (it->second.kind_case() != google::protobuf::Value::kNumberValue) {
    return false;
  }
  const double value = it->second.number_value();
  // Within the integers a double holds exactly, and whole.
  constexpr double kMaxExact = 9007199254740992.0;  // 2^53
  if (!(value >= -kMaxExact && value <= kMaxExact) ||
      value != static_cast<double>(static_cast<int64_t>(value))) {
    return false;
  }
  *out = static_cast<int64_t>(value);
  return true;
}

}  // namespace wxtoken::sandbox
