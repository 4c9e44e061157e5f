#include "server/store/redis_records.h"

#include <map>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace wxtoken::server {
namespace {

// The hash fields of AppRecord::owner.
constexpr char kOwnerPrefix[] = "owner.";

std::string Micros(absl::Time time) {
  return absl::StrCat(absl::ToUnixMicros(time));
}
std::string Micros(const std::optional<absl::Time>& time) {
  return time ? Micros(*time) : "";
}

}  // namespace

std::vector<std::string> RedisWriteArgs(const AppRecord& record) {
  std::vector<std::string> args = {absl::StrCat(record.tokens.size())};
  for (const TokenRecord& token : record.tokens) {
    args.push_back(std::string(TokenKindName(token.kind)));
    args.push_back(token.value);
    args.push_back(absl::StrCat(token.generation));
    args.push_back(absl::StrCat(token.epoch));
    args.push_back(Micros(token.fetched_at));
    args.push_back(Micros(token.expires_at));
    args.push_back(Micros(token.intent));
    args.push_back(token.intent
                       ? Micros(token.latest_intent.value_or(*token.intent))
                       : "");
    // " 123,456 - ": each pair of intents the writer may have seen, "-"
    // for none.
    std::string seen = " ";
    for (const SeenIntent& intent : token.seen_intents) {
      if (intent.earliest) {
        absl::StrAppend(&seen, Micros(*intent.earliest), ",",
                        Micros(intent.latest.value_or(*intent.earliest)), " ");
      } else {
        absl::StrAppend(&seen, "- ");
      }
    }
    args.push_back(seen);
  }
  args.push_back(absl::StrCat(record.day));
  args.push_back(absl::StrCat(record.fetches));
  args.push_back(absl::StrCat(record.force_fetches));
  args.push_back(absl::StrCat(record.stable_forces));
  args.push_back(Micros(record.last_stable_force));
  args.push_back(Micros(record.quota_blocked_until));
  args.push_back(absl::StrCat(record.owner.size()));
  for (const auto& [name, value] : record.owner) {
    args.push_back(name);
    args.push_back(value);
  }
  return args;
}

absl::StatusOr<TokenRecord> RedisStoredToken(
    TokenKind kind, const std::vector<std::string>& fields) {
  if (fields.size() != 7) {
    return absl::InternalError("unexpected answer to the write script");
  }
  std::vector<std::string> named = {
      "value",   fields[0],    "generation",    fields[1], "fetched_at",
      fields[2], "expires_at", fields[3],       "intent",  fields[4],
      "epoch",   fields[5],    "latest_intent", fields[6]};
  std::vector<std::string> present;  // as HGETALL would list them
  for (size_t i = 0; i < named.size(); i += 2) {
    if (named[i + 1].empty()) continue;
    present.push_back(absl::StrCat(TokenKindName(kind), ".", named[i]));
    present.push_back(named[i + 1]);
  }
  absl::StatusOr<AppRecord> record = RedisRecord("", present);
  if (!record.ok()) return record.status();
  if (record->tokens.empty()) {
    TokenRecord none;
    none.kind = kind;
    return none;
  }
  return record->tokens[0];
}

absl::StatusOr<AppRecord> RedisRecord(const std::string& app_id,
                                      const std::vector<std::string>& fields) {
  std::map<std::string, std::string> hash;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    hash[fields[i]] = fields[i + 1];
  }
  absl::Status error;
  auto integer = [&](const std::string& field, auto* out) {
    auto it = hash.find(field);
    if (it == hash.end()) return;
    if (!absl::SimpleAtoi(it->second, out) && error.ok()) {
      error = absl::InvalidArgumentError(
          absl::StrCat("field \"", field, "\" is not a number"));
    }
  };
  auto time = [&](const std::string& field) -> std::optional<absl::Time> {
    int64_t micros = 0;
    if (!hash.contains(field)) return std::nullopt;
    integer(field, &micros);
    return absl::FromUnixMicros(micros);
  };
  AppRecord record;
  record.app_id = app_id;
  integer("day", &record.day);
  integer("fetches", &record.fetches);
  integer("force_fetches", &record.force_fetches);
  integer("stable_forces", &record.stable_forces);
  record.last_stable_force = time("last_stable_force");
  record.quota_blocked_until = time("quota_blocked_until");
  for (const auto& [field, value] : hash) {
    if (absl::StartsWith(field, kOwnerPrefix)) {
      record.owner[field.substr(sizeof(kOwnerPrefix) - 1)] = value;
    }
  }
  for (TokenKind kind : kAllTokenKinds) {
    const std::string name(TokenKindName(kind));
    const bool has_value = hash.contains(name + ".value");
    const bool has_intent = hash.contains(name + ".intent");
    if (!has_value && !has_intent) continue;
    TokenRecord token;
    token.kind = kind;
    if (has_value) token.value = hash[name + ".value"];
    integer(name + ".generation", &token.generation);
    integer(name + ".epoch", &token.epoch);
    token.fetched_at = time(name + ".fetched_at").value_or(absl::UnixEpoch());
    token.expires_at = time(name + ".expires_at").value_or(absl::UnixEpoch());
    token.intent = time(name + ".intent");
    if (token.intent) token.latest_intent = time(name + ".latest_intent");
    record.tokens.push_back(std::move(token));
  }
  if (!error.ok()) return error;
  return record;
}

}  // namespace wxtoken::server
