#ifndef WXTOKEN_TESTS_FAKES_FAKE_STATE_STORE_H_
#define WXTOKEN_TESTS_FAKES_FAKE_STATE_STORE_H_

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "server/token/state_store.h"

namespace wxtoken::server::testing {

// A store whose writes stay pending until the test completes them, so a
// test sees the engine wait for a durable intent before it sends anything.
// `durable` holds what a restart would load. Single-threaded.
class FakeStateStore final : public StateStore {
 public:
  std::vector<AppRecord> Load() override {
    std::vector<AppRecord> records;
    for (const auto& [app_id, record] : durable) records.push_back(record);
    return records;
  }
  void Write(AppRecord record, WriteMode mode, WriteDone done) override {
    modes.push_back(mode);
    pending_.push_back({std::move(record), std::move(done)});
  }

  // A shared store (replicas): MaySend() says `may_send`, and the engine
  // registers itself as `listener`.
  bool Shared() const override { return shared; }
  bool MaySend(SteadyTime, absl::Duration) const override { return may_send; }
  void SetListener(ReplicaListener* l) override { listener = l; }

  size_t pending() const { return pending_.size(); }
  // Completes the oldest pending write; OK makes it durable.
  void CompleteOne(absl::Status status = absl::OkStatus()) {
    auto [record, done] = std::move(pending_.front());
    pending_.pop_front();
    if (merge_) {
      for (TokenRecord& token : record.tokens) {
        if (token.kind != merge_->first) continue;
        if (!token.intent || merge_->second < *token.intent) {
          token.intent = merge_->second;
        }
      }
      merge_.reset();
    }
    if (status.ok()) durable[record.app_id] = record;
    ++writes;
    if (status.ok()) {
      done(std::move(record));
    } else {
      done(status);
    }
  }
  // The oldest pending write will be stored with this generation for
  // `kind`, as a shared store does when it holds one the writer never saw.
  void AssignGeneration(TokenKind kind, uint64_t generation) {
    for (TokenRecord& token : pending_.front().first.tokens) {
      if (token.kind == kind) token.generation = generation;
    }
  }

  // The oldest pending write will be answered with `intent` merged into
  // `kind`'s as the earliest, as a shared store does when another replica
  // re-wrote an intent there.
  void MergeIntent(TokenKind kind, absl::Time intent) {
    merge_ = {kind, intent};
  }

  // Completes every pending write, including those the completions make.
  void CompleteAll(absl::Status status = absl::OkStatus()) {
    while (!pending_.empty()) CompleteOne(status);
  }

  std::map<std::string, AppRecord> durable;
  int writes = 0;
  bool shared = false;
  bool may_send = true;
  ReplicaListener* listener = nullptr;
  std::vector<WriteMode> modes;  // of every write, in order

 private:
  std::deque<std::pair<AppRecord, WriteDone>> pending_;
  std::optional<std::pair<TokenKind, absl::Time>> merge_;
};

}  // namespace wxtoken::server::testing

#endif  // WXTOKEN_TESTS_FAKES_FAKE_STATE_STORE_H_
