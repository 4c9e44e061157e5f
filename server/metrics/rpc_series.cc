#include "server/metrics/rpc_series.h"

#include <utility>

namespace wxtoken::server {

RpcSeries::RpcSeries(prometheus::Family<prometheus::Counter>* requests,
                     prometheus::Family<prometheus::Histogram>* durations,
                     prometheus::Histogram::BucketBoundaries buckets)
    : requests_family_(requests),
      durations_family_(durations),
      buckets_(std::move(buckets)) {}

void RpcSeries::Record(absl::string_view method, absl::string_view code,
                       absl::string_view caller, absl::Duration latency) {
  const Series series = Find(KeyView(method, code, caller));
  series.requests->Increment();
  series.durations->Observe(absl::ToDoubleSeconds(latency));
}

RpcSeries::Series RpcSeries::Find(KeyView key) {
  {
    absl::ReaderMutexLock lock(&mu_);
    if (auto it = series_.find(key); it != series_.end()) return it->second;
  }
  absl::MutexLock lock(&mu_);
  // Family::Add returns the existing series when another thread just added
  // it, or another code or caller of the same method did.
  const Series series = {
      &requests_family_->Add({{"method", std::string(key.method)},
                              {"code", std::string(key.code)},
                              {"caller", std::string(key.caller)}}),
      &durations_family_->Add({{"method", std::string(key.method)}}, buckets_),
  };
  series_.try_emplace(Key{std::string(key.method), std::string(key.code),
                          std::string(key.caller)},
                      series);
  return series;
}

}  // namespace wxtoken::server
