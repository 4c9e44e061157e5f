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

}  // namespace
}  // namespace wxtoken::server
