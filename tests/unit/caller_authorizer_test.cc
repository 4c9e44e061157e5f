// The authorization side that needs no call (tests/e2e/security_e2e_test
// has the rest, with certificates): what `callers` may name matches the
// service, and no `callers` key allows every call.
#include "server/grpc/caller_authorizer.h"

#include <set>
#include <string>

#include "gtest/gtest.h"
#include "wxtoken/v1/token_controller.pb.h"

namespace wxtoken::server {
namespace {

// A grant names methods by the proto's names: the config's list is the
// service's, so a method added to the proto cannot go ungrantable.
TEST(CallerAuthorizerTest, GrantableMethodsAreTheServicesMethods) {
  const google::protobuf::ServiceDescriptor* service =
      wxtoken::v1::GetTokenRequest::descriptor()->file()->FindServiceByName(
          "TokenController");
  ASSERT_NE(service, nullptr);
  std::set<std::string> in_proto;
  for (int i = 0; i < service->method_count(); ++i) {
    in_proto.insert(service->method(i)->name());
  }
  std::set<std::string> grantable(std::begin(kTokenControllerMethods),
                                  std::end(kTokenControllerMethods));
  EXPECT_EQ(grantable, in_proto);
}

TEST(CallerAuthorizerTest, WithoutCallersEveryCallIsAllowedAsAny) {
  const CallerAuthorizer authorizer(std::nullopt);
  grpc::ServerContext context;  // not of a call: never asked for its peer
  EXPECT_TRUE(
      authorizer.Check(context, "ForceRefresh", "wx0123456789abcdef").ok());
  EXPECT_EQ(authorizer.CallerLabel(context), "any");
}

TEST(CallerAuthorizerTest, AGrantNamesOwnersExactlyOrUnderAParent) {
  const std::vector<std::string> apps = {"wx0123456789abcdef",
                                         "wxcomponent00000001/*"};
  EXPECT_TRUE(GrantNamesApp(apps, "wx0123456789abcdef"));
  EXPECT_TRUE(GrantNamesApp(apps, "wxcomponent00000001/wxauthorizer000001"));
  EXPECT_FALSE(GrantNamesApp(apps, "wxcomponent00000001"))
      << "the platform's own token is another owner";
  EXPECT_FALSE(GrantNamesApp(apps, "wxcomponent000000012/wxauthorizer000001"))
      << "a longer parent is another parent";
  EXPECT_FALSE(GrantNamesApp(apps, "wx0123456789abcdef/1000002"));
  EXPECT_FALSE(GrantNamesApp(apps, "wx0123456789abcde"));
  EXPECT_TRUE(GrantNamesApp({"*"}, "ww0123456789abcdef/contacts"));
}

}  // namespace
}  // namespace wxtoken::server
