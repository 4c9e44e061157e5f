#include "server/wechat/envelope.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/wechat/flat_xml.h"
#include "server/wechat/limits.h"

namespace wxtoken::server {
namespace {

constexpr absl::string_view kEncrypt = "Encrypt";
constexpr absl::string_view kToUserName = "ToUserName";
constexpr size_t kSha1HexLength = 40;
constexpr size_t kMaxJsonBrackets = 64;

absl::Status Invalid(absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("envelope: ", reason));
}

// Keeps the first Encrypt and ToUserName and rejects a second one, whatever
// the format: two Encrypt values would let a proxy and wxtokend disagree on
// which one the signature covers.
class FieldCollector {
 public:
  absl::Status Add(absl::string_view name, absl::string_view value) {
    std::optional<std::string>* slot = name == kEncrypt      ? &encrypt_
                                       : name == kToUserName ? &to_user_name_
                                                             : nullptr;
    if (slot == nullptr) return absl::OkStatus();
    if (slot->has_value()) {
      return Invalid(absl::StrCat(name, " appears more than once"));
    }
    *slot = std::string(value);
    return absl::OkStatus();
  }

  absl::StatusOr<PushEnvelope> Finish() && {
    if (!encrypt_.has_value()) return Invalid("Encrypt is missing");
    if (encrypt_->empty()) return Invalid("Encrypt is empty");
    return PushEnvelope{std::move(*encrypt_), std::move(to_user_name_)};
  }

 private:
  std::optional<std::string> encrypt_;
  std::optional<std::string> to_user_name_;
};

absl::Status ReadJson(absl::string_view body, FieldCollector* fields) {
  // Protobuf 3.21's JSON parser takes time superlinear in the nesting depth
  // of arrays (seconds at 8,000 deep; a 1 MiB body nests 500,000 deep). A
  // WeChat envelope is one flat object of strings, so counting every '{'
  // and '[' byte - inside strings too, so that no quoting trick can hide
  // one - bounds the depth before the parser sees the body.
  const size_t brackets = static_cast<size_t>(std::count_if(
      body.begin(), body.end(), [](char c) { return c == '{' || c == '['; }));
  if (brackets > kMaxJsonBrackets) {
    return Invalid(absl::StrCat("JSON body has more than ", kMaxJsonBrackets,
                                " '{' and '['"));
  }
  google::protobuf::Struct object;
  // The parser rejects repeated keys (also when spelled with \u escapes),
  // invalid UTF-8 and anything but one object. Its message quotes the body,
  // so it is not passed on.
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(body.data(), body.size()), &object)
           .ok()) {
    return Invalid(
        "JSON body is not one object (syntax, encoding or a repeated key)");
  }
  for (absl::string_view name : {kEncrypt, kToUserName}) {
    auto it = object.fields().find(std::string(name));
    if (it == object.fields().end()) continue;
    if (it->second.kind_case() != google::protobuf::Value::kStringValue) {
      return Invalid(absl::StrCat(name, " is not a string"));
    }
    if (absl::Status s = fields->Add(name, it->second.string_value());
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

bool AllOf(absl::string_view s, bool (*pred)(char)) {
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}

absl::Status CheckReplyFields(absl::string_view encrypt,
                              absl::string_view msg_signature,
                              absl::string_view timestamp,
                              absl::string_view nonce) {
  const auto is_base64 = [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' ||
           c == '/' || c == '=';
  };
  const auto is_hex = [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  };
  const auto is_digit = [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  };
  const auto is_nonce = [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-';
  };
  if (encrypt.empty() || encrypt.size() > kMaxEncryptLength ||
      !AllOf(encrypt, is_base64)) {
    return absl::InvalidArgumentError("encrypt: must be base64");
  }
  if (msg_signature.size() != kSha1HexLength || !AllOf(msg_signature, is_hex)) {
    return absl::InvalidArgumentError("msg_signature: must be 40 hex digits");
  }
  // No leading zero: the JSON reply writes it as a number.
  if (timestamp.empty() || timestamp.size() > kMaxTimestampLength ||
      !AllOf(timestamp, is_digit) ||
      (timestamp.size() > 1 && timestamp.front() == '0')) {
    return absl::InvalidArgumentError(
        "timestamp: must be decimal digits without a leading zero");
  }
  if (nonce.empty() || nonce.size() > kMaxPushNonceLength ||
      !AllOf(nonce, is_nonce)) {
    return absl::InvalidArgumentError(
        "nonce: must be letters, digits, '_' or '-'");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PushEnvelope> ParsePushEnvelope(absl::string_view body) {
  if (body.size() > kMaxEnvelopeSize) return Invalid("body larger than 1 MiB");
  size_t start = 0;
  while (start < body.size() && IsXmlSpace(body[start])) ++start;
  if (start == body.size()) return Invalid("empty body");
  FieldCollector fields;
  absl::Status status;
  if (body[start] == '<') {
    // The collector's errors are the envelope's own; the reader's get its
    // prefix.
    absl::Status field_error;
    status =
        ReadFlatXml(body, [&](absl::string_view name, absl::string_view text) {
          field_error = fields.Add(name, text);
          return field_error;
        });
    if (!status.ok() && field_error.ok()) status = Invalid(status.message());
  } else if (body[start] == '{') {
    status = ReadJson(body, &fields);
  } else {
    return Invalid("body is neither XML nor JSON");
  }
  if (!status.ok()) return status;
  return std::move(fields).Finish();
}

absl::StatusOr<std::string> BuildReplyEnvelope(absl::string_view encrypt,
                                               absl::string_view msg_signature,
                                               absl::string_view timestamp,
                                               absl::string_view nonce) {
  if (absl::Status s =
          CheckReplyFields(encrypt, msg_signature, timestamp, nonce);
      !s.ok()) {
    return s;
  }
  return absl::StrCat("<xml><Encrypt><![CDATA[", encrypt,
                      "]]></Encrypt><MsgSignature><![CDATA[", msg_signature,
                      "]]></MsgSignature><TimeStamp>", timestamp,
                      "</TimeStamp><Nonce><![CDATA[", nonce,
                      "]]></Nonce></xml>");
}

absl::StatusOr<std::string> BuildJsonReplyEnvelope(
    absl::string_view encrypt, absl::string_view msg_signature,
    absl::string_view timestamp, absl::string_view nonce) {
  if (absl::Status s =
          CheckReplyFields(encrypt, msg_signature, timestamp, nonce);
      !s.ok()) {
    return s;
  }
  return absl::StrCat("{\"Encrypt\":\"", encrypt, "\",\"MsgSignature\":\"",
                      msg_signature, "\",\"TimeStamp\":", timestamp,
                      ",\"Nonce\":\"", nonce, "\"}");
}

}  // namespace wxtoken::server
