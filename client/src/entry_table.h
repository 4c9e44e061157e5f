#ifndef WXTOKEN_CLIENT_SRC_ENTRY_TABLE_H_
#define WXTOKEN_CLIENT_SRC_ENTRY_TABLE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "client/src/short_bytes.h"
#include "client/src/token_entry.h"
#include "wxtoken/client.h"

namespace wxtoken::client_internal {

// The TokenEntry of each (app_id, kind), created on first use and kept as long
// as the table, so a pointer handed out never dangles; at most `max_entries`
// of them, so app_ids a service takes from its own requests cannot grow it
// without bound. Thread-safe.
//
// Every GetToken looks its entry up, so lookups take no lock: a fixed array of
// buckets, each a list that only ever grows at its head (a release store),
// read with acquire loads. Only creating an entry takes a mutex. Before
// hashing, each thread tries the entry it found last (a service mostly asks
// for one app), remembered with the table's serial number: a table later
// made at a freed table's address never takes the old one's entries.
class EntryTable {
 public:
  // `context` must outlive the table.
  EntryTable(const EntryContext* context, size_t max_entries);
  EntryTable(const EntryTable&) = delete;
  EntryTable& operator=(const EntryTable&) = delete;

  // The entry, or null when the table is full and it is none of its
  // entries. Inline: every GetToken runs it, and mostly takes the shortcut.
  TokenEntry* FindOrCreate(absl::string_view app_id, TokenKind kind)
      ABSL_LOCKS_EXCLUDED(insert_mu_) {
    // Only this thread writes last_found_; its entry is alive while its
    // table is, and the table is `this` when the serials match.
    const LastFound& last = last_found_;
    if (last.table_serial == serial_ && last.entry->kind() == kind &&
        SameBytes(last.entry->app_id(), app_id)) {
      return last.entry;
    }
    return FindAndRemember(app_id, kind);
  }

 private:
  // The entry this thread found last, and the serial of its table (0: none).
  struct LastFound {
    uint64_t table_serial;
    TokenEntry* entry;
  };
  // Zero-initialized, and defined here, so that inline code reads it without
  // a call to a thread-local wrapper.
  static inline thread_local LastFound last_found_{};
  // The serials' source. With the same linkage as last_found_: were the
  // library linked twice into one process, both copies would share both or
  // neither, so a serial can never name another copy's table.
  static inline std::atomic<uint64_t> next_serial_{1};

  // FindOrCreate past the shortcut: Find, and remember what it found.
  TokenEntry* FindAndRemember(absl::string_view app_id, TokenKind kind)
      ABSL_LOCKS_EXCLUDED(insert_mu_);

  struct Node {
    Node(absl::string_view app_id, TokenKind kind, const EntryContext* context,
         Node* next);
    TokenEntry entry;
    Node* const next;
  };
  // Enough for a few hundred (app, kind) pairs at about one node a bucket;
  // more only make the lists longer.
  static constexpr int kBucketBits = 10;
  static constexpr size_t kBuckets = size_t{1} << kBucketBits;

  // FindOrCreate without the thread's last entry.
  TokenEntry* Find(absl::string_view app_id, TokenKind kind)
      ABSL_LOCKS_EXCLUDED(insert_mu_);
  static TokenEntry* FindIn(Node* head, absl::string_view app_id,
                            TokenKind kind);
  // FindOrCreate's slow path: creates the entry unless another thread just
  // did, or the table is full.
  TokenEntry* Create(std::atomic<Node*>& bucket, absl::string_view app_id,
                     TokenKind kind) ABSL_LOCKS_EXCLUDED(insert_mu_);

  // Constant after construction.
  const EntryContext* const context_;
  const size_t max_entries_;
  const uint64_t serial_;  // unique in the process, never reused

  // Read without a lock; written only under insert_mu_.
  std::array<std::atomic<Node*>, kBuckets> buckets_{};

  absl::Mutex insert_mu_;
  // Owns every node of every bucket.
  std::vector<std::unique_ptr<Node>> nodes_ ABSL_GUARDED_BY(insert_mu_);
};

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_ENTRY_TABLE_H_
