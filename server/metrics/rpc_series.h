#ifndef WXTOKEN_SERVER_METRICS_RPC_SERIES_H_
#define WXTOKEN_SERVER_METRICS_RPC_SERIES_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wxtoken::server {

// The series every finished RPC adds to: wxtoken_rpc_requests_total{method,
// code,caller} and wxtoken_rpc_duration_seconds{method}. Both are found
// together, in one lookup by the call's label values under a reader lock,
// without building prometheus-cpp
// label maps: Family::Add, per call, allocated a map of strings per series
// and constructed the metric itself (a Histogram and its bucket vectors)
// before finding it already there. The label sets are few (methods x codes x
// configured callers) and their series are never removed, so a pointer, once
// found, stays valid. Thread-safe.
class RpcSeries {
 public:
  // Both families must outlive this.
  RpcSeries(prometheus::Family<prometheus::Counter>* requests,
            prometheus::Family<prometheus::Histogram>* durations,
            prometheus::Histogram::BucketBoundaries buckets);
  RpcSeries(const RpcSeries&) = delete;
  RpcSeries& operator=(const RpcSeries&) = delete;

  void Record(absl::string_view method, absl::string_view code,
              absl::string_view caller, absl::Duration latency)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // A call's label values; looked up as views, so a call copies none.
  struct Key {
    std::string method, code, caller;
  };
  struct KeyView {
    KeyView(absl::string_view method, absl::string_view code,
            absl::string_view caller)
        : method(method), code(code), caller(caller) {}
    KeyView(const Key& key)  // NOLINT: implicit, for heterogeneous lookup
        : method(key.method), code(key.code), caller(key.caller) {}
    absl::string_view method, code, caller;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(KeyView key) const {
      return absl::HashOf(key.method, key.code, key.caller);
    }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(KeyView a, KeyView b) const {
      return a.method == b.method && a.code == b.code && a.caller == b.caller;
    }
  };

  // What a call with one Key adds to.
  struct Series {
    prometheus::Counter* requests;
    prometheus::Histogram* durations;
  };

  Series Find(KeyView key) ABSL_LOCKS_EXCLUDED(mu_);

  prometheus::Family<prometheus::Counter>* const requests_family_;
  prometheus::Family<prometheus::Histogram>* const durations_family_;
  const prometheus::Histogram::BucketBoundaries buckets_;

  absl::Mutex mu_;
  absl::flat_hash_map<Key, Series, KeyHash, KeyEq> series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_METRICS_RPC_SERIES_H_
