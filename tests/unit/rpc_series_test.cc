#include "server/metrics/rpc_series.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

class RpcSeriesTest : public ::testing::Test {
 protected:
  // Counter values by "method code caller", from what a scrape would see.
  std::map<std::string, double> Requests() const {
    std::map<std::string, double> values;
    for (const prometheus::MetricFamily& family : registry_.Collect()) {
      if (family.name != "requests_total") continue;
      for (const prometheus::ClientMetric& metric : family.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& label : metric.label) labels[label.name] = label.value;
        values[absl::StrCat(labels["method"], " ", labels["code"], " ",
                            labels["caller"])] = metric.counter.value;
      }
    }
    return values;
  }
  // Observations by method.
  std::map<std::string, uint64_t> Durations() const {
    std::map<std::string, uint64_t> counts;
    for (const prometheus::MetricFamily& family : registry_.Collect()) {
      if (family.name != "duration_seconds") continue;
      for (const prometheus::ClientMetric& metric : family.metric) {
        counts[metric.label.at(0).value] = metric.histogram.sample_count;
      }
    }
    return counts;
  }

  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& requests_ =
      prometheus::BuildCounter().Name("requests_total").Register(registry_);
  prometheus::Family<prometheus::Histogram>& durations_ =
      prometheus::BuildHistogram().Name("duration_seconds").Register(registry_);
  RpcSeries series_{&requests_, &durations_, {0.001, 0.01, 0.1}};
};

TEST_F(RpcSeriesTest, CountsEachLabelSetApart) {
  series_.Record("/a/Get", "OK", "any", absl::Milliseconds(1));
  series_.Record("/a/Get", "OK", "any", absl::Milliseconds(2));
  series_.Record("/a/Get", "NOT_FOUND", "any", absl::Milliseconds(3));
  series_.Record("/a/Get", "OK", "spiffe://billing", absl::Milliseconds(4));
  series_.Record("/b/Check", "OK", "any", absl::Milliseconds(5));
  EXPECT_EQ(Requests(), (std::map<std::string, double>{
                            {"/a/Get NOT_FOUND any", 1},
                            {"/a/Get OK any", 2},
                            {"/a/Get OK spiffe://billing", 1},
                            {"/b/Check OK any", 1},
                        }));
  EXPECT_EQ(Durations(),
            (std::map<std::string, uint64_t>{{"/a/Get", 4}, {"/b/Check", 1}}));
}

TEST_F(RpcSeriesTest, LabelValuesAreNotConfusedByWhereTheyAreSplit) {
  // The same characters split differently between the labels.
  series_.Record("/a", "OK", "x", absl::Milliseconds(1));
  series_.Record("/aO", "K", "x", absl::Milliseconds(1));
  series_.Record("/a", "O", "Kx", absl::Milliseconds(1));
  EXPECT_EQ(Requests().size(), 3u);
}

TEST_F(RpcSeriesTest, ConcurrentCallsLoseNoCount) {
  constexpr int kThreads = 4;
  constexpr int kCalls = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kCalls; ++i) {
        // A label set shared by all threads, and new ones appearing
        // meanwhile.
        series_.Record("/a/Get", "OK", "any", absl::Microseconds(50));
        series_.Record("/a/Get", "OK", absl::StrCat("caller", t, "-", i % 10),
                       absl::Microseconds(50));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::map<std::string, double> requests = Requests();
  EXPECT_EQ(requests.at("/a/Get OK any"), kThreads * kCalls);
  EXPECT_EQ(requests.size(), 1u + kThreads * 10);
  EXPECT_EQ(requests.at("/a/Get OK caller3-7"), kCalls / 10);
  EXPECT_EQ(Durations().at("/a/Get"), 2u * kThreads * kCalls);
}

}  // namespace
}  // namespace wxtoken::server
