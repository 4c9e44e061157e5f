#include "server/grpc/token_proto.h"

#include <google/protobuf/util/time_util.h>

#include <cstdint>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

using google::protobuf::util::TimeUtil;

// The in-place conversions against protobuf's own, on both sides of zero and
// of whole seconds.
TEST(TokenProtoTest, TimestampsAndDurationsAreProtobufsOwn) {
  for (int64_t nanos :
       {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{999'999'999},
        int64_t{-1'000'000'000}, int64_t{-1'500'000'000},
        int64_t{1'714'000'000'123'456'789},
        int64_t{-6'213'559'680'123'456'789}}) {
    google::protobuf::Timestamp timestamp;
    SetProtoTimestamp(absl::FromUnixNanos(nanos), &timestamp);
    EXPECT_EQ(timestamp, TimeUtil::NanosecondsToTimestamp(nanos)) << nanos;
    EXPECT_TRUE(timestamp.nanos() >= 0 && timestamp.nanos() < 1'000'000'000);
    google::protobuf::Duration duration;
    SetProtoDuration(absl::Nanoseconds(nanos), &duration);
    EXPECT_EQ(duration, TimeUtil::NanosecondsToDuration(nanos)) << nanos;
    EXPECT_EQ(ToProtoDuration(absl::Nanoseconds(nanos)), duration);
  }
}

TEST(TokenProtoTest, FillTokenSetsEveryField) {
  Token token;
  token.app_id = "wx0123456789abcdef";
  token.kind = TokenKind::kJsapiTicket;
  token.value = "v";
  token.fetched_at = absl::FromUnixMillis(1'714'000'000'250);
  token.expires_at = token.fetched_at + absl::Hours(2);
  token.max_cache = absl::Milliseconds(240'500);
  token.stale_if_error = absl::Minutes(5);
  token.generation = 9;
  wxtoken::v1::Token proto;
  FillToken(token, &proto);
  EXPECT_EQ(proto.app_id(), token.app_id);
  EXPECT_EQ(proto.kind(), wxtoken::v1::TOKEN_KIND_JSAPI_TICKET);
  EXPECT_EQ(proto.value(), "v");
  EXPECT_EQ(TimeUtil::TimestampToMilliseconds(proto.fetched_at()),
            1'714'000'000'250);
  EXPECT_EQ(TimeUtil::TimestampToMilliseconds(proto.expires_at()),
            1'714'000'000'250 + 7'200'000);
  EXPECT_EQ(TimeUtil::DurationToMilliseconds(proto.max_cache()), 240'500);
  EXPECT_EQ(TimeUtil::DurationToSeconds(proto.stale_if_error()), 300);
  EXPECT_EQ(proto.generation(), 9u);
}

}  // namespace
}  // namespace wxtoken::server
