#ifndef WXTOKEN_SERVER_STORE_FILE_STATE_STORE_H_
#define WXTOKEN_SERVER_STORE_FILE_STATE_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/token/state_store.h"

namespace wxtoken::server {

// The embedded store (state_dir): one file per app, `<app_id>.json`
// (store/state_file.h), mode 0600, written as temporary file + fsync +
// rename + fsync of the directory, so a crash leaves either the old or the
// new record, never half of one.
//
// Writes run on the store's own thread, so a slow disk delays no refresh;
// whatever piles up meanwhile is written as one batch with one directory
// fsync. Completions are handed to `post` (the refresh worker's Inbox), which
// runs them on the worker's thread. Thread-safe.
class FileStateStore final : public StateStore {
 public:
  using Post = std::function<void(std::function<void()>)>;

  // Creates `dir` (mode 0700) if missing; fails, naming state_dir, if it
  // cannot.
  static absl::StatusOr<std::unique_ptr<FileStateStore>> Open(
      const std::string& dir, Post post);
  // Finishes the writes already made, then stops the thread.
  ~FileStateStore() override;

  std::vector<AppRecord> Load() override;
  // A store of one: both modes replace the record.
  void Write(AppRecord record, WriteMode mode, WriteDone done) override;

 private:
  struct PendingWrite {
    AppRecord record;
    WriteDone done;
  };

  FileStateStore(std::string dir, Post post);
  void Run();
  // Writes the batch; one status per entry.
  std::vector<absl::Status> WriteBatch(const std::vector<PendingWrite>& batch);

  // Constant after construction.
  const std::string dir_;
  const Post post_;

  absl::Mutex mu_;
  std::vector<PendingWrite> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// A store that keeps nothing (state_dir: ""): every write succeeds at once.
class VolatileStateStore final : public StateStore {
 public:
  using Post = FileStateStore::Post;
  explicit VolatileStateStore(Post post) : post_(std::move(post)) {}

  std::vector<AppRecord> Load() override { return {}; }
  void Write(AppRecord record, WriteMode, WriteDone done) override {
    post_([done = std::move(done), record = std::move(record)]() mutable {
      done(std::move(record));
    });
  }

 private:
  const Post post_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_STORE_FILE_STATE_STORE_H_
