#include "server/wechat/flat_xml.h"

#include <google/protobuf/stubs/common.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace wxtoken::server {
namespace {

constexpr absl::string_view kCdataOpen = "<![CDATA[";
constexpr absl::string_view kCdataClose = "]]>";

absl::Status Invalid(absl::string_view reason) {
  return absl::InvalidArgumentError(reason);
}

// XML is UTF-8 without C0 control characters other than tab, CR and LF.
// Checking it here also keeps texts fit for a protobuf string field.
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

// Reads <xml><Name>text</Name>...</xml> and nothing else (see flat_xml.h).
class FlatXmlReader {
 public:
  explicit FlatXmlReader(absl::string_view body) : rest_(body) {}

  absl::Status Read(FlatXmlField field) {
    SkipSpace();
    if (!Consume("<xml>")) return Invalid("XML must start with <xml>");
    while (true) {
      SkipSpace();
      if (Consume("</xml>")) break;
      absl::string_view name;
      absl::string_view text;
      if (absl::Status s = ReadElement(&name, &text); !s.ok()) return s;
      if (absl::Status s = field(name, text); !s.ok()) return s;
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

}  // namespace

absl::Status ReadFlatXml(absl::string_view body, FlatXmlField field) {
  if (!IsXmlText(body)) return Invalid("XML body is not UTF-8 text");
  return FlatXmlReader(body).Read(field);
}

}  // namespace wxtoken::server
