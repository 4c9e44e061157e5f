#include "server/wechat/response_parser.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A malformed answer: transient, maybe issued, with a detail that names the
// problem and does not quote the body.
void ExpectMalformed(const FetchResult& result, const std::string& what) {
  EXPECT_EQ(result.failure, FailureClass::kTransient);
  EXPECT_TRUE(result.maybe_issued);
  EXPECT_EQ(result.errcode, 0);
  EXPECT_EQ(result.value, "");
  EXPECT_THAT(result.detail, HasSubstr(what));
}

TEST(ParseFetchResponseTest, ClassicSuccess) {
  const FetchResult result =
      ParseFetchResponse(FetchApi::kClassic, 200,
                         R"({"access_token":"TOKEN-1","expires_in":7200})");
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.errcode, 0);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.value, "TOKEN-1");
  EXPECT_EQ(result.expires_in, absl::Seconds(7200));
  EXPECT_THAT(result.detail, Not(HasSubstr("TOKEN-1")));
}

TEST(ParseFetchResponseTest, StableSuccessWithZeroErrcodeAndExtraFields) {
  const FetchResult result = ParseFetchResponse(
      FetchApi::kStable, 200,
      R"({"errcode":0,"errmsg":"ok","access_token":"T","expires_in":300,"x":[1]})");
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_EQ(result.value, "T");
  EXPECT_EQ(result.expires_in, absl::Seconds(300));
}

TEST(ParseFetchResponseTest, TicketSuccessReadsTicketField) {
  const FetchResult result = ParseFetchResponse(
      FetchApi::kTicket, 200,
      R"({"errcode":0,"errmsg":"ok","ticket":"TICKET","expires_in":7200})");
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_EQ(result.value, "TICKET");
  EXPECT_EQ(result.expires_in, absl::Seconds(7200));
}

TEST(ParseFetchResponseTest, TicketWithOnlyAccessTokenIsMalformed) {
  ExpectMalformed(
      ParseFetchResponse(FetchApi::kTicket, 200,
                         R"({"access_token":"T","expires_in":7200})"),
      "missing ticket");
}

TEST(ParseFetchResponseTest, ComponentTokenReadsItsOwnField) {
  const FetchResult result = ParseFetchResponse(
      FetchApi::kComponentToken, 200,
      R"({"component_access_token":"COMPONENT-1","expires_in":7200})");
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_EQ(result.value, "COMPONENT-1");
  EXPECT_EQ(result.expires_in, absl::Seconds(7200));
  // An answer of the wrong API is no component token.
  ExpectMalformed(
      ParseFetchResponse(FetchApi::kComponentToken, 200,
                         R"({"access_token":"A","expires_in":7200})"),
      "missing component_access_token");
}

TEST(ParseFetchResponseTest, SuiteTokenReadsItsOwnField) {
  const FetchResult result = ParseFetchResponse(
      FetchApi::kWeComSuiteToken, 200,
      R"({"suite_access_token":"SUITE-1","expires_in":7200})");
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.value, "SUITE-1");
  EXPECT_EQ(result.expires_in, absl::Seconds(7200));
  EXPECT_THAT(result.detail, Not(HasSubstr("SUITE-1")));
  ExpectMalformed(
      ParseFetchResponse(FetchApi::kWeComSuiteToken, 200,
                         R"({"access_token":"A","expires_in":7200})"),
      "missing suite_access_token");
  ExpectMalformed(ParseFetchResponse(FetchApi::kWeComSuiteToken, 200,
                                     R"({"suite_access_token":"SUITE-1"})"),
                  "missing expires_in");
}

TEST(ParseFetchResponseTest, SuiteTokenErrcodes) {
  FetchResult result = ParseFetchResponse(
      FetchApi::kWeComSuiteToken, 200,
      R"({"errcode":40085,"errmsg":"invalid suite_ticket"})");
  EXPECT_EQ(result.failure, FailureClass::kTokenRejected);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.errcode, 40085);
  EXPECT_EQ(result.value, "");
  result = ParseFetchResponse(
      FetchApi::kWeComSuiteToken, 200,
      R"({"errcode":40001,"errmsg":"invalid suite_secret"})");
  EXPECT_EQ(result.failure, FailureClass::kPermanent);
  // WeCom's whitelist error names the address it saw.
  result = ParseFetchResponse(
      FetchApi::kWeComSuiteToken, 200,
      R"({"errcode":60020,"errmsg":"not allow to access from your ip, hint: [1], from ip: 198.51.100.9, more info at https://open.work.weixin.qq.com"})");
  EXPECT_EQ(result.failure, FailureClass::kPermanent);
  EXPECT_EQ(result.egress_ip, "198.51.100.9");
}

// The v1 answer: a corp token, the permanent code and the corp. Only the
// code and the corp are read.
TEST(ParseFetchResponseTest, PermanentCodeReadsTheCodeAndTheCorp) {
  FetchResult result = ParseFetchResponse(
      FetchApi::kWeComPermanentCode, 200,
      R"({"access_token":"CORP-TOKEN","expires_in":7200,"permanent_code":"PERMANENT-1","auth_corp_info":{"corpid":"wwcorp0000000001","corp_name":"a corp"},"auth_info":{"agent":[]}})");
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.errcode, 0);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.refresh_token, "PERMANENT-1");
  EXPECT_EQ(result.auth_corp_id, "wwcorp0000000001");
  EXPECT_EQ(result.value, "");
  EXPECT_EQ(result.expires_in, absl::ZeroDuration());
  EXPECT_THAT(result.detail, Not(HasSubstr("PERMANENT-1")));
  EXPECT_THAT(result.detail, Not(HasSubstr("CORP-TOKEN")));

  // Without a corp token (as in v2) it is the same success.
  result = ParseFetchResponse(
      FetchApi::kWeComPermanentCode, 200,
      R"({"errcode":0,"errmsg":"ok","permanent_code":"PERMANENT-2","auth_corp_info":{"corpid":"wwcorp0000000002"}})");
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_EQ(result.refresh_token, "PERMANENT-2");
  EXPECT_EQ(result.auth_corp_id, "wwcorp0000000002");
  EXPECT_EQ(result.value, "");
}

TEST(ParseFetchResponseTest, PermanentCodeWithoutCodeOrCorpIsMalformed) {
  const std::string corp = R"("auth_corp_info":{"corpid":"wwcorp0000000001"})";
  const std::string code = R"("permanent_code":"PERMANENT-1")";
  const std::string too_long(kMaxTokenLength + 1, 'p');
  const std::pair<std::string, std::string> cases[] = {
      {absl::StrCat("{", corp, "}"), "missing permanent_code"},
      {absl::StrCat(R"({"permanent_code":"",)", corp, "}"),
       "permanent_code is not a string"},
      {absl::StrCat(R"({"permanent_code":7,)", corp, "}"),
       "permanent_code is not a string"},
      {absl::StrCat(R"({"permanent_code":")", too_long, R"(",)", corp, "}"),
       "permanent_code is not a string"},
      {absl::StrCat("{", code, "}"), "missing auth_corp_info"},
      {absl::StrCat("{", code, R"(,"auth_corp_info":"wwcorp0000000001"})"),
       "missing auth_corp_info"},
      {absl::StrCat("{", code, R"(,"auth_corp_info":{"corp_name":"x"}})"),
       "missing auth_corp_info.corpid"},
      {absl::StrCat("{", code, R"(,"auth_corp_info":{"corpid":""}})"),
       "corpid is not a well-formed corp id"},
      {absl::StrCat("{", code, R"(,"auth_corp_info":{"corpid":"ww/../x"}})"),
       "corpid is not a well-formed corp id"},
      {absl::StrCat("{", code, R"(,"auth_corp_info":{"corpid":")",
                    std::string(kMaxAppIdLength + 1, 'w'), R"("}})"),
       "corpid is not a well-formed corp id"},
      {absl::StrCat("{", code, R"(,"auth_corp_info":{"corpid":42}})"),
       "corpid is not a well-formed corp id"},
  };
  for (const auto& [body, what] : cases) {
    const FetchResult result =
        ParseFetchResponse(FetchApi::kWeComPermanentCode, 200, body);
    ExpectMalformed(result, what);
    EXPECT_EQ(result.refresh_token, "") << body;
    EXPECT_EQ(result.auth_corp_id, "") << body;
    EXPECT_THAT(result.detail, Not(HasSubstr("PERMANENT-1")));
    EXPECT_THAT(result.detail, Not(HasSubstr("ww/../x")));
  }
  ExpectMalformed(ParseFetchResponse(FetchApi::kWeComPermanentCode, 502, ""),
                  "HTTP 502");
}

TEST(ParseFetchResponseTest, PermanentCodeErrcodes) {
  FetchResult result =
      ParseFetchResponse(FetchApi::kWeComPermanentCode, 200,
                         R"({"errcode":40029,"errmsg":"invalid code"})");
  EXPECT_EQ(result.failure, FailureClass::kPermanent);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.errcode, 40029);
  EXPECT_EQ(result.refresh_token, "");
  EXPECT_EQ(result.auth_corp_id, "");
  for (int code : {40082, 42009}) {
    result = ParseFetchResponse(
        FetchApi::kWeComPermanentCode, 200,
        absl::StrCat(R"({"errcode":)", code, R"(,"errmsg":"suite token"})"));
    EXPECT_EQ(result.failure, FailureClass::kTokenRejected) << code;
    EXPECT_EQ(result.errcode, code);
  }
}

TEST(ParseFetchResponseTest, CorpTokenReadsTheAccessToken) {
  FetchResult result =
      ParseFetchResponse(FetchApi::kWeComCorpToken, 200,
                         R"({"access_token":"CORP-1","expires_in":7200})");
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_EQ(result.value, "CORP-1");
  EXPECT_EQ(result.expires_in, absl::Seconds(7200));
  EXPECT_EQ(result.refresh_token, "");
  ExpectMalformed(ParseFetchResponse(FetchApi::kWeComCorpToken, 200,
                                     R"({"expires_in":7200})"),
                  "missing access_token");
  ExpectMalformed(ParseFetchResponse(FetchApi::kWeComCorpToken, 200,
                                     R"({"access_token":"CORP-1"})"),
                  "missing expires_in");
  result = ParseFetchResponse(
      FetchApi::kWeComCorpToken, 200,
      R"({"errcode":40084,"errmsg":"invalid permanent_code"})");
  EXPECT_EQ(result.failure, FailureClass::kPermanent);
  EXPECT_EQ(result.errcode, 40084);
  result = ParseFetchResponse(
      FetchApi::kWeComCorpToken, 200,
      R"({"errcode":42009,"errmsg":"suite_access_token expired"})");
  EXPECT_EQ(result.failure, FailureClass::kTokenRejected);
}

TEST(ParseFetchResponseTest, StartPushTicketSucceedsWithNoValue) {
  FetchResult result = ParseFetchResponse(FetchApi::kStartPushTicket, 200,
                                          R"({"errcode":0,"errmsg":"ok"})");
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.value, "");
  result = ParseFetchResponse(FetchApi::kStartPushTicket, 200,
                              R"({"errcode":40125,"errmsg":"invalid"})");
  EXPECT_EQ(result.failure, FailureClass::kPermanent);
  ExpectMalformed(ParseFetchResponse(FetchApi::kStartPushTicket, 502, ""),
                  "HTTP 502");
}

TEST(ParseFetchResponseTest, ServerErrorIsTransientMaybeIssued) {
  const FetchResult result = ParseFetchResponse(
      FetchApi::kClassic, 503, R"({"access_token":"T","expires_in":7200})");
  ExpectMalformed(result, "HTTP 503");
  EXPECT_EQ(result.http_status, 503);
}

TEST(ParseFetchResponseTest, OtherNon200IsTransientMaybeIssued) {
  for (int status : {0, 204, 302, 400, 404, 429}) {
    const FetchResult result =
        ParseFetchResponse(FetchApi::kClassic, status, "");
    ExpectMalformed(result, absl::StrCat("HTTP ", status));
    EXPECT_EQ(result.http_status, status);
  }
}

TEST(ParseFetchResponseTest, ErrcodeIsClassifiedAndNotIssued) {
  const FetchResult result = ParseFetchResponse(
      FetchApi::kClassic, 200,
      R"({"errcode":40125,"errmsg":"invalid appsecret rid: 6620"})");
  EXPECT_EQ(result.failure, FailureClass::kPermanent);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.errcode, 40125);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.detail, "errcode 40125: invalid appsecret rid: 6620");
  EXPECT_EQ(result.value, "");
  // Kept apart for ListOwners: WeChat's text and the id its support asks
  // for.
  EXPECT_EQ(result.errmsg, "invalid appsecret rid: 6620");
  EXPECT_EQ(result.rid, "6620");
}

TEST(ParseFetchResponseTest, QuotaCounts) {
  const FetchResult result = ParseFetchResponse(
      FetchApi::kQuotaGet, 200,
      R"({"errcode":0,"errmsg":"ok","quota":{"daily_limit":2000,"used":7,"remain":1993},"rate_limit":{"call_count":5000,"refresh_second":60}})");
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_EQ(result.quota_daily_limit, 2000);
  EXPECT_EQ(result.quota_used, 7);
  EXPECT_EQ(result.quota_remain, 1993);
  EXPECT_EQ(ParseFetchResponse(FetchApi::kQuotaGet, 200,
                               R"({"errcode":0,"quota":{"used":7}})")
                .failure,
            FailureClass::kTransient);
  EXPECT_EQ(
      ParseFetchResponse(FetchApi::kQuotaGet, 200,
                         R"({"errcode":76021,"errmsg":"cgi_path not found"})")
          .errcode,
      76021);
}

TEST(ParseFetchResponseTest, TheRequestIdIsWeChatsOwnOnly) {
  EXPECT_EQ(
      ParseFetchResponse(
          FetchApi::kClassic, 200,
          R"({"errcode":40164,"errmsg":"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 6489a1b2-3c4d5e6f-7a8b9c0d"})")
          .rid,
      "6489a1b2-3c4d5e6f-7a8b9c0d");
  EXPECT_EQ(ParseFetchResponse(FetchApi::kClassic, 200,
                               R"({"errcode":40125,"errmsg":"invalid"})")
                .rid,
            "");
  // Only what an id is made of, and bounded.
  EXPECT_EQ(ParseFetchResponse(FetchApi::kClassic, 200,
                               R"({"errcode":40125,"errmsg":"x rid: ab<c>"})")
                .rid,
            "ab");
}

TEST(ParseFetchResponseTest, ErrcodeClassesPerApi) {
  EXPECT_EQ(
      ParseFetchResponse(FetchApi::kClassic, 200, R"({"errcode":-1})").failure,
      FailureClass::kTransient);
  EXPECT_EQ(ParseFetchResponse(FetchApi::kStable, 200, R"({"errcode":45009})")
                .failure,
            FailureClass::kQuota);
  EXPECT_EQ(ParseFetchResponse(FetchApi::kTicket, 200, R"({"errcode":40001})")
                .failure,
            FailureClass::kTokenRejected);
  EXPECT_EQ(ParseFetchResponse(FetchApi::kClassic, 200, R"({"errcode":40001})")
                .failure,
            FailureClass::kPermanent);
}

TEST(ParseFetchResponseTest, ErrcodeWinsOverAToken) {
  const FetchResult result = ParseFetchResponse(
      FetchApi::kClassic, 200,
      R"({"errcode":-1,"access_token":"T","expires_in":7200})");
  EXPECT_EQ(result.failure, FailureClass::kTransient);
  EXPECT_FALSE(result.maybe_issued);
  EXPECT_EQ(result.errcode, -1);
  EXPECT_EQ(result.value, "");
}

TEST(ParseFetchResponseTest, ErrcodeWithoutErrmsg) {
  const FetchResult result =
      ParseFetchResponse(FetchApi::kClassic, 200, R"({"errcode":40164})");
  EXPECT_EQ(result.detail, "errcode 40164");
}

TEST(ParseFetchResponseTest, AWhitelistErrorCarriesTheIpWeChatSaw) {
  FetchResult result = ParseFetchResponse(
      FetchApi::kClassic, 200,
      R"({"errcode":40164,"errmsg":"invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 6f3a"})");
  EXPECT_EQ(result.failure, FailureClass::kPermanent);
  EXPECT_EQ(result.egress_ip, "203.0.113.7");
  result = ParseFetchResponse(FetchApi::kClassic, 200,
                              R"({"errcode":40013,"errmsg":"invalid appid"})");
  EXPECT_EQ(result.egress_ip, "");
}

TEST(ParseFetchResponseTest, LongErrmsgIsCutAtACharacterBoundary) {
  // 199 ASCII bytes then a 3-byte character straddling the 200-byte limit.
  const std::string errmsg = std::string(199, 'x') + "\xE4\xB8\xAD" + "tail";
  const FetchResult result = ParseFetchResponse(
      FetchApi::kClassic, 200,
      absl::StrCat(R"({"errcode":-1,"errmsg":")", errmsg, R"("})"));
  EXPECT_EQ(result.detail, "errcode -1: " + std::string(199, 'x'));
}

TEST(ParseFetchResponseTest, CredentialsAreScrubbedWholeBeforeTheCut) {
  // The credential starts 8 bytes before the cut; the rid after it is kept.
  const std::string secret = "SECRET-ACROSS-THE-CUT";
  const std::string errmsg =
      absl::StrCat(std::string(192, 'x'), secret, " also SECRET-ACROSS-THE-CUT",
                   " rid: 6f3a-01");
  const std::string body =
      absl::StrCat(R"({"errcode":40013,"errmsg":")", errmsg, R"("})");
  const std::vector<absl::string_view> credentials = {"", secret};
  const FetchResult result =
      ParseFetchResponse(FetchApi::kClassic, 200, body, credentials);
  EXPECT_EQ(result.errmsg, std::string(192, 'x') + "<redacte");
  EXPECT_EQ(result.detail, "errcode 40013: " + result.errmsg);
  EXPECT_EQ(result.rid, "6f3a-01");
  // Without them, the parser only cuts: the prefix would be left.
  EXPECT_EQ(ParseFetchResponse(FetchApi::kClassic, 200, body).errmsg,
            std::string(192, 'x') + "SECRET-A");
}

TEST(ParseFetchResponseTest, ErrmsgControlCharactersAreReplaced) {
  const FetchResult result = ParseFetchResponse(
      FetchApi::kClassic, 200, R"({"errcode":-1,"errmsg":"a\nb\u0000c"})");
  EXPECT_EQ(result.detail, "errcode -1: a?b?c");
}

TEST(ParseFetchResponseTest, NonIntegerErrcodeIsMalformed) {
  for (const char* body :
       {R"({"errcode":"40001"})", R"({"errcode":1.5})", R"({"errcode":1e20})",
        R"({"errcode":null})", R"({"errcode":true})"}) {
    ExpectMalformed(ParseFetchResponse(FetchApi::kClassic, 200, body),
                    "errcode is not an integer");
  }
}

TEST(ParseFetchResponseTest, NotJsonIsMalformedAndNotEchoed) {
  for (const char* body :
       {"", "<html>502 Bad Gateway SECRETLOOKING</html>", "[1,2]", "\"str\"",
        "{\"access_token\":\"T\",", "{\"access_token\":SECRETLOOKING}"}) {
    const FetchResult result =
        ParseFetchResponse(FetchApi::kClassic, 200, body);
    ExpectMalformed(result, "not a JSON object");
    EXPECT_THAT(result.detail, Not(HasSubstr("SECRETLOOKING")));
  }
}

TEST(ParseFetchResponseTest, MissingOrBadToken) {
  ExpectMalformed(
      ParseFetchResponse(FetchApi::kClassic, 200, R"({"expires_in":7200})"),
      "missing access_token");
  ExpectMalformed(ParseFetchResponse(FetchApi::kClassic, 200,
                                     R"({"access_token":7,"expires_in":7200})"),
                  "access_token is not a string");
  ExpectMalformed(
      ParseFetchResponse(FetchApi::kClassic, 200,
                         R"({"access_token":"","expires_in":7200})"),
      "access_token is empty");
  ExpectMalformed(ParseFetchResponse(FetchApi::kClassic, 200, "{}"),
                  "missing access_token");
}

TEST(ParseFetchResponseTest, TokenLengthLimit) {
  const std::string at_limit(kMaxTokenLength, 'a');
  FetchResult result =
      ParseFetchResponse(FetchApi::kClassic, 200,
                         absl::StrCat(R"({"access_token":")", at_limit,
                                      R"(","expires_in":7200})"));
  EXPECT_EQ(result.failure, FailureClass::kNone);
  EXPECT_EQ(result.value, at_limit);

  const std::string too_long = std::string(kMaxTokenLength, 'a') + "Z";
  result = ParseFetchResponse(FetchApi::kClassic, 200,
                              absl::StrCat(R"({"access_token":")", too_long,
                                           R"(","expires_in":7200})"));
  ExpectMalformed(result, "longer than 2048");
  EXPECT_THAT(result.detail, Not(HasSubstr("aaaa")));
}

TEST(ParseFetchResponseTest, MissingOrBadExpiresIn) {
  ExpectMalformed(ParseFetchResponse(FetchApi::kClassic, 200,
                                     R"({"access_token":"SEKRIT"})"),
                  "missing expires_in");
  ExpectMalformed(
      ParseFetchResponse(FetchApi::kClassic, 200,
                         R"({"access_token":"T","expires_in":"7200"})"),
      "expires_in is not a number");
  ExpectMalformed(ParseFetchResponse(FetchApi::kClassic, 200,
                                     R"({"access_token":"T","expires_in":0})"),
                  "expires_in is not positive");
  ExpectMalformed(ParseFetchResponse(FetchApi::kClassic, 200,
                                     R"({"access_token":"T","expires_in":-5})"),
                  "expires_in is not positive");
  ExpectMalformed(
      ParseFetchResponse(FetchApi::kClassic, 200,
                         R"({"access_token":"T","expires_in":1e300})"),
      "expires_in is implausibly large");
  const FetchResult result = ParseFetchResponse(
      FetchApi::kClassic, 200, R"({"access_token":"SEKRIT","expires_in":0})");
  EXPECT_THAT(result.detail, Not(HasSubstr("SEKRIT")));
}

}  // namespace
}  // namespace wxtoken::server
