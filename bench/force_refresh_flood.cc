// wxtoken-flood: a ForceRefresh flood against a running wxtokend, bounded in
// time and in calls. `--concurrency` calls are kept in flight; each asks with
// a deadline drawn between --min_deadline and --max_deadline, so many give up
// (cancel) long before wxtokend may fetch again. Stale values are the current
// value mostly, sometimes empty, sometimes an old one. Prints calls per
// second and the answers by status code and outcome; bench/flood.sh watches
// wxtokend's memory and the upstream fetches meanwhile.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/random/random.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:50051", "wxtokend address");
ABSL_FLAG(std::string, app_id, "", "app to report");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(60), "length of the flood");
ABSL_FLAG(int, concurrency, 2000, "ForceRefresh calls kept in flight");
ABSL_FLAG(int, channels, 4, "gRPC channels (connections)");
ABSL_FLAG(absl::Duration, min_deadline, absl::Milliseconds(20),
          "shortest deadline of a call");
ABSL_FLAG(absl::Duration, max_deadline, absl::Seconds(3),
          "longest deadline of a call");
ABSL_FLAG(int64_t, max_calls, 10'000'000, "hard cap on calls");

namespace wxtoken::bench {
namespace {

using Stub = wxtoken::v1::TokenController::Stub;

// Answers by "CODE" or "OK/OUTCOME". Thread-safe.
class Tally {
 public:
  void Add(const std::string& key) {
    absl::MutexLock lock(&mu_);
    ++counts_[key];
  }
  std::map<std::string, int64_t> counts() const {
    absl::MutexLock lock(&mu_);
    return counts_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> counts_ ABSL_GUARDED_BY(mu_);
};

// The value callers report: the newest one seen. Thread-safe.
class CurrentValue {
 public:
  void Set(const std::string& value) {
    absl::MutexLock lock(&mu_);
    if (value != current_) {
      previous_ = current_;
      current_ = value;
    }
  }
  std::string Pick(double r) const {
    absl::MutexLock lock(&mu_);
    if (r < 0.7) return current_;
    if (r < 0.9) return "";
    return previous_.empty() ? "an-old-token-value" : previous_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string current_ ABSL_GUARDED_BY(mu_);
  std::string previous_ ABSL_GUARDED_BY(mu_);
};

// One slot of the flood: a call in flight; each answer starts the next.
class Caller {
 public:
  Caller(Stub& stub, const std::string& app_id, absl::Time end,
         std::atomic<int64_t>& budget, CurrentValue& current, Tally& tally,
         absl::BlockingCounter& done)
      : stub_(stub),
        app_id_(app_id),
        end_(end),
        budget_(budget),
        current_(current),
        tally_(tally),
        done_(done) {}

  void Next() {
    if (absl::Now() >= end_ || budget_.fetch_sub(1) <= 0) {
      done_.DecrementCount();
      return;
    }
    const double r = absl::Uniform(gen_, 0.0, 1.0);
    const absl::Duration deadline = absl::GetFlag(FLAGS_min_deadline) +
                                    (absl::GetFlag(FLAGS_max_deadline) -
                                     absl::GetFlag(FLAGS_min_deadline)) *
                                        absl::Uniform(gen_, 0.0, 1.0);
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    request_.set_app_id(app_id_);
    request_.set_stale_value(current_.Pick(r));
    request_.set_wechat_errcode(40001);
    response_.Clear();
    stub_.async()->ForceRefresh(
        context_.get(), &request_, &response_, [this](grpc::Status status) {
          if (status.ok()) {
            current_.Set(response_.token().value());
            tally_.Add("OK/" +
                       wxtoken::v1::RefreshOutcome_Name(response_.outcome()));
          } else {
            tally_.Add(StatusName(status.error_code()));
          }
          Next();
        });
  }

 private:
  static std::string StatusName(grpc::StatusCode code) {
    switch (code) {
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return "DEADLINE_EXCEEDED (caller gave up)";
      case grpc::StatusCode::CANCELLED:
        return "CANCELLED";
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        return "RESOURCE_EXHAUSTED";
      case grpc::StatusCode::UNAVAILABLE:
        return "UNAVAILABLE";
      default:
        return "code " + std::to_string(static_cast<int>(code));
    }
  }

  Stub& stub_;
  const std::string app_id_;
  const absl::Time end_;
  std::atomic<int64_t>& budget_;
  CurrentValue& current_;
  Tally& tally_;
  absl::BlockingCounter& done_;
  absl::BitGen gen_;
  std::unique_ptr<grpc::ClientContext> context_;
  wxtoken::v1::ForceRefreshRequest request_;
  wxtoken::v1::ForceRefreshResponse response_;
};

int Flood() {
  const std::string app_id = absl::GetFlag(FLAGS_app_id);
  std::vector<std::unique_ptr<Stub>> stubs;
  for (int i = 0; i < absl::GetFlag(FLAGS_channels); ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(wxtoken::v1::TokenController::NewStub(
        grpc::CreateCustomChannel(absl::GetFlag(FLAGS_addr),
                                  grpc::InsecureChannelCredentials(), args)));
  }
  CurrentValue current;
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    wxtoken::v1::GetTokenRequest request;
    request.set_app_id(app_id);
    wxtoken::v1::GetTokenResponse response;
    grpc::Status status = stubs[0]->GetToken(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "wxtoken-flood: GetToken: %s\n",
                   status.error_message().c_str());
      return 1;
    }
    current.Set(response.token().value());
  }
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  std::atomic<int64_t> budget{absl::GetFlag(FLAGS_max_calls)};
  Tally tally;
  absl::BlockingCounter done(concurrency);
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::GetFlag(FLAGS_duration);
  std::vector<std::unique_ptr<Caller>> callers;
  for (int i = 0; i < concurrency; ++i) {
    callers.push_back(std::make_unique<Caller>(
        *stubs[i % stubs.size()], app_id, end, budget, current, tally, done));
  }
  for (auto& caller : callers) caller->Next();
  done.Wait();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  int64_t calls = 0;
  for (const auto& [key, count] : tally.counts()) calls += count;
  std::printf(
      "ForceRefresh flood: %lld calls in %.1f s (%.0f calls/s), %d in "
      "flight\n",
      static_cast<long long>(calls), seconds, calls / seconds, concurrency);
  for (const auto& [key, count] : tally.counts()) {
    std::printf("  %-40s %10lld\n", key.c_str(), static_cast<long long>(count));
  }
  return 0;
}

}  // namespace
}  // namespace wxtoken::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "a bounded ForceRefresh flood against wxtokend: --app_id APP");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_app_id).empty() ||
      absl::GetFlag(FLAGS_concurrency) < 1 ||
      absl::GetFlag(FLAGS_channels) < 1) {
    std::fprintf(stderr, "wxtoken-flood: --app_id is required\n");
    return 64;
  }
  return wxtoken::bench::Flood();
}
