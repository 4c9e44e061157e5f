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
#include "server/wechat/limits.h"

namespace wxtoken::server {
namespace {

constexpr absl::string_view kEncrypt = "Encrypt";
constexpr absl::string_view kToUserName = "ToUserName";
constexpr absl::string_view kCdataOpen = "<![CDATA[";
constexpr absl::string_view kCdataClose = "]]>";
constexpr size_t kSha1HexLength = 40;
constexpr size_t kMaxJsonBrackets = 64;

absl::Status Invalid(absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("envelope: ", reason));
}

bool IsXmlSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// XML is UTF-8 without C0 control characters other than tab, CR and LF.
// Checking it here also keeps ToUserName fit for a protobuf string field.
bool IsXmlText(absl::string_view body) {
  for (char c : body) {
    if (static_cast<unsigned char>(c) < 0x20 && !IsXmlSpace(c)) return false;
  }
  return google::protobuf::internal::IsStructurallyValidUTF8(body.data(),
                                                             body.size());
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
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

// Reads <xml><Name>text</Name>...</xml> and nothing else (see envelope.h).
class FlatXmlReader {
 public:
  explicit FlatXmlReader(absl::string_view body) : rest_(body) {}

  absl::Status Read(FieldCollector* fields) {
    SkipSpace();
    if (!Consume("<xml>")) return Invalid("XML must start with <xml>");
    while (true) {
      SkipSpace();
      if (Consume("</xml>")) break;
      absl::string_view name;
      absl::string_view text;
      if (absl::Status s = ReadElement(&name, &text); !s.ok()) return s;
      if (absl::Status s = fields->Add(name, text); !s.ok()) return s;
    }
    SkipSpace();
    if (!rest_.empty()) return Invalid("content after </xml>");
    return absl::OkStatus();
  }

 private:
  void SkipSpace() {
    while (!rest_.empty() && IsXmlSpace(rest_.front())) rest_.remove_prefix(1);
  }

  bool Consume(absl::string_view literal) {
    if (!absl::StartsWith(rest_, literal)) return false;
    rest_.remove_prefix(literal.size());
    return true;
  }

  absl::Status ReadElement(absl::string_view* name, absl::string_view* text) {
    if (rest_.empty()) return Invalid("XML ends before </xml>");
    if (!Consume("<")) return Invalid("text between XML elements");
    if (!rest_.empty() && (rest_.front() == '!' || rest_.front() == '?')) {
      return Invalid(
          "XML declarations, comments, DOCTYPE and stray CDATA are not "
          "supported");
    }
    size_t name_size = 0;
    while (name_size < rest_.size() && IsNameChar(rest_[name_size])) {
      ++name_size;
    }
    if (name_size == 0) return Invalid("malformed XML element name");
    *name = rest_.substr(0, name_size);
    rest_.remove_prefix(name_size);
    if (!Consume(">")) {
      return Invalid("XML attributes and self-closing tags are not supported");
    }
    if (absl::Status s = ReadText(text); !s.ok()) return s;
    if (!Consume("</") || !Consume(*name) || !Consume(">")) {
      return Invalid("XML element not closed by its own end tag");
    }
    return absl::OkStatus();
  }

  // One CDATA section, or characters up to the next '<' with no references.
  absl::Status ReadText(absl::string_view* text) {
    if (Consume(kCdataOpen)) {
      const size_t end = rest_.find(kCdataClose);
      if (end == absl::string_view::npos) return Invalid("unterminated CDATA");
      *text = rest_.substr(0, end);
      rest_.remove_prefix(end + kCdataClose.size());
      return absl::OkStatus();
    }
    const size_t end = rest_.find('<');
    if (end == absl::string_view::npos)
      return Invalid("XML ends in an element");
    *text = rest_.substr(0, end);
    if (absl::StrContains(*text, '&')) {
      return Invalid("XML references (&...;) are not supported");
    }
    rest_.remove_prefix(end);
    if (!absl::StartsWith(rest_, "</")) {
      return Invalid("nested XML elements are not supported");
    }
    return absl::OkStatus();
  }

  absl::string_view rest_;
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
    if (!IsXmlText(body)) return Invalid("XML body is not UTF-8 text");
    status = FlatXmlReader(body).Read(&fields);
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
