#include "server/wechat/errcodes.h"

namespace wxtoken::server {
namespace {

// Credential, whitelist and account errors on a token fetch: asking again
// with the same configuration cannot succeed, so they wait for an operator.
bool IsPermanentOnFetch(int errcode) {
  switch (errcode) {
    case 40001:  // wrong AppSecret (on fetch; on use it means a stale token)
    case 40002:  // bad grant_type
    case 40013:  // invalid appid (WeCom: invalid corp_id)
    case 40125:  // invalid appsecret
    case 41001:  // a required parameter is missing
    case 41002:  // appid missing
    case 41004:  // secret missing
    case 40091:  // WeCom: the app's secret is invalid
      return true;
    default:
      return false;
  }
}

// Errors about the caller rather than the request: they hold for every API,
// getticket included.
bool IsPermanentOnAnyApi(int errcode) {
  switch (errcode) {
    case 40164:  // caller IP not whitelisted
    case 61004:  // a platform's caller IP not whitelisted
    case 40243:  // AppSecret frozen
    case 50004:  // API forbidden
    case 50007:  // account frozen
    case 89501:  // IP awaiting the administrator's confirmation
    case 89503:
    case 89506:  // IP blocked
    case 89507:
    case 60020:  // WeCom: caller IP not trusted
      return true;
    default:
      return false;
  }
}

}  // namespace

bool IsRefreshErrcode(int errcode) {
  return errcode == 40001 || errcode == 40014 || errcode == 42001;
}

bool IsWeComRefreshErrcode(int errcode) {
  return errcode == 40014 || errcode == 42001;
}

FailureClass ClassifyErrcode(int errcode, FetchApi api) {
  if (errcode == 0) return FailureClass::kNone;
  // -1 (system busy) and 45011 (per-minute quota) pass by themselves.
  if (errcode == -1 || errcode == 45011) return FailureClass::kTransient;
  // WeCom's 45009 and 45033 are per-minute and per-hour frequency limits,
  // not a day's quota: backing off is enough.
  if (IsWeComApi(api) && (errcode == 45009 || errcode == 45033)) {
    return FailureClass::kTransient;
  }
  if (errcode == 45009) return FailureClass::kQuota;
  if (api == FetchApi::kTicket) {
    // getticket rejects the access token we passed, not our credentials: a
    // fresh access token fixes it. 41001 is "access_token missing" there.
    if (IsRefreshErrcode(errcode) || errcode == 41001) {
      return FailureClass::kTokenRejected;
    }
  } else if (api == FetchApi::kWeComTicket) {
    // Likewise WeCom's ticket APIs, whose token errcodes are 40014/42001.
    if (IsWeComRefreshErrcode(errcode) || errcode == 41001) {
      return FailureClass::kTokenRejected;
    }
  } else if (api == FetchApi::kComponentToken &&
             (errcode == 61005 || errcode == 61006)) {
    // The verify ticket sent is expired or not the platform's: the next
    // push brings one.
    return FailureClass::kTokenRejected;
  } else if (api == FetchApi::kQueryAuth || api == FetchApi::kAuthorizerToken ||
             api == FetchApi::kAuthorizerInfo) {
    // The component token we passed is stale: a fresh one fixes it.
    if (IsRefreshErrcode(errcode)) return FailureClass::kTokenRejected;
    // 61023 (refresh token), 61009 (code), 61003 (no longer authorized):
    // asking again with the same credential cannot succeed.
    if (errcode == 61023 || errcode == 61009 || errcode == 61003) {
      return FailureClass::kPermanent;
    }
  } else if (api == FetchApi::kWeComSuiteToken) {
    // The suite ticket sent is bad or expired: the next push (about every
    // ten minutes) brings one.
    if (errcode == 40085) return FailureClass::kTokenRejected;
    // 40083 is an unknown suite_id; 40001 a wrong suite_secret.
    if (errcode == 40083 || IsPermanentOnFetch(errcode)) {
      return FailureClass::kPermanent;
    }
  } else if (api == FetchApi::kWeComPermanentCode ||
             api == FetchApi::kWeComCorpToken) {
    // The suite token we passed is bad (40082) or expired (42009, or the
    // generic 40014/42001): a fresh one fixes it.
    if (errcode == 40082 || errcode == 42009 ||
        IsWeComRefreshErrcode(errcode)) {
      return FailureClass::kTokenRejected;
    }
    // 40084 (permanent code), 40029 (auth code used, expired or unknown):
    // asking again with the same credential cannot succeed.
    if (errcode == 40084 || errcode == 40029) return FailureClass::kPermanent;
  } else if (IsPermanentOnFetch(errcode)) {
    return FailureClass::kPermanent;
  }
  if (IsPermanentOnAnyApi(errcode)) return FailureClass::kPermanent;
  // An errcode we do not know. kPermanent would take the app out of service
  // and wait for an operator on what may be a new, passing condition (WeChat
  // adds codes without notice); kTransient retries with exponential backoff,
  // which bounds the quota spent, and the errcode is still logged and
  // reported, so a code that keeps coming back is visible.
  return FailureClass::kTransient;
}

}  // namespace wxtoken::server
