#include "tests/sandbox/wechat_answer.h"

#include <string>

#include "absl/strings/str_cat.h"
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

std::string WeComIpBlockedMessage(absl::string_view ip) {
  return absl::StrCat("not allow to access from your ip, hint: [sandbox], ",
                      "from ip: ", ip,
                      ", more info at "
                      "https://open.work.weixin.qq.com/devtool/query?e=60020");
}

}  // namespace wxtoken::sandbox
