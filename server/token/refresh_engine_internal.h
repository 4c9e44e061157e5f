#ifndef WXTOKEN_SERVER_TOKEN_REFRESH_ENGINE_INTERNAL_H_
#define WXTOKEN_SERVER_TOKEN_REFRESH_ENGINE_INTERNAL_H_

// Small helpers the refresh engine's files share (refresh_engine*.cc); not
// for use elsewhere.

#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/config/config.h"
#include "server/token/token.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server::refresh_engine_internal {

inline std::string TimeText(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

inline std::string Label(const std::string& app_id, TokenKind kind) {
  return kind == TokenKind::kAccessToken
             ? absl::StrCat("app \"", app_id, "\"")
             : absl::StrCat("app \"", app_id, "\" ", TokenKindName(kind));
}

// How a slot's request goes to WeChat. A pushed credential's request only
// asks WeChat to push it (api_start_push_ticket).
inline FetchApi ApiOf(const AppConfig& app, TokenKind kind) {
  if (IsTicket(kind)) {
    return app.api == AppConfig::Api::kWeCom ? FetchApi::kWeComTicket
                                             : FetchApi::kTicket;
  }
  if (IsPushed(kind)) return FetchApi::kStartPushTicket;
  switch (app.api) {
    case AppConfig::Api::kStable:
      return FetchApi::kStable;
    case AppConfig::Api::kComponent:
      return FetchApi::kComponentToken;
    case AppConfig::Api::kAuthorizer:
      return FetchApi::kAuthorizerToken;
    case AppConfig::Api::kWeCom:
      return FetchApi::kWeComToken;
    case AppConfig::Api::kWeComProvider:
      return FetchApi::kWeComProviderToken;
    case AppConfig::Api::kWeComSuite:
      return FetchApi::kWeComSuiteToken;
    case AppConfig::Api::kSuiteCorp:
      return FetchApi::kWeComCorpToken;
    case AppConfig::Api::kClassic:
      break;
  }
  return FetchApi::kClassic;
}

// What an input is called in a dependent's error: "the access token".
inline std::string InputName(TokenKind kind) {
  return kind == TokenKind::kAccessToken ? "access token"
                                         : std::string(TokenKindName(kind));
}

inline absl::Status ShuttingDown() {
  return absl::UnavailableError("wxtokend is shutting down");
}

inline absl::Status NotTheLeader() {
  return absl::UnavailableError(
      "this replica does not hold the leader lease; ask again");
}

// What a pushed event's write answers: OK once stored, else UNAVAILABLE
// naming `what` (WeChat pushes it again).
inline std::function<void(absl::Status)> AnswerWhenStored(
    std::function<void(absl::Status)> done, const char* what) {
  return [done = std::move(done), what](absl::Status status) {
    done(status.ok() ? status
                     : absl::UnavailableError(absl::StrCat(
                           "cannot store the ", what, ": ", status.message())));
  };
}

// How soon a leader asks again when its lease does not outlive a request.
constexpr absl::Duration kLeaseRecheck = absl::Milliseconds(200);

}  // namespace wxtoken::server::refresh_engine_internal

#endif  // WXTOKEN_SERVER_TOKEN_REFRESH_ENGINE_INTERNAL_H_
