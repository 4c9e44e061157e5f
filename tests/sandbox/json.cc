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

}  // namespace wxtoken::sandbox
