#include "server/token/token_watch_hub.h"

#include <algorithm>

namespace wxtoken::server {

TokenWatchHub::TokenWatchHub(const TokenTable& table, const Clock& clock,
                             Options options)
    : table_(table), clock_(clock), options_(options) {}

TokenWatchHub::~TokenWatchHub() { Stop(); }

absl::StatusOr<uint64_t> TokenWatchHub::Watch(
    absl::string_view app_id, TokenKind kind,
    std::shared_ptr<TokenWatcher> watcher) {
  if (absl::Status known = table_.CheckKnown(app_id, kind); !known.ok()) {
    return known;
  }
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return *shut_down_;
    const SteadyTime now = clock_.SteadyNow();
    EntryKey key(std::string(app_id), kind);
    std::unique_ptr<Entry>& entry = entries_[key];
    if (entry == nullptr) {
      entry = std::make_unique<Entry>();
      entry->key = std::move(key);
      resends_.Set(entry.get(),
                   ResendAt(entry->key, now + options_.resend_interval, now));
    }
    // Its end may come before anything the hub's thread waits for.
    wake_ = true;
    id = next_id_++;
    auto stream = std::make_unique<Stream>(Stream{id, entry.get(), watcher});
    const double jitter = absl::Uniform(jitter_, 0.9, 1.1);
    ends_.Set(stream.get(), now + options_.max_stream_age * jitter);
    entry->streams.insert(stream.get());
    streams_[id] = std::move(stream);
  }
  // Registered first, read second: a change published in between is
  // notified again, never missed.
  watcher->Notify(/*resend=*/false);
  return id;
}

void TokenWatchHub::Unwatch(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(id);
  if (it != streams_.end()) RemoveStream(it->second.get());
}

void TokenWatchHub::RemoveStream(Stream* stream) {
  Entry* entry = stream->entry;
  entry->streams.erase(stream);
  ends_.Clear(stream);
  if (entry->streams.empty()) {
    resends_.Clear(entry);
    const EntryKey key = entry->key;  // erase() destroys the entry
    changed_.erase(key);
    entries_.erase(key);
  }
  streams_.erase(stream->id);
}

void TokenWatchHub::OnPublished(absl::string_view app_id, TokenKind kind) {
  absl::MutexLock lock(&mu_);
  EntryKey key(std::string(app_id), kind);
  if (entries_.contains(key)) changed_.insert(std::move(key));
}

void TokenWatchHub::CollectEntry(Entry& entry, Delivery::Kind kind,
                                 SteadyTime now, std::vector<Delivery>& out) {
  for (Stream* stream : entry.streams) out.push_back({stream->watcher, kind});
  resends_.Set(&entry, ResendAt(entry.key,
                                kind == Delivery::Kind::kResend
                                    ? now + options_.resend_interval
                                    : resends_.When(&entry),
                                now));
}

SteadyTime TokenWatchHub::ResendAt(const EntryKey& key, SteadyTime renew_at,
                                   SteadyTime now) const {
  // A validity that ends before the renewal ends then, and the streams
  // learn of it then.
  absl::StatusOr<Token> current = table_.Get(key.first, key.second, now);
  return current.ok() ? std::min(renew_at, now + current->max_cache) : renew_at;
}

SteadyTime TokenWatchHub::RunDue() {
  const SteadyTime now = clock_.SteadyNow();
  std::vector<Delivery> deliveries;
  SteadyTime next;
  {
    absl::MutexLock lock(&mu_);
    wake_ = false;
    // A renewal tells of a change too: an entry due and changed is
    // notified once.
    absl::flat_hash_set<Entry*> renewed;
    while (Entry* entry = resends_.PopDue(now)) {
      CollectEntry(*entry, Delivery::Kind::kResend, now, deliveries);
      renewed.insert(entry);
    }
    for (const EntryKey& key : changed_) {
      auto it = entries_.find(key);
      if (it != entries_.end() && !renewed.contains(it->second.get())) {
        CollectEntry(*it->second, Delivery::Kind::kChanged, now, deliveries);
      }
    }
    changed_.clear();
    while (Stream* stream = ends_.PopDue(now)) {
      deliveries.push_back({stream->watcher, Delivery::Kind::kEnd});
      RemoveStream(stream);
    }
    next = std::min(resends_.Next(), ends_.Next());
  }
  const absl::Status aged = absl::UnavailableError(
      "the stream reached watch.max_stream_age; watch again");
  for (const Delivery& delivery : deliveries) {
    if (delivery.kind == Delivery::Kind::kEnd) {
      delivery.watcher->End(aged);
    } else {
      delivery.watcher->Notify(delivery.kind == Delivery::Kind::kResend);
    }
  }
  return next;
}

void TokenWatchHub::Start() {
  thread_ = std::thread([this] { Run(); });
}

void TokenWatchHub::Run() {
  SteadyTime next = RunDue();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || wake_ || !changed_.empty();
      };
      const absl::Duration wait = next - clock_.SteadyNow();
      if (wait > absl::ZeroDuration()) {
        mu_.AwaitWithTimeout(absl::Condition(&has_work), wait);
      }
      if (stop_) return;
    }
    next = RunDue();
  }
}

void TokenWatchHub::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void TokenWatchHub::Shutdown(const absl::Status& status) {
  std::vector<std::shared_ptr<TokenWatcher>> ended;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = status;
    for (auto& [id, stream] : streams_) ended.push_back(stream->watcher);
    streams_.clear();
    entries_.clear();
    changed_.clear();
    resends_ = Schedule<Entry>();
    ends_ = Schedule<Stream>();
  }
  for (const auto& watcher : ended) watcher->End(status);
}

void TokenWatchHub::ReauthorizeAll() {
  std::vector<std::shared_ptr<TokenWatcher>> watchers;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, stream] : streams_) watchers.push_back(stream->watcher);
  }
  // Outside the lock: a stream that ends unwatches itself.
  for (const auto& watcher : watchers) watcher->Reauthorize();
}

size_t TokenWatchHub::WatcherCount() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

}  // namespace wxtoken::server
