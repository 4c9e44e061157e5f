#include "tests/sandbox/wechat_answer.h"

#include "tests/sandbox/json.h"

namespace wxtoken::sandbox {

void WriteJson(httplib::Response& res, const google::protobuf::Struct& body,
               const char* content_type) {
  res.status = 200;
  res.set_content(ToJson(body), content_type);
}

void WriteError(httplib::Response& res, int errcode, absl::string_view errmsg) {
  google::protobuf::Struct body;
  SetNumber(body, "errcode", errcode);
  SetString(body, "errmsg", errmsg);
  WriteJson(res, body, kWeChatContentType);
}

}  // namespace wxtoken::sandbox
