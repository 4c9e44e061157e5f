// wxtoken-load: closed-loop gRPC load against a running wxtokend.
//
// Runs GetToken and, as the empty-RPC baseline, grpc.health.v1.Health/Check
// against the same server with the same settings, alternating rounds so both
// see the same machine state, and prints throughput, latency percentiles and
// the GetToken/Check throughput ratio. `--mode storm` instead sends N
// concurrent ForceRefresh calls with the same stale value and prints their
// outcomes. Every run is bounded in time and in requests.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:50051", "wxtokend address");
ABSL_FLAG(std::string, app_id, "", "app to ask for");
ABSL_FLAG(std::string, mode, "compare", "compare (GetToken vs Check) | storm");
ABSL_FLAG(int, channels, 4, "gRPC channels (connections)");
ABSL_FLAG(int, concurrency, 64, "RPCs kept in flight, spread over channels");
ABSL_FLAG(absl::Duration, round, absl::Seconds(2), "length of one round");
ABSL_FLAG(int, rounds, 3, "rounds per method (alternating)");
ABSL_FLAG(int64_t, max_requests, 5'000'000, "hard cap on RPCs per round");
ABSL_FLAG(int, storm_callers, 100, "storm: concurrent ForceRefresh callers");

namespace wxtoken::bench {
namespace {

using HealthStub = grpc::health::v1::Health::Stub;
using TokenStub = wxtoken::v1::TokenController::Stub;

struct Channel {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<TokenStub> token;
  std::unique_ptr<HealthStub> health;
};

std::vector<Channel> Connect(const std::string& addr, int count) {
  std::vector<Channel> channels;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    // Each channel gets its own connection instead of a shared subchannel.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    Channel c;
    c.channel = grpc::CreateCustomChannel(
        addr, grpc::InsecureChannelCredentials(), args);
    c.token = wxtoken::v1::TokenController::NewStub(c.channel);
    c.health = grpc::health::v1::Health::NewStub(c.channel);
    channels.push_back(std::move(c));
  }
  return channels;
}

struct RoundResult {
  int64_t ok = 0;
  int64_t failed = 0;
  absl::Duration elapsed;
  std::vector<absl::Duration> latencies;
};

// One closed loop: an RPC in flight; each completion records its latency
// and starts the next until the round ends.
class Loop {
 public:
  Loop(Channel& channel, bool get_token, const std::string& app_id,
       absl::Time end, std::atomic<int64_t>& budget,
       absl::BlockingCounter& done)
      : channel_(channel),
        get_token_(get_token),
        end_(end),
        budget_(budget),
        done_(done) {
    token_request_.set_app_id(app_id);
  }

  void Start() { Next(); }
  const std::vector<absl::Duration>& latencies() const { return latencies_; }
  int64_t failed() const { return failed_; }

 private:
  void Next() {
    if (absl::Now() >= end_ || budget_.fetch_sub(1) <= 0) {
      done_.DecrementCount();
      return;
    }
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    started_ = absl::Now();
    auto on_done = [this](grpc::Status status) {
      if (status.ok()) {
        latencies_.push_back(absl::Now() - started_);
      } else {
        ++failed_;
      }
      Next();
    };
    if (get_token_) {
      channel_.token->async()->GetToken(context_.get(), &token_request_,
                                        &token_response_, on_done);
    } else {
      channel_.health->async()->Check(context_.get(), &health_request_,
                                      &health_response_, on_done);
    }
  }

  Channel& channel_;
  const bool get_token_;
  const absl::Time end_;
  std::atomic<int64_t>& budget_;
  absl::BlockingCounter& done_;
  std::unique_ptr<grpc::ClientContext> context_;
  absl::Time started_;
  wxtoken::v1::GetTokenRequest token_request_;
  wxtoken::v1::GetTokenResponse token_response_;
  grpc::health::v1::HealthCheckRequest health_request_;
  grpc::health::v1::HealthCheckResponse health_response_;
  std::vector<absl::Duration> latencies_;
  int64_t failed_ = 0;
};

RoundResult RunRound(std::vector<Channel>& channels, bool get_token,
                     const std::string& app_id) {
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  std::atomic<int64_t> budget{absl::GetFlag(FLAGS_max_requests)};
  absl::BlockingCounter done(concurrency);
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::GetFlag(FLAGS_round);
  std::vector<std::unique_ptr<Loop>> loops;
  for (int i = 0; i < concurrency; ++i) {
    loops.push_back(std::make_unique<Loop>(
        channels[i % channels.size()], get_token, app_id, end, budget, done));
  }
  for (auto& loop : loops) loop->Start();
  done.Wait();
  RoundResult result;
  result.elapsed = absl::Now() - start;
  for (const auto& loop : loops) {
    result.failed += loop->failed();
    result.latencies.insert(result.latencies.end(), loop->latencies().begin(),
                            loop->latencies().end());
  }
  result.ok = static_cast<int64_t>(result.latencies.size());
  return result;
}

struct Summary {
  double rps = 0;
  int64_t failed = 0;
  absl::Duration p50, p99, p999;
};

Summary Summarize(std::vector<RoundResult>& rounds) {
  Summary summary;
  std::vector<absl::Duration> all;
  absl::Duration elapsed;
  int64_t ok = 0;
  for (RoundResult& round : rounds) {
    ok += round.ok;
    elapsed += round.elapsed;
    summary.failed += round.failed;
    all.insert(all.end(), round.latencies.begin(), round.latencies.end());
  }
  std::sort(all.begin(), all.end());
  auto at = [&](double q) {
    return all.empty() ? absl::ZeroDuration()
                       : all[std::min(all.size() - 1,
                                      static_cast<size_t>(q * all.size()))];
  };
  summary.rps = ok / absl::ToDoubleSeconds(elapsed);
  summary.p50 = at(0.50);
  summary.p99 = at(0.99);
  summary.p999 = at(0.999);
  return summary;
}

void PrintRow(const std::string& name, const Summary& s) {
  std::printf("| %-24s | %10.0f | %8.1f | %8.1f | %8.1f | %6lld |\n",
              name.c_str(), s.rps, absl::ToDoubleMicroseconds(s.p50),
              absl::ToDoubleMicroseconds(s.p99),
              absl::ToDoubleMicroseconds(s.p999),
              static_cast<long long>(s.failed));
}

int Compare(std::vector<Channel>& channels, const std::string& app_id) {
  // Warm up connections and caches, unmeasured.
  RunRound(channels, true, app_id);
  RunRound(channels, false, app_id);
  std::vector<RoundResult> get_token, check;
  for (int i = 0; i < absl::GetFlag(FLAGS_rounds); ++i) {
    get_token.push_back(RunRound(channels, true, app_id));
    check.push_back(RunRound(channels, false, app_id));
  }
  const Summary token_summary = Summarize(get_token);
  const Summary check_summary = Summarize(check);
  std::printf("| %-24s | %10s | %8s | %8s | %8s | %6s |\n", "RPC", "req/s",
              "p50 us", "p99 us", "p999 us", "errors");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(26, '-').c_str(),
              std::string(12, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str(), std::string(10, '-').c_str(),
              std::string(8, '-').c_str());
  PrintRow("GetToken", token_summary);
  PrintRow("Health/Check (baseline)", check_summary);
  const double ratio = token_summary.rps / check_summary.rps;
  std::printf("\nGetToken / Health.Check throughput: %.3f\n", ratio);
  if (token_summary.failed + check_summary.failed > 0) {
    std::fprintf(stderr, "wxtoken-load: some RPCs failed\n");
    return 1;
  }
  return 0;
}

int Storm(std::vector<Channel>& channels, const std::string& app_id) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  wxtoken::v1::GetTokenRequest request;
  request.set_app_id(app_id);
  wxtoken::v1::GetTokenResponse current;
  grpc::Status status =
      channels[0].token->GetToken(&context, request, &current);
  if (!status.ok()) {
    std::fprintf(stderr, "wxtoken-load: GetToken: %s\n",
                 status.error_message().c_str());
    return 1;
  }
  const int callers = absl::GetFlag(FLAGS_storm_callers);
  struct Call {
    grpc::ClientContext context;
    wxtoken::v1::ForceRefreshRequest request;
    wxtoken::v1::ForceRefreshResponse response;
    grpc::Status status;
  };
  std::vector<Call> calls(callers);
  absl::BlockingCounter done(callers);
  const absl::Time start = absl::Now();
  for (int i = 0; i < callers; ++i) {
    Call& call = calls[i];
    call.context.set_deadline(
        absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    call.request.set_app_id(app_id);
    call.request.set_stale_value(current.token().value());
    call.request.set_wechat_errcode(40001);
    channels[i % channels.size()].token->async()->ForceRefresh(
        &call.context, &call.request, &call.response,
        [&call, &done](grpc::Status s) {
          call.status = std::move(s);
          done.DecrementCount();
        });
  }
  done.Wait();
  const absl::Duration elapsed = absl::Now() - start;
  int refreshed = 0, coalesced = 0, newer = 0, failed = 0;
  for (const Call& call : calls) {
    if (!call.status.ok()) {
      ++failed;
      continue;
    }
    switch (call.response.outcome()) {
      case wxtoken::v1::REFRESH_OUTCOME_REFRESHED:
        ++refreshed;
        break;
      case wxtoken::v1::REFRESH_OUTCOME_COALESCED:
        ++coalesced;
        break;
      default:
        ++newer;
    }
  }
  std::printf(
      "ForceRefresh storm: %d callers -> refreshed %d, coalesced %d, "
      "already_newer %d, failed %d in %s\n",
      callers, refreshed, coalesced, newer, failed,
      absl::FormatDuration(elapsed).c_str());
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace wxtoken::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "closed-loop load against wxtokend: GetToken vs Health.Check, or a "
      "ForceRefresh storm");
  absl::ParseCommandLine(argc, argv);
  const std::string app_id = absl::GetFlag(FLAGS_app_id);
  if (app_id.empty() || absl::GetFlag(FLAGS_channels) < 1 ||
      absl::GetFlag(FLAGS_concurrency) < 1) {
    std::fprintf(stderr,
                 "wxtoken-load: --app_id is required; channels and "
                 "concurrency must be >= 1\n");
    return 64;
  }
  auto channels = wxtoken::bench::Connect(absl::GetFlag(FLAGS_addr),
                                          absl::GetFlag(FLAGS_channels));
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "storm") return wxtoken::bench::Storm(channels, app_id);
  if (mode == "compare") return wxtoken::bench::Compare(channels, app_id);
  std::fprintf(stderr, "wxtoken-load: unknown --mode %s\n", mode.c_str());
  return 64;
}
