#include "server/store/state_file.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace wxtoken::server {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr char kFormat[] = "wxtoken-state-v3";
// Kept only the earliest unanswered send time: read, and upgraded by
// FromTokenRecord (the latest taken as the time of reading).
constexpr char kEarliestOnlyFormat[] = "wxtoken-state-v2";
constexpr char kFirstFormat[] = "wxtoken-state-v1";

std::string TimeText(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_full, time, absl::UTCTimeZone());
}

void SetString(Struct& doc, const std::string& key, std::string value) {
  (*doc.mutable_fields())[key].set_string_value(std::move(value));
}

void SetTime(Struct& doc, const std::string& key,
             std::optional<absl::Time> time) {
  if (time) SetString(doc, key, TimeText(*time));
}

// Reads the fields of one JSON object, collecting the first error.
class Reader {
 public:
  Reader(const Struct& doc, std::string where)
      : doc_(doc), where_(std::move(where)) {}

  std::optional<std::string> String(const std::string& key, bool required) {
    auto it = doc_.fields().find(key);
    if (it == doc_.fields().end()) {
      if (required) Fail(absl::StrCat("missing \"", key, "\""));
      return std::nullopt;
    }
    if (!it->second.has_string_value()) {
      Fail(absl::StrCat("\"", key, "\" is not a string"));
      return std::nullopt;
    }
    return it->second.string_value();
  }
  template <class Int>
  Int Number(const std::string& key) {
    Int value = 0;
    std::optional<std::string> text = String(key, true);
    if (text && (!absl::SimpleAtoi(*text, &value) || value < 0)) {
      Fail(absl::StrCat("\"", key, "\" is not a number"));
    }
    return value;
  }
  std::optional<absl::Time> Time(const std::string& key, bool required) {
    std::optional<std::string> text = String(key, required);
    if (!text) return std::nullopt;
    absl::Time time;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, *text, &time, &error)) {
      Fail(absl::StrCat("\"", key, "\" is not a time: ", error));
      return std::nullopt;
    }
    return time;
  }
  void Fail(const std::string& message) {
    if (error_.ok()) {
      error_ = absl::InvalidArgumentError(absl::StrCat(where_, message));
    }
  }
  const absl::Status& error() const { return error_; }

 private:
  const Struct& doc_;
  const std::string where_;
  absl::Status error_;
};

}  // namespace

std::string EncodeAppRecord(const AppRecord& record) {
  Struct doc;
  SetString(doc, "format", kFormat);
  SetString(doc, "app_id", record.app_id);
  SetString(doc, "day", absl::StrCat(record.day));
  SetString(doc, "fetches", absl::StrCat(record.fetches));
  SetString(doc, "force_fetches", absl::StrCat(record.force_fetches));
  SetString(doc, "stable_forces", absl::StrCat(record.stable_forces));
  SetTime(doc, "last_stable_force", record.last_stable_force);
  SetTime(doc, "quota_blocked_until", record.quota_blocked_until);
  if (!record.owner.empty()) {
    Struct owner;
    for (const auto& [name, value] : record.owner) {
      SetString(owner, name, value);
    }
    *(*doc.mutable_fields())["owner"].mutable_struct_value() = std::move(owner);
  }
  auto& tokens = *(*doc.mutable_fields())["tokens"].mutable_list_value();
  for (const TokenRecord& token : record.tokens) {
    Struct entry;
    SetString(entry, "kind", std::string(TokenKindName(token.kind)));
    SetString(entry, "value", token.value);
    SetString(entry, "generation", absl::StrCat(token.generation));
    SetTime(entry, "fetched_at", token.fetched_at);
    SetTime(entry, "expires_at", token.expires_at);
    SetTime(entry, "intent", token.intent);
    SetTime(entry, "latest_intent", token.latest_intent);
    *tokens.add_values()->mutable_struct_value() = std::move(entry);
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(doc, &json, options);
  return json;
}

absl::StatusOr<AppRecord> DecodeAppRecord(absl::string_view text) {
  Struct doc;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(text.data(), text.size()), &doc)
           .ok()) {
    return absl::InvalidArgumentError("not JSON");
  }
  Reader reader(doc, "");
  const std::optional<std::string> format = reader.String("format", false);
  if (format == kFirstFormat) {
    return absl::InvalidArgumentError(
        "a state file of wxtoken's first version, which did not record "
        "unanswered requests; not trusted");
  }
  if (format != kFormat && format != kEarliestOnlyFormat) {
    return absl::InvalidArgumentError("not a wxtoken state file");
  }
  AppRecord record;
  record.app_id = reader.String("app_id", true).value_or("");
  record.day = reader.Number<int64_t>("day");
  record.fetches = reader.Number<int>("fetches");
  record.force_fetches = reader.Number<int>("force_fetches");
  record.stable_forces = reader.Number<int>("stable_forces");
  record.last_stable_force = reader.Time("last_stable_force", false);
  record.quota_blocked_until = reader.Time("quota_blocked_until", false);
  if (!reader.error().ok()) return reader.error();

  if (auto owner = doc.fields().find("owner"); owner != doc.fields().end()) {
    if (!owner->second.has_struct_value()) {
      return absl::InvalidArgumentError("\"owner\" is not an object");
    }
    for (const auto& [name, value] : owner->second.struct_value().fields()) {
      if (!value.has_string_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("owner.", name, " is not a string"));
      }
      record.owner[name] = value.string_value();
    }
  }
  auto tokens = doc.fields().find("tokens");
  if (tokens == doc.fields().end() || !tokens->second.has_list_value()) {
    return absl::InvalidArgumentError("missing \"tokens\"");
  }
  int index = 0;
  for (const Value& value : tokens->second.list_value().values()) {
    const std::string where = absl::StrCat("tokens[", index++, "]: ");
    if (!value.has_struct_value()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "not an object"));
    }
    Reader entry(value.struct_value(), where);
    TokenRecord token;
    const std::optional<std::string> kind = entry.String("kind", true);
    const std::optional<TokenKind> parsed =
        kind ? TokenKindFromName(*kind) : std::nullopt;
    if (kind && !parsed)
      entry.Fail(absl::StrCat("unknown kind \"", *kind, "\""));
    token.kind = parsed.value_or(TokenKind::kAccessToken);
    token.value = entry.String("value", true).value_or("");
    token.generation = entry.Number<uint64_t>("generation");
    token.fetched_at =
        entry.Time("fetched_at", true).value_or(absl::InfinitePast());
    token.expires_at =
        entry.Time("expires_at", true).value_or(absl::InfinitePast());
    token.intent = entry.Time("intent", false);
    token.latest_intent = entry.Time("latest_intent", false);
    if (token.latest_intent && !token.intent) {
      entry.Fail("\"latest_intent\" without \"intent\"");
    }
    if (!entry.error().ok()) return entry.error();
    for (const TokenRecord& other : record.tokens) {
      if (other.kind == token.kind) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "a second ", *kind));
      }
    }
    record.tokens.push_back(std::move(token));
  }
  return record;
}

}  // namespace wxtoken::server
