// Links the installed wxtoken::client and asks a controller that is not
// there: GetToken must answer UNAVAILABLE, and quickly. Exit 0 on success.
#include <iostream>
#include <string>

#include "absl/time/clock.h"
#include "wxtoken/client.h"
#include "wxtoken/v1/token_controller.pb.h"

namespace {

struct WeChatReply {
  int errcode = 0;
};

int Fail(const std::string& why) {
  std::cerr << "consumer: " << why << "\n";
  return 1;
}

}  // namespace

int main() {
  wxtoken::ClientOptions options;
  options.target = "127.0.0.1:1";  // nothing listens on port 1
  options.rpc_timeout = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<wxtoken::Client>> client =
      wxtoken::Client::Create(options);
  if (!client.ok()) return Fail(client.status().ToString());

  const absl::Time start = absl::Now();
  absl::StatusOr<wxtoken::Token> token =
      (*client)->GetToken("wx0123456789abcdef");
  const absl::Duration took = absl::Now() - start;
  if (token.status().code() != absl::StatusCode::kUnavailable) {
    return Fail("want UNAVAILABLE, got " + token.status().ToString());
  }
  // A refused connection fails fast, well inside the deadline.
  if (took >= absl::Seconds(5)) {
    return Fail("took " + absl::FormatDuration(took));
  }

  // The retry helper compiles here too, and never calls without a token.
  bool called = false;
  absl::StatusOr<WeChatReply> reply =
      (*client)->CallWithToken("wx0123456789abcdef", [&](const std::string&) {
        called = true;
        return WeChatReply{};
      });
  if (reply.ok() || called) return Fail("CallWithToken ran without a token");

  // The generated proto is installed as well.
  wxtoken::v1::GetTokenRequest request;
  request.set_app_id("wx0123456789abcdef");
  if (request.ByteSizeLong() == 0) return Fail("empty proto");

  std::cout << "consumer: UNAVAILABLE in " << absl::FormatDuration(took)
            << " as expected\n";
  return 0;
}
