#ifndef WXTOKEN_SERVER_STORE_REDIS_STATE_STORE_H_
#define WXTOKEN_SERVER_STORE_REDIS_STATE_STORE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/config/config.h"
#include "server/store/redis_connection.h"
#include "server/token/state_store.h"

namespace wxtoken::server {

// Who leads a group of replicas, for the gRPC adapters (forwarding
// ForceRefresh, health). Thread-safe.
class LeaderDirectory {
 public:
  virtual ~LeaderDirectory() = default;
  virtual bool IsLeader() const = 0;
  // The leader's store.advertise_address, "" when unknown.
  virtual std::string LeaderAddress() const = 0;
};

// The shared store of replicas (store.redis, DESIGN.md "Replicas"): state
// and the leader lease in one Redis server, or in the master Sentinel
// names. One thread owns the connection: it takes and renews the lease
// (compare-and-extend every lease_ttl / 3), runs the fenced writes and WAITs
// for wait_replicas, and, on a follower, reads what changed (woken by
// pub/sub, polled as a backstop) for the engine. A second thread listens on
// pub/sub. What the engine must learn is posted through `post` (its Inbox).
// Thread-safe.
class RedisStateStore final : public StateStore, public LeaderDirectory {
 public:
  using Post = std::function<void(std::function<void()>)>;

  // `poll_interval`: how often a follower reads at the least.
  // `request_timeout`: how long a request to WeChat may take; a new leader
  // sends nothing before its predecessor's last one has ended.
  RedisStateStore(const RedisConfig& config, std::string advertise_address,
                  absl::Duration poll_interval, absl::Duration request_timeout,
                  const Clock& clock, Post post);
  ~RedisStateStore() override { Close(); }

  // A full read, then starts the threads. Unreachable Redis: nothing.
  std::vector<AppRecord> Load() override;
  void Write(AppRecord record, WriteMode mode, WriteDone done) override;
  bool Shared() const override { return true; }
  bool MaySend(SteadyTime now, absl::Duration duration) const override;
  void SetListener(ReplicaListener* listener) override { listener_ = listener; }
  void SetConfiguredApps(std::vector<std::string> app_ids) override;
  // Stores the pending writes, releases the lease (a successor need not
  // wait out its TTL) and stops the threads. Idempotent.
  void Close() override;

  std::optional<ReplicaStatus> Replica() const override;

  bool IsLeader() const override { return leader_.load(); }
  std::string LeaderAddress() const override;

 private:
  struct PendingWrite {
    AppRecord record;
    WriteMode mode;
    WriteDone done;
  };

  void Run();
  void Listen();
  absl::Status EnsureConnected();
  // Follows Sentinel: a failover moves the master elsewhere (a demoted
  // master also answers writes READONLY, which drops the connection). One
  // Sentinel asked once, every kSentinelCheckInterval.
  void CheckSentinel(SteadyTime now);
  // The master's address, from at most `max_attempts` Sentinels, each
  // asked once (a connect and a command each).
  absl::StatusOr<std::string> AskSentinels(size_t max_attempts);
  void TryAcquire(SteadyTime now);
  void Renew(SteadyTime now);
  void LoseLease(const std::string& why);
  void Poll();
  void RunWrites(std::vector<PendingWrite> writes);
  absl::StatusOr<AppRecord> RunWrite(const PendingWrite& write);
  // Reads what changed since `since` (everything when 0). Returns the
  // records, and whether they are complete (the store reset or first read).
  absl::StatusOr<std::pair<std::vector<AppRecord>, bool>> Read(
      int64_t* version);
  absl::StatusOr<RedisValue> Eval(const char* script,
                                  const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args);
  void Disconnect(const absl::Status& why);
  // Measures Redis's wall clock against ours (ReplicaStatus::clock_offset).
  void CheckClock();
  // The leader publishes its configured apps; a follower compares its own
  // with them (redis_leader_apps.cc).
  void AnnounceApps();
  void CheckLeaderApps();
  // For a complete read that found `version`: whether it follows lost
  // writes (`*after_loss`), and whether intents may be among them.
  bool TakeLoss(int64_t version, bool* after_loss);
  // What a read or renewal that started at `start` confirms
  // (ReplicaListener); `intents_lost`: the store may have lost an intent.
  SteadyTime Confirm(SteadyTime start, bool intents_lost);
  void PostToEngine(std::function<void(ReplicaListener&)> call);

  // Constant after construction.
  const RedisConfig config_;
  const std::string advertise_address_;
  const absl::Duration poll_interval_;
  const absl::Duration handover_wait_;  // before a new leader's first request
  const absl::Duration command_timeout_;
  const Clock& clock_;
  const Post post_;
  const std::string holder_;  // random: this replica in the lease
  const std::string lease_key_, epoch_key_, version_key_, changed_key_,
      app_prefix_, channel_, leader_apps_key_;
  ReplicaListener* listener_ = nullptr;

  // What MaySend() and the adapters read.
  std::atomic<bool> leader_{false};
  std::atomic<int64_t> lease_until_ns_{INT64_MIN};  // steady
  // What Replica() reads.
  std::atomic<int64_t> epoch_{0};
  std::atomic<int64_t> errors_{0};
  std::atomic<int64_t> confirmed_ns_{INT64_MIN};     // steady
  std::atomic<int64_t> clock_offset_ns_{INT64_MIN};  // INT64_MIN: unmeasured

  // The store thread's own.
  std::unique_ptr<RedisConnection> master_;
  std::unique_ptr<RedisConnection> sentinel_;
  std::string lease_value_;
  int64_t known_epoch_ = 0;
  int64_t version_ = 0;         // of the last read on this connection
  int64_t last_version_ = 0;    // of the last poll, across connections
  std::string replication_id_;  // of the master last connected to
  // What a new connection found the store may have lost since the last
  // read: nothing, only writes no WAIT covered (a replica of the master we
  // knew was promoted), or any write.
  enum class Loss { kNone, kUnwaited, kAny };
  Loss loss_ = Loss::kNone;
  // Reads starting before this may miss a record the store lost that is not
  // written back yet: they confirm nothing.
  SteadyTime reconfirm_from_ = SteadyTime::InfinitePast();
  SteadyTime next_lease_step_ = SteadyTime::InfinitePast();
  SteadyTime next_poll_ = SteadyTime::InfinitePast();
  SteadyTime next_sentinel_check_ = SteadyTime::InfinitePast();
  size_t next_sentinel_ = 0;  // the Sentinel a new connection tries first
  SteadyTime next_clock_check_ = SteadyTime::InfinitePast();
  bool clock_apart_ = false;  // the last offset measured was past 1 s
  // The apps of this replica's last OnUnservedApps (none before any).
  std::vector<std::string> unserved_;
  absl::Duration reconnect_delay_ = absl::ZeroDuration();

  mutable absl::Mutex mu_;
  std::deque<PendingWrite> pending_ ABSL_GUARDED_BY(mu_);
  bool read_now_ ABSL_GUARDED_BY(mu_) = false;  // pub/sub saw a change
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string master_address_ ABSL_GUARDED_BY(mu_);
  std::string leader_address_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> configured_apps_ ABSL_GUARDED_BY(mu_);  // sorted
  // The configured apps changed, the lease was taken or the store lost
  // writes: the leader publishes them again.
  bool announce_ ABSL_GUARDED_BY(mu_) = false;
  // The configured apps changed: a follower's next check reports its
  // verdict even when it is the same (the engine made the apps anew).
  bool report_unserved_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar wake_;

  std::thread runner_;
  std::thread listener_thread_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_STORE_REDIS_STATE_STORE_H_
