#ifndef WXTOKEN_SERVER_WECHAT_ERRCODES_H_
#define WXTOKEN_SERVER_WECHAT_ERRCODES_H_

#include "server/wechat/upstream.h"

namespace wxtoken::server {

// Classifies a nonzero WeChat errcode returned by `api` (DESIGN.md "Upstream
// errors", WECHAT.md's table). 0 is kNone. The same code can mean different
// things per API: 40001 on a token fetch means a wrong AppSecret (permanent),
// on getticket it means the access token we passed is stale (kTokenRejected).
// Codes we do not know are kTransient: see errcodes.cc for why.
FailureClass ClassifyErrcode(int errcode, FetchApi api);

// True for the errcodes with which WeChat rejects an access token on use
// (40001, 40014, 42001): the ones a caller reports through ForceRefresh.
bool IsRefreshErrcode(int errcode);

// WeCom's (40014, 42001): there 40001 is a bad secret, which no refresh
// fixes (WECHAT.md "WeCom APIs").
bool IsWeComRefreshErrcode(int errcode);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_WECHAT_ERRCODES_H_
