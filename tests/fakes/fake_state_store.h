#ifndef WXTOKEN_TESTS_FAKES_FAKE_STATE_STORE_H_
#define WXTOKEN_TESTS_FAKES_FAKE_STATE_STORE_H_

#include <deque>
#include <map>
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
  void Write(AppRecord record, WriteDone done) override {
    pending_.push_back({std::move(record), std::move(done)});
  }

  size_t pending() const { return pending_.size(); }
  // Completes the oldest pending write; OK makes it durable.
  void CompleteOne(absl::Status status = absl::OkStatus()) {
    auto [record, done] = std::move(pending_.front());
    pending_.pop_front();
    if (status.ok()) durable[record.app_id] = record;
    ++writes;
    done(status);
  }
  // Completes every pending write, including those the completions make.
  void CompleteAll(absl::Status status = absl::OkStatus()) {
    while (!pending_.empty()) CompleteOne(status);
  }

  std::map<std::string, AppRecord> durable;
  int writes = 0;

 private:
  std::deque<std::pair<AppRecord, WriteDone>> pending_;
};

}  // namespace wxtoken::server::testing

#endif  // WXTOKEN_TESTS_FAKES_FAKE_STATE_STORE_H_
