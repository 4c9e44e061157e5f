#ifndef WXTOKEN_SERVER_WECHAT_RESPONSE_PARSER_H_
#define WXTOKEN_SERVER_WECHAT_RESPONSE_PARSER_H_

#include <cstddef>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/wechat/limits.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server {

// Longest part of WeChat's errmsg copied into FetchResult::detail.
inline constexpr size_t kMaxErrmsgLength = 200;

// Turns one HTTP answer from `api` into a FetchResult. Pure; thread-safe.
//
// - HTTP status other than 200: kTransient, maybe_issued (WeChat may have
//   issued a token before a proxy or the server failed).
// - A JSON object with a nonzero errcode: ClassifyErrcode(), maybe_issued
//   false (WeChat answered cleanly that it issued nothing).
// - errcode 0 or absent, with a non-empty access_token (ticket for kTicket,
//   component_access_token for kComponentToken, suite_access_token for
//   kWeComSuiteToken) of at most kMaxTokenLength and a positive expires_in:
//   success. kStartPushTicket answers no value: errcode 0 or absent is its
//   success. kWeComPermanentCode's success is a permanent_code (into
//   refresh_token) and a well-formed auth_corp_info.corpid (into
//   auth_corp_id), with no value.
// - Anything else: kTransient, maybe_issued, detail saying what was wrong.
//
// `detail` never holds the token or the body verbatim (a body could echo the
// request); it may hold the errcode and WeChat's errmsg, cut to
// kMaxErrmsgLength bytes with control characters replaced. Every occurrence
// of each of `credentials` (what the request carried) in the errmsg becomes
// "<redacted>" before the cut, so an echoed one that straddles the cut
// leaves no prefix of itself behind.
FetchResult ParseFetchResponse(
    FetchApi api, int http_status, std::string_view body,
    absl::Span<const absl::string_view> credentials = {});

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_RESPONSE_PARSER_H_
