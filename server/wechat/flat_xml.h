#ifndef WXTOKEN_SERVER_WECHAT_FLAT_XML_H_
#define WXTOKEN_SERVER_WECHAT_FLAT_XML_H_

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace wxtoken::server {

// Called for each element of a flat XML document, in order; an error ends
// the read with it.
using FlatXmlField = absl::FunctionRef<absl::Status(absl::string_view name,
                                                    absl::string_view text)>;

// Reads the flat XML WeChat pushes (a push envelope, a platform's decrypted
// event): UTF-8 text (no control characters but tab, CR and LF), `<xml>`
// holding only elements `<Name>text</Name>` separated by whitespace, each
// text either one CDATA section or plain characters without '<' or '&'.
// Declarations, DOCTYPE, entities, comments, attributes, nesting and
// self-closing tags are rejected, so nothing can expand. A strict extractor
// for this shape, not a general parser. Errors are INVALID_ARGUMENT and never
// quote the body. Pure and thread-safe.
absl::Status ReadFlatXml(absl::string_view body, FlatXmlField field);

// The whitespace XML allows between elements.
inline bool IsXmlSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_FLAT_XML_H_
