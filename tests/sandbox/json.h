#ifndef WXTOKEN_TESTS_SANDBOX_JSON_H_
#define WXTOKEN_TESTS_SANDBOX_JSON_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace wxtoken::sandbox {

// JSON in and out through protobuf's Struct, so the sandbox never hand-rolls
// a parser or an escaper.

// Parses a JSON object; nullopt when `text` is not one.
std::optional<google::protobuf::Struct> ParseJsonObject(absl::string_view text);

// Serializes `object` compactly.
std::string ToJson(const google::protobuf::Struct& object);

// Small builders for the answers the sandbox sends.
void SetString(google::protobuf::Struct& object, const std::string& key,
               absl::string_view value);
void SetNumber(google::protobuf::Struct& object, const std::string& key,
               double value);
void SetBool(google::protobuf::Struct& object, const std::string& key,
             bool value);

// Optional fields of a request: false when present but of another type;
// `*out` is set only when present. An integer is a JSON number without a
// fraction.
bool GetString(const google::protobuf::Struct& body, const std::string& key,
               std::string* out);
bool GetBool(const google::protobuf::Struct& body, const std::string& key,
             bool* out);
bool GetInteger(const google::protobuf::Struct& body, const std::string& key,
                int64_t* out);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_JSON_H_
