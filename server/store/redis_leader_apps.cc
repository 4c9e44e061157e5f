// Which apps the leader refreshes, so that a follower configured with one the
// leader lacks says so rather than serving it until it runs out (an app added
// to some replicas' config only, or a rolling config change that stalled).
#include <algorithm>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/base/log.h"
#include "server/store/redis_scripts.h"
#include "server/store/redis_state_store.h"

namespace wxtoken::server {

void RedisStateStore::SetConfiguredApps(std::vector<std::string> app_ids) {
  std::sort(app_ids.begin(), app_ids.end());
  absl::MutexLock lock(&mu_);
  configured_apps_ = std::move(app_ids);
  announce_ = true;
  report_unserved_ = true;
  wake_.Signal();
}

void RedisStateStore::AnnounceApps() {
  std::string apps;
  {
    absl::MutexLock lock(&mu_);
    if (!announce_) return;
    announce_ = false;
    apps = absl::StrJoin(configured_apps_, " ");
  }
  absl::StatusOr<RedisValue> reply =
      Eval(redis_scripts::kAnnounceApps, {lease_key_, leader_apps_key_},
           {lease_value_, absl::StrCat(epoch_.load()), apps});
  if (!reply.ok()) {
    absl::MutexLock lock(&mu_);
    announce_ = true;  // the next pass tries again
  }
}

void RedisStateStore::CheckLeaderApps() {
  absl::StatusOr<RedisValue> reply =
      master_->Command({"HMGET", leader_apps_key_, "epoch", "apps"});
  if (!reply.ok() || reply->array.size() != 2) return;
  int64_t epoch = 0;
  // Published by an earlier leader, or not yet by this one (or one that
  // does not publish): unknown, nothing is said.
  if (!absl::SimpleAtoi(reply->array[0].string, &epoch) ||
      epoch != epoch_.load()) {
    return;
  }
  std::vector<std::string> leaders =
      absl::StrSplit(reply->array[1].string, ' ', absl::SkipEmpty());
  std::sort(leaders.begin(), leaders.end());
  std::vector<std::string> unserved;
  bool report = false;
  {
    absl::MutexLock lock(&mu_);
    std::set_difference(configured_apps_.begin(), configured_apps_.end(),
                        leaders.begin(), leaders.end(),
                        std::back_inserter(unserved));
    report = report_unserved_;
    report_unserved_ = false;
  }
  const bool changed = unserved != unserved_;
  if (!changed && !report) return;
  unserved_ = unserved;
  if (changed) {
    Log(unserved.empty() ? LogLevel::kInfo : LogLevel::kError,
        unserved.empty()
            ? "the leader refreshes every app configured here"
            : "apps configured here are not configured on the leader: nothing "
              "refreshes them; configure every replica alike",
        {{"apps", absl::StrJoin(unserved, ",")},
         {"leader", LeaderAddress()},
         {"epoch", absl::StrCat(epoch)}});
  }
  PostToEngine(
      [unserved = std::move(unserved)](ReplicaListener& listener) mutable {
        listener.OnUnservedApps(std::move(unserved));
      });
}

}  // namespace wxtoken::server
