#include "tests/e2e/token_load.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace wxtoken::testing {

TokenLoad::TokenLoad(std::shared_ptr<grpc::Channel> channel, std::string app_id,
                     Options options)
    : app_id_(std::move(app_id)),
      options_(options),
      stub_(wxtoken::v1::TokenController::NewStub(std::move(channel))),
      deadline_(absl::Now() + options.max_time) {
  for (int i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] { Run(); });
  }
}

TokenLoad::~TokenLoad() { Stop(); }

std::map<std::string, int> TokenLoad::Stop() {
  stop_ = true;
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  absl::MutexLock lock(&mu_);
  return codes_;
}

std::string TokenLoad::FirstMessage(const std::string& code) {
  absl::MutexLock lock(&mu_);
  return messages_[code];
}

void TokenLoad::Run() {
  while (!stop_ && absl::Now() < deadline_ &&
         calls_.fetch_add(1) < options_.max_calls) {
    grpc::Status status;
    for (int attempt = 0; attempt < 2; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
      wxtoken::v1::GetTokenRequest request;
      request.set_app_id(app_id_);
      wxtoken::v1::GetTokenResponse response;
      status = stub_->GetToken(&context, request, &response);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    }
    const std::string code = absl::StatusCodeToString(
        static_cast<absl::StatusCode>(status.error_code()));
    {
      absl::MutexLock lock(&mu_);
      ++codes_[code];
      messages_.emplace(code, status.error_message());
    }
    absl::SleepFor(options_.pause);
  }
}

std::shared_ptr<grpc::Channel> TokenLoad::BalancedChannel(
    const std::vector<std::string>& addresses) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(
      R"({"loadBalancingConfig": [{"round_robin": {}}],
          "healthCheckConfig": {"serviceName": ""}})");
  // A restarted server is used again soon, not after a long backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(
      absl::StrCat("ipv4:", absl::StrJoin(addresses, ",")),
      grpc::InsecureChannelCredentials(), args);
}

}  // namespace wxtoken::testing
