#include "server/wechat/errcodes.h"

#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

constexpr FetchApi kTokenApis[] = {FetchApi::kClassic, FetchApi::kStable};

TEST(ClassifyErrcodeTest, ZeroIsSuccess) {
  for (FetchApi api :
       {FetchApi::kClassic, FetchApi::kStable, FetchApi::kTicket}) {
    EXPECT_EQ(ClassifyErrcode(0, api), FailureClass::kNone);
  }
}

TEST(ClassifyErrcodeTest, BusyAndMinuteQuotaAreTransientEverywhere) {
  for (FetchApi api :
       {FetchApi::kClassic, FetchApi::kStable, FetchApi::kTicket}) {
    EXPECT_EQ(ClassifyErrcode(-1, api), FailureClass::kTransient);
    EXPECT_EQ(ClassifyErrcode(45011, api), FailureClass::kTransient);
  }
}

TEST(ClassifyErrcodeTest, DailyQuotaIsQuotaEverywhere) {
  for (FetchApi api :
       {FetchApi::kClassic, FetchApi::kStable, FetchApi::kTicket}) {
    EXPECT_EQ(ClassifyErrcode(45009, api), FailureClass::kQuota);
  }
}

TEST(ClassifyErrcodeTest, CredentialErrorsArePermanentOnFetch) {
  for (FetchApi api : kTokenApis) {
    for (int code : {40001, 40125, 40002, 40013, 40164, 40243, 41001, 41002,
                     41004, 50004, 50007, 89501, 89503, 89506, 89507}) {
      EXPECT_EQ(ClassifyErrcode(code, api), FailureClass::kPermanent)
          << "errcode " << code;
    }
  }
}

// WECHAT.md "WeCom APIs": 40001/40091 a bad secret, 40013 a bad corp_id,
// 60020 the egress IP; 45009/45033 are frequency limits, not a day's quota.
TEST(ClassifyErrcodeTest, WeComCredentialErrorsArePermanentAndLimitsPass) {
  for (int code : {40001, 40091, 40013, 60020, 41002, 41004}) {
    EXPECT_EQ(ClassifyErrcode(code, FetchApi::kWeComToken),
              FailureClass::kPermanent)
        << "errcode " << code;
  }
  for (int code : {45009, 45033, -1}) {
    EXPECT_EQ(ClassifyErrcode(code, FetchApi::kWeComToken),
              FailureClass::kTransient)
        << "errcode " << code;
  }
  EXPECT_TRUE(IsWeComRefreshErrcode(40014));
  EXPECT_TRUE(IsWeComRefreshErrcode(42001));
  EXPECT_FALSE(IsWeComRefreshErrcode(40001));
}

// A WeCom ticket API refusing the app's token wants a fresh token; its
// hourly limit (45009) passes with backoff.
TEST(ClassifyErrcodeTest, WeComTicketsBlameTheTokenAndWaitOutTheHour) {
  for (int code : {40014, 42001, 41001}) {
    EXPECT_EQ(ClassifyErrcode(code, FetchApi::kWeComTicket),
              FailureClass::kTokenRejected)
        << "errcode " << code;
  }
  EXPECT_EQ(ClassifyErrcode(45009, FetchApi::kWeComTicket),
            FailureClass::kTransient);
  EXPECT_EQ(ClassifyErrcode(60020, FetchApi::kWeComTicket),
            FailureClass::kPermanent);
}

TEST(ClassifyErrcodeTest, StaleTokenOnTicketIsTokenRejected) {
  for (int code : {40001, 40014, 42001, 41001}) {
    EXPECT_EQ(ClassifyErrcode(code, FetchApi::kTicket),
              FailureClass::kTokenRejected)
        << "errcode " << code;
  }
}

TEST(ClassifyErrcodeTest, CallerErrorsArePermanentOnTicket) {
  for (int code : {40164, 40243, 50004, 50007, 89501, 89503, 89506, 89507}) {
    EXPECT_EQ(ClassifyErrcode(code, FetchApi::kTicket),
              FailureClass::kPermanent)
        << "errcode " << code;
  }
}

TEST(ClassifyErrcodeTest, UnknownCodesAreTransient) {
  for (FetchApi api :
       {FetchApi::kClassic, FetchApi::kStable, FetchApi::kTicket}) {
    EXPECT_EQ(ClassifyErrcode(12345, api), FailureClass::kTransient);
    EXPECT_EQ(ClassifyErrcode(-2, api), FailureClass::kTransient);
  }
  // Token-use codes mean nothing on a token fetch.
  EXPECT_EQ(ClassifyErrcode(40014, FetchApi::kClassic),
            FailureClass::kTransient);
  EXPECT_EQ(ClassifyErrcode(42001, FetchApi::kStable),
            FailureClass::kTransient);
}

TEST(IsRefreshErrcodeTest, OnlyTokenRejections) {
  EXPECT_TRUE(IsRefreshErrcode(40001));
  EXPECT_TRUE(IsRefreshErrcode(40014));
  EXPECT_TRUE(IsRefreshErrcode(42001));
  EXPECT_FALSE(IsRefreshErrcode(0));
  EXPECT_FALSE(IsRefreshErrcode(-1));
  EXPECT_FALSE(IsRefreshErrcode(40125));
  EXPECT_FALSE(IsRefreshErrcode(45009));
}

TEST(ClassifyErrcodeTest, AComponentTokenRefusedForItsTicketWaitsForAPush) {
  // 61005/61006: the verify ticket sent was expired or not the platform's.
  for (int code : {61005, 61006}) {
    EXPECT_EQ(ClassifyErrcode(code, FetchApi::kComponentToken),
              FailureClass::kTokenRejected);
    EXPECT_EQ(ClassifyErrcode(code, FetchApi::kStartPushTicket),
              FailureClass::kTransient);
  }
  // A platform's whitelist error, and a wrong component secret.
  EXPECT_EQ(ClassifyErrcode(61004, FetchApi::kComponentToken),
            FailureClass::kPermanent);
  EXPECT_EQ(ClassifyErrcode(61004, FetchApi::kStartPushTicket),
            FailureClass::kPermanent);
  EXPECT_EQ(ClassifyErrcode(40125, FetchApi::kComponentToken),
            FailureClass::kPermanent);
}

// get_suite_token: a rejected suite ticket (40085) waits for the next push;
// what the sandbox answers for an unknown suite_id (40083) or a wrong
// suite_secret (40001) waits for an operator.
TEST(ClassifyErrcodeTest, ASuiteTokenRefusedForItsTicketWaitsForAPush) {
  EXPECT_EQ(ClassifyErrcode(40085, FetchApi::kWeComSuiteToken),
            FailureClass::kTokenRejected);
  for (int code : {40001, 40091, 40013, 40083, 41002, 41004, 60020}) {
    EXPECT_EQ(ClassifyErrcode(code, FetchApi::kWeComSuiteToken),
              FailureClass::kPermanent)
        << "errcode " << code;
  }
  for (int code : {45009, 45033, -1, 47001, 40082, 42009}) {
    EXPECT_EQ(ClassifyErrcode(code, FetchApi::kWeComSuiteToken),
              FailureClass::kTransient)
        << "errcode " << code;
  }
  // 40085 is the suite ticket's alone; 40083 a suite_id only there.
  for (FetchApi api :
       {FetchApi::kWeComToken, FetchApi::kWeComProviderToken,
        FetchApi::kWeComPermanentCode, FetchApi::kWeComCorpToken}) {
    EXPECT_EQ(ClassifyErrcode(40085, api), FailureClass::kTransient);
    EXPECT_EQ(ClassifyErrcode(40083, api), FailureClass::kTransient);
  }
}

// get_permanent_code and get_corp_token: a rejected suite token wants a fresh
// one; a used auth code or a wrong permanent code cannot pass by itself.
TEST(ClassifyErrcodeTest, SuiteTokenUsersBlameTheSuiteTokenOrTheirCode) {
  for (FetchApi api :
       {FetchApi::kWeComPermanentCode, FetchApi::kWeComCorpToken}) {
    for (int code : {40082, 42009, 40014, 42001}) {
      EXPECT_EQ(ClassifyErrcode(code, api), FailureClass::kTokenRejected)
          << "errcode " << code;
    }
    for (int code : {40084, 40029, 60020, 40164}) {
      EXPECT_EQ(ClassifyErrcode(code, api), FailureClass::kPermanent)
          << "errcode " << code;
    }
    for (int code : {45009, 45033, -1, 47001, 12345}) {
      EXPECT_EQ(ClassifyErrcode(code, api), FailureClass::kTransient)
          << "errcode " << code;
    }
  }
  // The suite token's codes are not a provider's or an app's token fetch's.
  for (FetchApi api : {FetchApi::kWeComToken, FetchApi::kWeComProviderToken,
                       FetchApi::kWeComSuiteToken, FetchApi::kComponentToken}) {
    EXPECT_NE(ClassifyErrcode(40082, api), FailureClass::kTokenRejected);
    EXPECT_NE(ClassifyErrcode(42009, api), FailureClass::kTokenRejected);
    EXPECT_NE(ClassifyErrcode(40084, api), FailureClass::kPermanent);
  }
}

}  // namespace
}  // namespace wxtoken::server
