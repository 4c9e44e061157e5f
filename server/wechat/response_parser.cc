#include "server/wechat/response_parser.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/wechat/egress_ip.h"
#include "server/wechat/errcodes.h"

namespace wxtoken::server {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;

// Longer than any real token's lifetime (7200 s): a larger expires_in is a
// broken answer and would overflow the refresh schedule's arithmetic.
constexpr double kMaxExpiresInSeconds = 366.0 * 24 * 3600;

FetchResult Malformed(int http_status, std::string detail) {
  FetchResult result;
  result.failure = FailureClass::kTransient;
  // We cannot tell whether WeChat issued something we failed to read.
  result.maybe_issued = true;
  result.http_status = http_status;
  result.detail = std::move(detail);
  return result;
}

// WeChat ends most errmsgs with "rid: <id>" (hex and dashes): the id its
// support asks for.
std::string RequestId(std::string_view errmsg) {
  const size_t at = errmsg.rfind("rid: ");
  if (at == std::string_view::npos) return "";
  std::string_view rest = errmsg.substr(at + 5);
  size_t end = 0;
  while (end < rest.size() && end < 64 &&
         (absl::ascii_isalnum(static_cast<unsigned char>(rest[end])) ||
          rest[end] == '-')) {
    ++end;
  }
  return std::string(rest.substr(0, end));
}

// WeChat's errmsg is its own text, but a server could echo a credential
// back: each is scrubbed whole, before anything cuts the text.
std::string Scrub(std::string_view errmsg,
                  absl::Span<const absl::string_view> credentials) {
  std::string scrubbed(errmsg);
  for (absl::string_view credential : credentials) {
    if (!credential.empty()) {
      absl::StrReplaceAll({{credential, "<redacted>"}}, &scrubbed);
    }
  }
  return scrubbed;
}

// Keeps log lines single-line and short: cut at a UTF-8 character boundary,
// control characters replaced.
std::string SanitizeErrmsg(std::string_view errmsg) {
  if (errmsg.size() > kMaxErrmsgLength) {
    size_t cut = kMaxErrmsgLength;
    // Back up over UTF-8 continuation bytes (10xxxxxx).
    while (cut > 0 &&
           (static_cast<unsigned char>(errmsg[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    errmsg = errmsg.substr(0, cut);
  }
  std::string out(errmsg);
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = '?';
  }
  return out;
}

// Whether `v` is a number that is an exact int. JSON numbers arrive as
// doubles; an errcode like 1.5 or 1e20 is not one WeChat sends.
bool AsInt(const Value& v, int* out) {
  if (v.kind_case() != Value::kNumberValue) return false;
  const double d = v.number_value();
  if (!std::isfinite(d) || d != std::trunc(d) || d < -2147483648.0 ||
      d > 2147483647.0) {
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

const char* ValueField(FetchApi api) {
  switch (api) {
    case FetchApi::kTicket:
    case FetchApi::kWeComTicket:
      return "ticket";
    case FetchApi::kComponentToken:
      return "component_access_token";
    case FetchApi::kQueryAuth:
    case FetchApi::kAuthorizerToken:
      return "authorizer_access_token";
    case FetchApi::kWeComProviderToken:
      return "provider_access_token";
    case FetchApi::kWeComSuiteToken:
      return "suite_access_token";
    default:
      return "access_token";
  }
}

// An api_get_authorizer_list page.
FetchResult ParseList(int http_status,
                      const google::protobuf::Map<std::string, Value>& fields) {
  FetchResult result;
  result.http_status = http_status;
  result.detail = "ok";
  auto total = fields.find("total_count");
  auto list = fields.find("list");
  if (total == fields.end() ||
      total->second.kind_case() != Value::kNumberValue ||
      total->second.number_value() < 0 || total->second.number_value() > 1e9) {
    return Malformed(http_status, "total_count is missing or not a count");
  }
  result.total_count = static_cast<int64_t>(total->second.number_value());
  if (list == fields.end() || list->second.kind_case() != Value::kListValue) {
    return Malformed(http_status, "list is missing");
  }
  for (const Value& entry : list->second.list_value().values()) {
    if (entry.kind_case() != Value::kStructValue) {
      return Malformed(http_status, "a list entry is not an object");
    }
    const auto& item = entry.struct_value().fields();
    auto appid = item.find("authorizer_appid");
    auto refresh = item.find("refresh_token");
    if (appid == item.end() ||
        appid->second.kind_case() != Value::kStringValue ||
        !IsWellFormedAppId(appid->second.string_value())) {
      return Malformed(http_status, "a list entry has no authorizer_appid");
    }
    ListedAuthorizer listed;
    listed.authorizer_app_id = appid->second.string_value();
    if (refresh != item.end() &&
        refresh->second.kind_case() == Value::kStringValue &&
        refresh->second.string_value().size() <= kMaxTokenLength) {
      listed.refresh_token = refresh->second.string_value();
    }
    result.listed.push_back(std::move(listed));
  }
  return result;
}

// A quota/get answer: {"quota":{"daily_limit":N,"used":N,"remain":N}}.
FetchResult ParseQuota(
    int http_status, const google::protobuf::Map<std::string, Value>& fields) {
  auto quota = fields.find("quota");
  if (quota == fields.end() ||
      quota->second.kind_case() != Value::kStructValue) {
    return Malformed(http_status, "quota is missing");
  }
  const auto& counts = quota->second.struct_value().fields();
  int64_t values[3] = {};
  const char* names[3] = {"daily_limit", "used", "remain"};
  for (int i = 0; i < 3; ++i) {
    auto it = counts.find(names[i]);
    if (it == counts.end() || it->second.kind_case() != Value::kNumberValue ||
        it->second.number_value() < 0 || it->second.number_value() > 1e12) {
      return Malformed(http_status,
                       absl::StrCat("quota.", names[i], " is not a count"));
    }
    values[i] = static_cast<int64_t>(it->second.number_value());
  }
  FetchResult result;
  result.http_status = http_status;
  result.detail = "ok";
  result.quota_daily_limit = values[0];
  result.quota_used = values[1];
  result.quota_remain = values[2];
  return result;
}

// A get_permanent_code answer: the permanent code and the corp that
// installed the suite. The v1 answer's corp token (access_token) is not
// used, so it is neither required nor read.
FetchResult ParsePermanentCode(
    int http_status, const google::protobuf::Map<std::string, Value>& fields) {
  auto code = fields.find("permanent_code");
  if (code == fields.end()) {
    return Malformed(http_status, "missing permanent_code");
  }
  if (code->second.kind_case() != Value::kStringValue ||
      code->second.string_value().empty() ||
      code->second.string_value().size() > kMaxTokenLength) {
    return Malformed(http_status,
                     absl::StrCat("permanent_code is not a string of 1 to ",
                                  kMaxTokenLength, " characters"));
  }
  auto info = fields.find("auth_corp_info");
  if (info == fields.end() || info->second.kind_case() != Value::kStructValue) {
    return Malformed(http_status, "missing auth_corp_info");
  }
  const auto& corp = info->second.struct_value().fields();
  auto corpid = corp.find("corpid");
  if (corpid == corp.end()) {
    return Malformed(http_status, "missing auth_corp_info.corpid");
  }
  // Not quoted: it is not a well-formed id, so it may be anything.
  if (corpid->second.kind_case() != Value::kStringValue ||
      !IsWellFormedAppId(corpid->second.string_value())) {
    return Malformed(http_status,
                     "auth_corp_info.corpid is not a well-formed corp id");
  }
  FetchResult result;
  result.http_status = http_status;
  result.detail = "ok";
  result.refresh_token = code->second.string_value();
  result.auth_corp_id = corpid->second.string_value();
  return result;
}

// The value, its expiry and (authorizers) refresh token of a success.
FetchResult ParseValue(FetchApi api, int http_status,
                       const google::protobuf::Map<std::string, Value>& fields);

}  // namespace

FetchResult ParseFetchResponse(
    FetchApi api, int http_status, std::string_view body,
    absl::Span<const absl::string_view> credentials) {
  if (http_status != 200) {
    // A 5xx, a redirect we do not follow, a proxy's error page: in every case
    // the request may have reached WeChat and been served.
    return Malformed(http_status, absl::StrCat("HTTP ", http_status));
  }

  Struct json;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(body.data(), body.size()), &json,
           options)
           .ok()) {
    return Malformed(http_status, "response body is not a JSON object");
  }
  const auto& fields = json.fields();

  int errcode = 0;
  if (auto it = fields.find("errcode"); it != fields.end()) {
    if (!AsInt(it->second, &errcode)) {
      return Malformed(http_status, "errcode is not an integer");
    }
  }
  if (errcode != 0) {
    FetchResult result;
    result.failure = ClassifyErrcode(errcode, api);
    result.maybe_issued = false;
    result.errcode = errcode;
    result.http_status = http_status;
    result.detail = absl::StrCat("errcode ", errcode);
    if (auto it = fields.find("errmsg");
        it != fields.end() && it->second.kind_case() == Value::kStringValue) {
      const std::string errmsg = Scrub(it->second.string_value(), credentials);
      result.errmsg = SanitizeErrmsg(errmsg);
      result.rid = RequestId(errmsg);
      absl::StrAppend(&result.detail, ": ", result.errmsg);
      result.egress_ip =
          EgressIp(errcode, it->second.string_value()).value_or("");
    }
    return result;
  }

  if (api == FetchApi::kAuthorizerList) return ParseList(http_status, fields);
  if (api == FetchApi::kQuotaGet) return ParseQuota(http_status, fields);
  if (api == FetchApi::kWeComPermanentCode) {
    return ParsePermanentCode(http_status, fields);
  }
  if (api == FetchApi::kStartPushTicket) {
    // errcode 0 is all it answers: WeChat pushes the ticket.
    FetchResult result;
    result.http_status = http_status;
    result.detail = "ok";
    return result;
  }
  // api_query_auth and api_get_authorizer_info answer inside
  // authorization_info.
  const google::protobuf::Map<std::string, Value>* answer = &fields;
  if (api == FetchApi::kQueryAuth || api == FetchApi::kAuthorizerInfo) {
    auto info = fields.find("authorization_info");
    if (info == fields.end() ||
        info->second.kind_case() != Value::kStructValue) {
      return Malformed(http_status, "missing authorization_info");
    }
    answer = &info->second.struct_value().fields();
  }
  if (api == FetchApi::kAuthorizerInfo) {
    // Only its refresh token, which may be empty.
    FetchResult result;
    result.http_status = http_status;
    result.detail = "ok";
    auto it = answer->find("authorizer_refresh_token");
    if (it != answer->end() && it->second.kind_case() == Value::kStringValue &&
        it->second.string_value().size() <= kMaxTokenLength) {
      result.refresh_token = it->second.string_value();
    }
    return result;
  }
  return ParseValue(api, http_status, *answer);
}

namespace {

FetchResult ParseValue(
    FetchApi api, int http_status,
    const google::protobuf::Map<std::string, Value>& fields) {
  const char* const value_field = ValueField(api);
  auto value_it = fields.find(value_field);
  if (value_it == fields.end()) {
    return Malformed(http_status, absl::StrCat("missing ", value_field));
  }
  if (value_it->second.kind_case() != Value::kStringValue) {
    return Malformed(http_status,
                     absl::StrCat(value_field, " is not a string"));
  }
  const std::string& value = value_it->second.string_value();
  if (value.empty()) {
    return Malformed(http_status, absl::StrCat(value_field, " is empty"));
  }
  if (value.size() > kMaxTokenLength) {
    return Malformed(http_status, absl::StrCat(value_field, " is longer than ",
                                               kMaxTokenLength, " characters (",
                                               value.size(), ")"));
  }

  auto expires_it = fields.find("expires_in");
  if (expires_it == fields.end()) {
    return Malformed(http_status, "missing expires_in");
  }
  if (expires_it->second.kind_case() != Value::kNumberValue ||
      !std::isfinite(expires_it->second.number_value())) {
    return Malformed(http_status, "expires_in is not a number");
  }
  const double expires_in = expires_it->second.number_value();
  if (expires_in <= 0) {
    return Malformed(http_status, "expires_in is not positive");
  }
  if (expires_in > kMaxExpiresInSeconds) {
    return Malformed(http_status, "expires_in is implausibly large");
  }

  FetchResult result;
  result.failure = FailureClass::kNone;
  result.maybe_issued = false;
  result.http_status = http_status;
  result.detail = "ok";
  result.value = value;
  result.expires_in = absl::Seconds(expires_in);
  if (auto it = fields.find("authorizer_refresh_token");
      it != fields.end() &&
      (api == FetchApi::kQueryAuth || api == FetchApi::kAuthorizerToken)) {
    if (it->second.kind_case() != Value::kStringValue ||
        it->second.string_value().size() > kMaxTokenLength) {
      return Malformed(http_status, "authorizer_refresh_token is malformed");
    }
    result.refresh_token = it->second.string_value();
  }
  return result;
}

}  // namespace
}  // namespace wxtoken::server
