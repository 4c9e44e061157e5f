#ifndef WXTOKEN_TESTS_SANDBOX_WECHAT_ANSWER_H_
#define WXTOKEN_TESTS_SANDBOX_WECHAT_ANSWER_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "httplib.h"

namespace wxtoken::sandbox {

// What WeChat's API servers send, and the sandbox's own endpoints.
inline constexpr char kWeChatContentType[] = "application/json; encoding=utf-8";
inline constexpr char kJsonContentType[] = "application/json";

// HTTP 200 with `body` as JSON, as WeChat answers even its errors.
void WriteJson(httplib::Response& res, const google::protobuf::Struct& body,
               const char* content_type = kJsonContentType);
// {"errcode":N,"errmsg":"..."}.
void WriteError(httplib::Response& res, int errcode, absl::string_view errmsg);

// WeCom's errmsg for 60020, naming the address a call came from (which
// must be whitelisted as the app's 可信IP).
std::string WeComIpBlockedMessage(absl::string_view ip);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_WECHAT_ANSWER_H_
