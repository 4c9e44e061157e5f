#include "server/store/redis_state_store.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/base/log.h"
#include "server/store/redis_records.h"
#include "server/store/redis_scripts.h"

namespace wxtoken::server {
namespace {

std::string RandomHolder() {
  absl::BitGen gen;
  return absl::StrCat(
      absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
}

int64_t Nanos(SteadyTime t) {
  return absl::ToInt64Nanoseconds(t - SteadyTime::FromSinceBoot({}));
}

SteadyTime FromNanos(int64_t ns) {
  return SteadyTime::FromSinceBoot(absl::Nanoseconds(ns));
}

int64_t Millis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

// How often the store asks Sentinel where the master is.
constexpr absl::Duration kSentinelCheckInterval = absl::Milliseconds(500);
// The longest wait between attempts to reach Redis.
constexpr absl::Duration kMaxReconnectDelay = absl::Seconds(1);
// How soon a renewal whose answer was lost is tried again.
constexpr absl::Duration kRenewRetry = absl::Milliseconds(100);
// How often the store's clock is compared with ours, and the difference
// past which that is logged: records are ordered by wall-clock fetch times
// across replicas (README "What is guaranteed").
constexpr absl::Duration kClockCheckInterval = absl::Seconds(10);
constexpr absl::Duration kClockOffsetWarning = absl::Seconds(1);

// A field of INFO replication's "key:value" lines; "" if absent.
std::string InfoField(const std::string& info, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(info, '\n')) {
    if (absl::ConsumePrefix(&line, key) && absl::ConsumePrefix(&line, ":")) {
      return std::string(absl::StripAsciiWhitespace(line));
    }
  }
  return "";
}

// "HOLDER EPOCH ADDRESS" -> epoch and address.
void ParseLease(const std::string& value, int64_t* epoch,
                std::string* address) {
  std::vector<std::string> parts =
      absl::StrSplit(value, absl::MaxSplits(' ', 2));
  if (parts.size() >= 2) (void)absl::SimpleAtoi(parts[1], epoch);
  if (parts.size() == 3) *address = parts[2];
}

}  // namespace

RedisStateStore::RedisStateStore(const RedisConfig& config,
                                 std::string advertise_address,
                                 absl::Duration poll_interval,
                                 absl::Duration request_timeout,
                                 const Clock& clock, Post post)
    : config_(config),
      advertise_address_(std::move(advertise_address)),
      poll_interval_(poll_interval),
      // Re-written records land within a poll interval; the predecessor's
      // last request (it may not know yet that it lost the lease: Redis
      // restarted empty) ends within its timeout.
      handover_wait_(
          std::max(poll_interval, request_timeout + config.lease_ttl / 10)),
      // A blocking command must not hold up a renewal for long.
      command_timeout_(std::min(absl::Seconds(1), config.lease_ttl / 5)),
      clock_(clock),
      post_(std::move(post)),
      holder_(RandomHolder()),
      lease_key_(config.key_prefix + "lease"),
      epoch_key_(config.key_prefix + "epoch"),
      version_key_(config.key_prefix + "version"),
      changed_key_(config.key_prefix + "changed"),
      app_prefix_(config.key_prefix + "app:"),
      channel_(config.key_prefix + "changes"),
      leader_apps_key_(config.key_prefix + "leader_apps") {}

void RedisStateStore::Close() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.SignalAll();
  }
  if (listener_thread_.joinable()) listener_thread_.join();
  if (runner_.joinable()) runner_.join();
}

std::string RedisStateStore::LeaderAddress() const {
  absl::MutexLock lock(&mu_);
  return leader_address_;
}

bool RedisStateStore::MaySend(SteadyTime now, absl::Duration duration) const {
  if (!leader_.load()) return false;
  // The lease must outlive the request with a margin: clocks drift, and
  // Redis counts the TTL from when it saw the renewal, not when we sent it.
  const SteadyTime until = FromNanos(lease_until_ns_.load());
  return now + duration + config_.lease_ttl / 10 < until;
}

std::optional<ReplicaStatus> RedisStateStore::Replica() const {
  ReplicaStatus status;
  status.leader = leader_.load();
  status.epoch = epoch_.load();
  status.store_errors = errors_.load();
  const int64_t confirmed = confirmed_ns_.load();
  if (confirmed != INT64_MIN) status.confirmed = FromNanos(confirmed);
  const int64_t offset = clock_offset_ns_.load();
  if (offset != INT64_MIN) status.clock_offset = absl::Nanoseconds(offset);
  return status;
}

void RedisStateStore::PostToEngine(std::function<void(ReplicaListener&)> call) {
  if (listener_ == nullptr) return;
  post_([listener = listener_, call = std::move(call)] { call(*listener); });
}

// ---- Connection
// -------------------------------------------------------------------

absl::StatusOr<std::string> RedisStateStore::AskSentinels(size_t max_attempts) {
  absl::Status last = absl::UnavailableError("no Sentinel configured");
  const size_t attempts = std::min(max_attempts, config_.addresses.size());
  for (size_t attempt = 0; attempt < attempts; ++attempt) {
    if (sentinel_ == nullptr || sentinel_->broken()) {
      // Each attempt is one Sentinel, the one after that of the last.
      sentinel_.reset();
      const std::string& address =
          config_.addresses[next_sentinel_++ % config_.addresses.size()];
      auto connection = RedisConnection::Connect(address, command_timeout_, "");
      if (!connection.ok()) {
        last = connection.status();
        continue;
      }
      sentinel_ = *std::move(connection);
    }
    absl::StatusOr<RedisValue> master = sentinel_->Command(
        {"SENTINEL", "get-master-addr-by-name", config_.master_name});
    if (master.ok() && master->type == RedisValue::Type::kArray &&
        master->array.size() == 2) {
      return absl::StrCat(master->array[0].string, ":",
                          master->array[1].string);
    }
    last = master.ok() ? absl::UnavailableError(absl::StrCat(
                             "Sentinel at ", sentinel_->address(),
                             " knows no master \"", config_.master_name, "\""))
                       : master.status();
    sentinel_.reset();
  }
  return last;
}

void RedisStateStore::CheckSentinel(SteadyTime now) {
  if (config_.master_name.empty() || master_ == nullptr ||
      now < next_sentinel_check_) {
    return;
  }
  next_sentinel_check_ = now + kSentinelCheckInterval;
  absl::StatusOr<std::string> address = AskSentinels(/*max_attempts=*/1);
  // No Sentinel answering says nothing against the master we have.
  if (!address.ok() || *address == master_->address()) return;
  Disconnect(absl::UnavailableError(
      absl::StrCat("Sentinel names another master, ", *address)));
}

absl::Status RedisStateStore::EnsureConnected() {
  if (master_ != nullptr && !master_->broken()) return absl::OkStatus();
  absl::StatusOr<std::string> address =
      config_.master_name.empty() ? config_.addresses[0]
                                  : AskSentinels(config_.addresses.size());
  if (!address.ok()) return address.status();
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
      RedisConnection::Connect(*address, command_timeout_, config_.password);
  if (!connection.ok()) return connection.status();
  // Never write to a demoted master.
  absl::StatusOr<RedisValue> role = (*connection)->Command({"ROLE"});
  if (!role.ok()) return role.status();
  if (role->type != RedisValue::Type::kArray || role->array.empty() ||
      role->array[0].string != "master") {
    return absl::UnavailableError(
        absl::StrCat("Redis at ", *address, " is not a master"));
  }
  // A master's replication id changes when it restarts or is promoted:
  // then writes may have been lost. A promoted replica of the master we
  // knew keeps that master's id as its second one, and every write WAIT
  // counted (wait_replicas covers every replica Sentinel may promote:
  // README "What is guaranteed"): only writes no WAIT covered may be gone.
  // Anything else (a restart, another server) may have lost any write.
  absl::StatusOr<RedisValue> info =
      (*connection)->Command({"INFO", "replication"});
  if (!info.ok()) return info.status();
  const std::string replid = InfoField(info->string, "master_replid");
  if (replid != replication_id_) {
    if (!replication_id_.empty()) {
      const bool promoted =
          config_.wait_replicas > 0 &&
          InfoField(info->string, "master_replid2") == replication_id_;
      loss_ = std::max(loss_, promoted ? Loss::kUnwaited : Loss::kAny);
    }
    replication_id_ = replid;
  }
  master_ = *std::move(connection);
  // What this replica read before may be gone (Redis restarted, perhaps
  // from an older snapshot, or a failover lost writes), and the version
  // counter may have climbed back past ours: the next read is complete.
  version_ = 0;
  // Whatever the lease did meanwhile, learn it now.
  next_lease_step_ = SteadyTime::InfinitePast();
  {
    absl::MutexLock lock(&mu_);
    master_address_ = *address;
  }
  Log(LogLevel::kInfo, "connected to Redis", {{"address", *address}});
  return absl::OkStatus();
}

void RedisStateStore::Disconnect(const absl::Status& why) {
  if (master_ == nullptr) return;
  Log(LogLevel::kWarning, "lost the Redis connection",
      {{"address", master_->address()}, {"error", std::string(why.message())}});
  master_.reset();
}

absl::StatusOr<RedisValue> RedisStateStore::Eval(
    const char* script, const std::vector<std::string>& keys,
    const std::vector<std::string>& args) {
  std::vector<std::string> command = {"EVAL", script,
                                      absl::StrCat(keys.size())};
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), args.begin(), args.end());
  absl::StatusOr<RedisValue> reply = master_->Command(command);
  if (!reply.ok()) errors_.fetch_add(1);
  if (!reply.ok() &&
      (master_->broken() || absl::IsFailedPrecondition(reply.status()))) {
    // Gone, or a replica now (READONLY): find the master again.
    Disconnect(reply.status());
  }
  return reply;
}

// ---- Reads
// -----------------------------------------------------------------------

absl::StatusOr<std::pair<std::vector<AppRecord>, bool>> RedisStateStore::Read(
    int64_t* version) {
  absl::StatusOr<RedisValue> reply =
      Eval(redis_scripts::kRead, {version_key_, changed_key_},
           {absl::StrCat(*version), app_prefix_});
  if (!reply.ok()) return reply.status();
  const std::vector<RedisValue>& out = reply->array;
  if (reply->type != RedisValue::Type::kArray || out.size() < 2) {
    return absl::InternalError("unexpected answer to the read script");
  }
  *version = out[0].integer;
  const bool complete = out[1].integer == 1;
  std::vector<AppRecord> records;
  for (size_t i = 2; i + 1 < out.size(); i += 2) {
    std::vector<std::string> fields;
    for (const RedisValue& field : out[i + 1].array) {
      fields.push_back(field.string);
    }
    absl::StatusOr<AppRecord> record = RedisRecord(out[i].string, fields);
    if (!record.ok()) {
      Log(LogLevel::kWarning, "ignoring an unreadable record in Redis",
          {{"app_id", out[i].string},
           {"error", std::string(record.status().message())}});
      continue;
    }
    records.push_back(*std::move(record));
  }
  return std::make_pair(std::move(records), complete);
}

std::vector<AppRecord> RedisStateStore::Load() {
  std::vector<AppRecord> records;
  const SteadyTime start = clock_.SteadyNow();
  absl::Status status = EnsureConnected();
  if (status.ok()) {
    auto read = Read(&version_);
    if (read.ok()) {
      confirmed_ns_.store(Nanos(start));
      records = std::move(read->first);
    } else {
      status = read.status();
    }
  }
  if (!status.ok()) {
    Log(LogLevel::kError, "cannot read the state from Redis at start",
        {{"error", std::string(status.message())}});
  }
  runner_ = std::thread([this] { Run(); });
  listener_thread_ = std::thread([this] { Listen(); });
  return records;
}

void RedisStateStore::Poll() {
  const SteadyTime start = clock_.SteadyNow();
  auto read = Read(&version_);
  if (!read.ok()) return;
  // A complete read follows a new connection. Whether the store lost writes
  // meanwhile: another master or a restarted one (a new replication id), or
  // a version counter below what this replica read before.
  ReadKind kind = ReadKind::kChanges;
  bool intents_lost = false;
  if (read->second) {
    bool after_loss = false;
    intents_lost = TakeLoss(version_, &after_loss);
    kind = after_loss ? ReadKind::kAfterLoss : ReadKind::kAll;
  }
  last_version_ = version_;
  const SteadyTime confirmed = Confirm(start, intents_lost);
  PostToEngine([records = std::move(read->first), kind, start,
                confirmed](ReplicaListener& listener) mutable {
    listener.OnRecords(std::move(records), kind, start, confirmed);
  });
}

bool RedisStateStore::TakeLoss(int64_t version, bool* after_loss) {
  // A version gone back with no promotion seen: a restart from an older
  // snapshot, a flush.
  const bool went_back = version < last_version_;
  *after_loss = loss_ != Loss::kNone || went_back;
  const bool intents_lost =
      loss_ == Loss::kAny || (went_back && loss_ == Loss::kNone);
  loss_ = Loss::kNone;
  if (*after_loss) {
    // The leader's list of apps may be among what was lost.
    absl::MutexLock lock(&mu_);
    announce_ = true;
  }
  return intents_lost;
}

SteadyTime RedisStateStore::Confirm(SteadyTime start, bool intents_lost) {
  // A write the store lost was made before the loss, perhaps the intent of a
  // request already sent: a read after the loss cannot vouch that nothing
  // was sent since it began. Every replica holding the lost record writes it
  // back at its own first read after the loss, which starts within a poll
  // interval (and a reconnect) of it and ends with a write; a read that
  // starts after that confirms again. Until then the copy stays confirmed as
  // of the last read before the loss.
  if (intents_lost) {
    // Each replica's first read after the loss starts within a poll
    // interval, a reconnect back-off and a Sentinel check of it; its
    // connect, read and write-back (with WAIT) take a command timeout each.
    reconfirm_from_ = std::max(
        reconfirm_from_, start + poll_interval_ + kMaxReconnectDelay +
                             kSentinelCheckInterval + 3 * command_timeout_);
  }
  if (start >= reconfirm_from_) confirmed_ns_.store(Nanos(start));
  const int64_t confirmed = confirmed_ns_.load();
  return confirmed == INT64_MIN ? SteadyTime::InfinitePast()
                                : FromNanos(confirmed);
}

void RedisStateStore::CheckClock() {
  const absl::Time sent = clock_.Now();
  absl::StatusOr<RedisValue> reply = master_->Command({"TIME"});
  const absl::Time received = clock_.Now();
  int64_t seconds = 0, micros = 0;
  if (!reply.ok() || reply->array.size() != 2 ||
      !absl::SimpleAtoi(reply->array[0].string, &seconds) ||
      !absl::SimpleAtoi(reply->array[1].string, &micros)) {
    return;
  }
  // Redis read its clock somewhere in the round trip: within half of it of
  // the middle.
  const absl::Duration offset = absl::FromUnixSeconds(seconds) +
                                absl::Microseconds(micros) -
                                (sent + (received - sent) / 2);
  clock_offset_ns_.store(absl::ToInt64Nanoseconds(offset));
  const bool apart = absl::AbsDuration(offset) > kClockOffsetWarning;
  if (apart == clock_apart_) return;
  clock_apart_ = apart;
  Log(apart ? LogLevel::kWarning : LogLevel::kInfo,
      apart ? "this replica's wall clock and Redis's differ by more than 1 s: "
              "replicas order tokens by their fetch times; check NTP"
            : "this replica's wall clock agrees with Redis's again",
      {{"redis_minus_ours_ms", absl::StrCat(absl::ToInt64Milliseconds(offset))},
       {"round_trip_ms",
        absl::StrCat(absl::ToInt64Milliseconds(received - sent))}});
}

// ---- The lease
// ------------------------------------------------------------------

void RedisStateStore::TryAcquire(SteadyTime now) {
  next_lease_step_ = now + config_.lease_ttl / 3;
  absl::StatusOr<RedisValue> reply =
      Eval(redis_scripts::kAcquire, {lease_key_, epoch_key_},
           {holder_, absl::StrCat(Millis(config_.lease_ttl)),
            advertise_address_, absl::StrCat(known_epoch_)});
  if (!reply.ok() || reply->array.size() != 2) return;
  int64_t epoch = reply->array[0].integer;
  const std::string value = reply->array[1].string;
  std::string address;
  int64_t seen_epoch = 0;
  ParseLease(value, &seen_epoch, &address);
  known_epoch_ = std::max({known_epoch_, seen_epoch, epoch});
  epoch_.store(epoch != 0 ? epoch : seen_epoch);
  {
    absl::MutexLock lock(&mu_);
    leader_address_ = address;
  }
  if (epoch == 0) return;  // someone else's
  lease_value_ = value;
  lease_until_ns_.store(Nanos(now + config_.lease_ttl));
  // What every replica re-wrote after a lost write is in place only after a
  // follower poll, and the predecessor's last request may be in flight:
  // read now (and keep reading), send from handover_wait_ on.
  const SteadyTime read_start = clock_.SteadyNow();
  int64_t version = 0;
  auto read = Read(&version);
  if (!read.ok()) {
    // Without the read it cannot lead: let another replica.
    lease_until_ns_.store(INT64_MIN);
    if (master_ != nullptr) {
      (void)Eval(redis_scripts::kRelease, {lease_key_}, {lease_value_});
    }
    return;
  }
  // The new leader merges all it read (OnLeader): a loss is accounted for,
  // except for what the other replicas have not written back yet.
  bool after_loss = false;
  const bool intents_lost = TakeLoss(version, &after_loss);
  version_ = version;
  last_version_ = version;
  const SteadyTime confirmed = Confirm(read_start, intents_lost);
  leader_.store(true);
  {
    absl::MutexLock lock(&mu_);
    announce_ = true;
  }
  unserved_.clear();  // the engine forgets them as it leads
  Log(LogLevel::kInfo, "took the leader lease",
      {{"epoch", absl::StrCat(epoch)}, {"advertise_address", address}});
  PostToEngine(
      [records = std::move(read->first), epoch, confirmed,
       first = read_start + handover_wait_](ReplicaListener& listener) mutable {
        listener.OnLeader(std::move(records), static_cast<uint64_t>(epoch),
                          confirmed, first);
      });
}

void RedisStateStore::Renew(SteadyTime now) {
  next_lease_step_ = now + config_.lease_ttl / 3;
  absl::StatusOr<RedisValue> reply =
      Eval(redis_scripts::kRenew, {lease_key_},
           {lease_value_, absl::StrCat(Millis(config_.lease_ttl))});
  if (!reply.ok()) {
    // Perhaps renewed, perhaps not: the lease runs out by itself (MaySend()
    // sees it), unless a retry soon gets an answer.
    next_lease_step_ = clock_.SteadyNow() + kRenewRetry;
    if (clock_.SteadyNow() >= FromNanos(lease_until_ns_.load())) {
      LoseLease(std::string(reply.status().message()));
    }
    return;
  }
  if (reply->integer != 1) {
    LoseLease("the lease is someone else's");
    return;
  }
  lease_until_ns_.store(Nanos(now + config_.lease_ttl));
  // On a new connection to a store that lost writes, a renewal (the lease
  // survived) vouches for nothing until the read after it.
  const SteadyTime confirmed = Confirm(now, loss_ == Loss::kAny);
  PostToEngine([confirmed](ReplicaListener& listener) {
    listener.OnConfirmed(confirmed);
  });
}

void RedisStateStore::LoseLease(const std::string& why) {
  lease_until_ns_.store(INT64_MIN);
  if (!leader_.exchange(false)) return;
  Log(LogLevel::kWarning, "lost the leader lease", {{"reason", why}});
  next_poll_ = SteadyTime::InfinitePast();
  PostToEngine([](ReplicaListener& listener) { listener.OnFollower(); });
}

// ---- Writes
// ---------------------------------------------------------------------

void RedisStateStore::Write(AppRecord record, WriteMode mode, WriteDone done) {
  absl::MutexLock lock(&mu_);
  pending_.push_back({std::move(record), mode, std::move(done)});
  wake_.Signal();
}

absl::StatusOr<AppRecord> RedisStateStore::RunWrite(const PendingWrite& write) {
  const bool fenced = write.mode == WriteMode::kLeader;
  if (fenced && !leader_.load()) {
    return absl::FailedPreconditionError(
        "this replica does not hold the leader lease");
  }
  if (master_ == nullptr) return absl::UnavailableError("Redis unreachable");
  std::vector<std::string> args = {fenced ? lease_value_ : "",
                                   write.record.app_id, channel_};
  std::vector<std::string> fields = RedisWriteArgs(write.record);
  args.insert(args.end(), fields.begin(), fields.end());
  absl::StatusOr<RedisValue> reply =
      Eval(redis_scripts::kWrite,
           {lease_key_, app_prefix_ + write.record.app_id, version_key_,
            changed_key_},
           args);
  if (!reply.ok()) {
    if (fenced && absl::StrContains(reply.status().message(), "FENCED")) {
      LoseLease("a write was fenced off");
    }
    return reply.status();
  }
  AppRecord stored = write.record;
  if (reply->array.size() != stored.tokens.size()) {
    return absl::InternalError("unexpected answer to the write script");
  }
  for (size_t i = 0; i < stored.tokens.size(); ++i) {
    std::vector<std::string> fields;
    for (const RedisValue& field : reply->array[i].array) {
      fields.push_back(field.type == RedisValue::Type::kInteger
                           ? absl::StrCat(field.integer)
                           : field.string);
    }
    absl::StatusOr<TokenRecord> token =
        RedisStoredToken(stored.tokens[i].kind, fields);
    if (!token.ok()) return token.status();
    stored.tokens[i] = *std::move(token);
  }
  if (config_.wait_replicas > 0) {
    // An intent that a failover could lose is no intent (and a re-written
    // one is no better).
    // WAIT's own timeout ends before the socket's, so a missing replica
    // is an answer (too few acks), not a broken connection.
    absl::StatusOr<RedisValue> acked = master_->Command(
        {"WAIT", absl::StrCat(config_.wait_replicas),
         absl::StrCat(std::max<int64_t>(1, Millis(command_timeout_) / 2))});
    if (!acked.ok()) return acked.status();
    if (acked->integer < config_.wait_replicas) {
      return absl::UnavailableError(
          absl::StrCat("the write reached ", acked->integer, " of the ",
                       config_.wait_replicas,
                       " Redis replicas store.redis.wait_replicas "
                       "asks for"));
    }
  }
  return stored;
}

void RedisStateStore::RunWrites(std::vector<PendingWrite> writes) {
  for (PendingWrite& write : writes) {
    // Many writes, each waiting for replicas, must not starve the lease.
    const SteadyTime now = clock_.SteadyNow();
    if (leader_.load() && master_ != nullptr && now >= next_lease_step_) {
      Renew(now);
    }
    absl::StatusOr<AppRecord> result = RunWrite(write);
    post_([done = std::move(write.done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  }
}

// ---- The threads
// ----------------------------------------------------------------

void RedisStateStore::Run() {
  while (true) {
    std::vector<PendingWrite> writes;
    bool read_now = false;
    {
      absl::MutexLock lock(&mu_);
      // Stopping still stores what the worker wrote last (its drained
      // answers); each write is bounded by the command timeout.
      if (stopping_ && pending_.empty()) break;
      writes.assign(std::make_move_iterator(pending_.begin()),
                    std::make_move_iterator(pending_.end()));
      pending_.clear();
      read_now = read_now_;
      read_now_ = false;
    }
    const SteadyTime now = clock_.SteadyNow();
    if (absl::Status connected = EnsureConnected(); !connected.ok()) {
      errors_.fetch_add(1);
      if (leader_.load() && now >= FromNanos(lease_until_ns_.load())) {
        LoseLease(std::string(connected.message()));
      }
      RunWrites(std::move(writes));  // each fails: Redis unreachable
      reconnect_delay_ = std::clamp(reconnect_delay_ * 2,
                                    absl::Milliseconds(50), kMaxReconnectDelay);
    } else {
      reconnect_delay_ = absl::ZeroDuration();
      if (now >= next_lease_step_) {
        leader_.load() ? Renew(now) : TryAcquire(now);
      }
      RunWrites(std::move(writes));
      // The leader reads too: what another replica re-wrote after a lost
      // write (an intent it never saw) is the leader's to know.
      if (master_ != nullptr && (read_now || now >= next_poll_)) {
        next_poll_ = now + poll_interval_;
        Poll();
        if (master_ != nullptr && !leader_.load()) CheckLeaderApps();
      }
      if (master_ != nullptr && leader_.load()) AnnounceApps();
      // Last: Sentinels that do not answer delay no renewal, write or
      // read of this pass.
      CheckSentinel(now);
      if (master_ != nullptr && now >= next_clock_check_) {
        next_clock_check_ = now + kClockCheckInterval;
        CheckClock();
      }
    }
    absl::MutexLock lock(&mu_);
    if (stopping_ || !pending_.empty() || read_now_) continue;
    const SteadyTime next = std::min(next_lease_step_, next_poll_);
    absl::Duration wait = std::max(next - clock_.SteadyNow(), reconnect_delay_);
    wake_.WaitWithTimeout(
        &mu_, std::clamp(wait, absl::ZeroDuration(), absl::Seconds(1)));
  }
  // A clean stop: the successor need not wait out the lease.
  if (leader_.load() && master_ != nullptr) {
    (void)Eval(redis_scripts::kRelease, {lease_key_}, {lease_value_});
    leader_.store(false);
    lease_until_ns_.store(INT64_MIN);
  }
}

void RedisStateStore::Listen() {
  std::unique_ptr<RedisConnection> connection;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    std::string address;
    {
      absl::MutexLock lock(&mu_);
      address = master_address_;
    }
    if (connection == nullptr || connection->broken() ||
        connection->address() != address) {
      connection.reset();
      if (address.empty()) {
        absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
      auto connected =
          RedisConnection::Connect(address, command_timeout_, config_.password);
      if (!connected.ok() ||
          !(*connected)->Command({"SUBSCRIBE", channel_}).ok()) {
        absl::SleepFor(absl::Milliseconds(200));
        continue;
      }
      connection = *std::move(connected);
    }
    absl::StatusOr<RedisValue> message =
        connection->NextMessage(absl::Milliseconds(200));
    if (message.ok() && message->type == RedisValue::Type::kArray &&
        !message->array.empty() && message->array[0].string == "message") {
      absl::MutexLock lock(&mu_);
      read_now_ = true;
      wake_.Signal();
    }
  }
}

}  // namespace wxtoken::server
