#ifndef WXTOKEN_CLIENT_SRC_ENTRY_TABLE_H_
#define WXTOKEN_CLIENT_SRC_ENTRY_TABLE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "client/src/token_entry.h"
#include "wxtoken/client.h"

namespace wxtoken::client_internal {

// The TokenEntry of each (app_id, kind), created on first use and kept as long
// as the table, so a reference handed out never dangles. Thread-safe.
//
// Every GetToken looks its entry up, so lookups take no lock: a fixed array of
// buckets, each a list that only ever grows at its head (a release store),
// read with acquire loads. Only creating an entry takes a mutex.
class EntryTable {
 public:
  // `context` must outlive the table.
  explicit EntryTable(const EntryContext* context);
  EntryTable(const EntryTable&) = delete;
  EntryTable& operator=(const EntryTable&) = delete;

  TokenEntry& FindOrCreate(absl::string_view app_id, TokenKind kind)
      ABSL_LOCKS_EXCLUDED(insert_mu_);

 private:
  struct Node {
    Node(absl::string_view app_id, TokenKind kind, const EntryContext* context,
         Node* next);
    TokenEntry entry;
    Node* const next;
  };
  // Enough for a few hundred (app, kind) pairs at about one node a bucket;
  // more only make the lists longer.
  static constexpr size_t kBuckets = 1024;

  static TokenEntry* FindIn(Node* head, absl::string_view app_id,
                            TokenKind kind);

  // Constant after construction.
  const EntryContext* const context_;

  // Read without a lock; written only under insert_mu_.
  std::array<std::atomic<Node*>, kBuckets> buckets_{};

  absl::Mutex insert_mu_;
  // Owns every node of every bucket.
  std::vector<std::unique_ptr<Node>> nodes_ ABSL_GUARDED_BY(insert_mu_);
};

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_ENTRY_TABLE_H_
