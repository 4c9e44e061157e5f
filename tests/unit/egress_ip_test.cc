// The IP WeChat names in its whitelist errors (WECHAT.md), taken only when
// it is an address.
#include "server/wechat/egress_ip.h"

#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

TEST(EgressIpTest, ReadsEachErrcodesText) {
  EXPECT_EQ(
      EgressIp(40164,
               "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist"),
      "1.2.3.4");
  EXPECT_EQ(EgressIp(61004,
                     "access clientip is not registered requestIP: 1.2.3.4 "
                     "rid: 5f1a-2b"),
            "1.2.3.4");
  EXPECT_EQ(EgressIp(60020,
                     "not allow to access from your ip, hint: [1700000000], "
                     "from ip: 2001:db8::7, more info at https://open.work"),
            "2001:db8::7");
  EXPECT_EQ(EgressIp(40164, "invalid ip 198.51.100.20, not in whitelist"),
            "198.51.100.20");
}

TEST(EgressIpTest, NothingButAnAddressIsTaken) {
  EXPECT_EQ(EgressIp(40164, "not in whitelist"), std::nullopt);
  EXPECT_EQ(EgressIp(40164, "invalid ip 1.2.3 ipv6"), std::nullopt);
  EXPECT_EQ(EgressIp(40164, "invalid ip <script> ipv6"), std::nullopt);
  EXPECT_EQ(EgressIp(40164, "invalid ip "), std::nullopt);
  EXPECT_EQ(EgressIp(61004, "requestIP: 999.1.1.1 rid"), std::nullopt);
  // Another errcode's text is not read for an address.
  EXPECT_EQ(EgressIp(40013, "invalid ip 1.2.3.4"), std::nullopt);
}

}  // namespace
}  // namespace wxtoken::server
