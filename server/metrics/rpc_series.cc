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
  Requests(method, code, caller).Increment();
  Durations(method).Observe(absl::ToDoubleSeconds(latency));
}

prometheus::Counter& RpcSeries::Requests(absl::string_view method,
                                         absl::string_view code,
                                         absl::string_view caller) {
  const KeyView key(method, code, caller);
  {
    absl::ReaderMutexLock lock(&mu_);
    if (auto it = requests_.find(key); it != requests_.end()) {
      return *it->second;
    }
  }
  absl::MutexLock lock(&mu_);
  // Family::Add returns the existing series when another thread just added
  // it.
  prometheus::Counter& counter = requests_family_->Add({
      {"method", std::string(method)},
      {"code", std::string(code)},
      {"caller", std::string(caller)},
  });
  requests_.try_emplace(
      Key{std::string(method), std::string(code), std::string(caller)},
      &counter);
  return counter;
}

prometheus::Histogram& RpcSeries::Durations(absl::string_view method) {
  {
    absl::ReaderMutexLock lock(&mu_);
    if (auto it = durations_.find(method); it != durations_.end()) {
      return *it->second;
    }
  }
  absl::MutexLock lock(&mu_);
  prometheus::Histogram& histogram =
      durations_family_->Add({{"method", std::string(method)}}, buckets_);
  durations_.try_emplace(method, &histogram);
  return histogram;
}

}  // namespace wxtoken::server
