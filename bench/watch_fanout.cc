// wxtoken-watch-fanout: WatchToken fan-out against a running wxtokend,
// bounded in streams, rounds and time. Opens --watchers streams over
// channels of --streams_per_channel each, then rotates the token
// --rounds times with ForceRefresh and reports, per rotation, how long after
// ForceRefresh's answer the first, median and last stream had the new value.
// GetToken throughput (closed loop, --get_threads threads) is measured
// without watchers and again while the rotations fan out; with --server_pid
// it reports wxtokend's RSS too. bench/watch.sh runs it.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:50051", "wxtokend address");
ABSL_FLAG(std::string, app_id, "", "app to watch");
ABSL_FLAG(int, watchers, 10000, "WatchToken streams to open");
ABSL_FLAG(int, streams_per_channel, 500,
          "streams per channel (wxtokend allows 1000 per connection)");
ABSL_FLAG(int, rounds, 5, "rotations to fan out");
ABSL_FLAG(absl::Duration, round_gap, absl::Milliseconds(1500),
          "wait between rotations (above force_min_interval)");
ABSL_FLAG(int, get_threads, 4, "GetToken closed-loop threads");
ABSL_FLAG(absl::Duration, get_seconds, absl::Seconds(5),
          "GetToken measurement without watchers");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(60),
          "bound on every wait for the streams");
ABSL_FLAG(int, server_pid, 0, "wxtokend's pid, to report its RSS");

namespace wxtoken::bench {
namespace {

using Stub = wxtoken::v1::TokenController::Stub;

std::string Rss(int pid) {
  if (pid == 0) return "?";
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return absl::StrCat(std::stol(line.substr(6)) / 1024, " MiB");
    }
  }
  return "?";
}

// One stream: remembers when each generation first arrived.
class Watcher final
    : public grpc::ClientReadReactor<wxtoken::v1::WatchTokenResponse> {
 public:
  Watcher(Stub& stub, const std::string& app_id, std::atomic<int>& done)
      : done_(done) {
    request_.set_app_id(app_id);
    stub.async()->WatchToken(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const uint64_t generation = response_.token().generation();
    if (generation > last_generation_.load(std::memory_order_relaxed)) {
      absl::MutexLock lock(&mu_);
      arrivals_.emplace_back(generation, absl::Now());
      last_generation_.store(generation, std::memory_order_release);
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    {
      absl::MutexLock lock(&mu_);
      status_ = status;
    }
    done_.fetch_add(1);
  }
  void Cancel() { context_.TryCancel(); }

  uint64_t last_generation() const {
    return last_generation_.load(std::memory_order_acquire);
  }
  std::optional<absl::Time> ArrivalOf(uint64_t generation) const {
    absl::MutexLock lock(&mu_);
    for (const auto& [g, at] : arrivals_) {
      if (g >= generation) return at;
    }
    return std::nullopt;
  }

 private:
  grpc::ClientContext context_;
  wxtoken::v1::WatchTokenRequest request_;
  wxtoken::v1::WatchTokenResponse response_;
  std::atomic<int>& done_;
  std::atomic<uint64_t> last_generation_{0};
  mutable absl::Mutex mu_;
  std::vector<std::pair<uint64_t, absl::Time>> arrivals_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

std::shared_ptr<grpc::Channel> NewChannel(const std::string& addr, int index) {
  grpc::ChannelArguments args;
  // One connection each: streams spread over connections, not one.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("wxtoken.bench_channel", index);
  return grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(),
                                   args);
}

// GetToken calls per second from `threads` closed loops until `stop`.
class GetTokenLoad {
 public:
  GetTokenLoad(const std::string& addr, const std::string& app_id,
               int threads) {
    start_ = absl::Now();
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, addr, app_id, i] {
        auto stub =
            wxtoken::v1::TokenController::NewStub(NewChannel(addr, 100000 + i));
        wxtoken::v1::GetTokenRequest request;
        request.set_app_id(app_id);
        while (!stop_.load()) {
          grpc::ClientContext context;
          context.set_deadline(
              absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
          wxtoken::v1::GetTokenResponse response;
          if (stub->GetToken(&context, request, &response).ok()) {
            calls_.fetch_add(1, std::memory_order_relaxed);
          } else {
            errors_.fetch_add(1, std::memory_order_relaxed);
          }
        }
      });
    }
  }
  // Stops the loops; returns calls per second.
  double Stop() {
    stop_.store(true);
    for (std::thread& thread : threads_) thread.join();
    return calls_.load() / absl::ToDoubleSeconds(absl::Now() - start_);
  }
  int64_t errors() const { return errors_.load(); }

 private:
  absl::Time start_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> errors_{0};
  std::vector<std::thread> threads_;
};

// Polls until every watcher holds `generation`, at most `timeout`.
bool AwaitAll(const std::vector<std::unique_ptr<Watcher>>& watchers,
              uint64_t generation, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    const bool all = std::all_of(
        watchers.begin(), watchers.end(),
        [&](const auto& w) { return w->last_generation() >= generation; });
    if (all) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return false;
}

int Run() {
  const std::string addr = absl::GetFlag(FLAGS_addr);
  const std::string app_id = absl::GetFlag(FLAGS_app_id);
  const int count = absl::GetFlag(FLAGS_watchers);
  const int pid = absl::GetFlag(FLAGS_server_pid);
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (app_id.empty() || count < 1) {
    std::fprintf(stderr, "--app_id and --watchers >= 1 are required\n");
    return 64;
  }
  auto control = wxtoken::v1::TokenController::NewStub(NewChannel(addr, -1));
  auto get_current = [&]() -> std::optional<wxtoken::v1::Token> {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    wxtoken::v1::GetTokenRequest request;
    request.set_app_id(app_id);
    wxtoken::v1::GetTokenResponse response;
    if (!control->GetToken(&context, request, &response).ok()) {
      return std::nullopt;
    }
    return response.token();
  };
  std::optional<wxtoken::v1::Token> current = get_current();
  if (!current) {
    std::fprintf(stderr, "GetToken failed: is wxtokend SERVING?\n");
    return 1;
  }

  GetTokenLoad baseline(addr, app_id, absl::GetFlag(FLAGS_get_threads));
  absl::SleepFor(absl::GetFlag(FLAGS_get_seconds));
  const double baseline_rate = baseline.Stop();
  std::printf("GetToken without watchers: %.0f calls/s (%d threads)\n",
              baseline_rate, absl::GetFlag(FLAGS_get_threads));
  std::printf("wxtokend RSS without watchers: %s\n", Rss(pid).c_str());

  const int per_channel = std::max(1, absl::GetFlag(FLAGS_streams_per_channel));
  std::vector<std::unique_ptr<Stub>> stubs;
  std::vector<std::unique_ptr<Watcher>> watchers;
  std::atomic<int> done{0};
  const absl::Time opening = absl::Now();
  for (int i = 0; i < count; ++i) {
    if (i % per_channel == 0) {
      stubs.push_back(wxtoken::v1::TokenController::NewStub(
          NewChannel(addr, static_cast<int>(stubs.size()))));
    }
    watchers.push_back(std::make_unique<Watcher>(*stubs.back(), app_id, done));
  }
  if (!AwaitAll(watchers, current->generation(), timeout)) {
    std::fprintf(stderr, "not every stream got its first message in %s\n",
                 absl::FormatDuration(timeout).c_str());
    for (auto& watcher : watchers) watcher->Cancel();
    return 1;
  }
  std::printf(
      "%d streams on %zu connections, all with their first message "
      "after %s\n",
      count, stubs.size(), absl::FormatDuration(absl::Now() - opening).c_str());
  std::printf("wxtokend RSS with %d watchers: %s\n", count, Rss(pid).c_str());

  GetTokenLoad during(addr, app_id, absl::GetFlag(FLAGS_get_threads));
  int failures = 0;
  for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
    absl::SleepFor(absl::GetFlag(FLAGS_round_gap));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    wxtoken::v1::ForceRefreshRequest request;
    request.set_app_id(app_id);
    request.set_stale_value(current->value());
    request.set_wechat_errcode(40001);
    wxtoken::v1::ForceRefreshResponse response;
    grpc::Status status = control->ForceRefresh(&context, request, &response);
    const absl::Time answered = absl::Now();
    if (!status.ok()) {
      std::fprintf(stderr, "ForceRefresh: %s\n",
                   status.error_message().c_str());
      ++failures;
      continue;
    }
    *current = response.token();
    const uint64_t generation = current->generation();
    if (!AwaitAll(watchers, generation, timeout)) {
      std::fprintf(stderr, "generation %llu did not reach every stream\n",
                   static_cast<unsigned long long>(generation));
      ++failures;
      continue;
    }
    std::vector<absl::Duration> delays;
    for (const auto& watcher : watchers) {
      if (std::optional<absl::Time> at = watcher->ArrivalOf(generation)) {
        delays.push_back(*at - answered);
      }
    }
    std::sort(delays.begin(), delays.end());
    std::printf(
        "rotation %d (generation %llu): %zu streams; after "
        "ForceRefresh's answer: first %s, median %s, last %s\n",
        round + 1, static_cast<unsigned long long>(generation), delays.size(),
        absl::FormatDuration(delays.front()).c_str(),
        absl::FormatDuration(delays[delays.size() / 2]).c_str(),
        absl::FormatDuration(delays.back()).c_str());
  }
  const double during_rate = during.Stop();
  std::printf(
      "GetToken during fan-out: %.0f calls/s (%.2f of without), "
      "%lld errors\n",
      during_rate, during_rate / baseline_rate,
      static_cast<long long>(during.errors()));
  std::printf("wxtokend RSS after the rotations: %s\n", Rss(pid).c_str());

  for (auto& watcher : watchers) watcher->Cancel();
  const absl::Time deadline = absl::Now() + timeout;
  while (done.load() < count && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  return failures == 0 && done.load() == count ? 0 : 1;
}

}  // namespace
}  // namespace wxtoken::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "WatchToken fan-out against a running wxtokend (bench/watch.sh)");
  absl::ParseCommandLine(argc, argv);
  return wxtoken::bench::Run();
}
