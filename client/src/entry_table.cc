#include "client/src/entry_table.h"

#include <string>

#include "client/src/short_bytes.h"

namespace wxtoken::client_internal {

EntryTable::Node::Node(absl::string_view app_id, TokenKind kind,
                       const EntryContext* context, Node* next)
    : entry(std::string(app_id), kind, context), next(next) {}

EntryTable::EntryTable(const EntryContext* context, size_t max_entries)
    : context_(context),
      max_entries_(max_entries),
      serial_(next_serial_.fetch_add(1, std::memory_order_relaxed)) {}

TokenEntry* EntryTable::FindIn(Node* head, absl::string_view app_id,
                               TokenKind kind) {
  for (Node* node = head; node != nullptr; node = node->next) {
    if (node->entry.kind() == kind && SameBytes(node->entry.app_id(), app_id)) {
      return &node->entry;
    }
  }
  return nullptr;
}

TokenEntry* EntryTable::FindAndRemember(absl::string_view app_id,
                                        TokenKind kind) {
  TokenEntry* entry = Find(app_id, kind);
  if (entry != nullptr) last_found_ = {serial_, entry};
  return entry;
}

TokenEntry* EntryTable::Find(absl::string_view app_id, TokenKind kind) {
  std::atomic<Node*>& bucket =
      buckets_[BucketOf(app_id, static_cast<uint64_t>(kind), kBucketBits)];
  if (TokenEntry* entry =
          FindIn(bucket.load(std::memory_order_acquire), app_id, kind)) {
    return entry;
  }
  return Create(bucket, app_id, kind);
}

TokenEntry* EntryTable::Create(std::atomic<Node*>& bucket,
                               absl::string_view app_id, TokenKind kind) {
  absl::MutexLock lock(&insert_mu_);
  // Another thread may have created it since the lock-free look.
  Node* head = bucket.load(std::memory_order_relaxed);
  if (TokenEntry* entry = FindIn(head, app_id, kind)) return entry;
  if (nodes_.size() >= max_entries_) return nullptr;
  nodes_.push_back(std::make_unique<Node>(app_id, kind, context_, head));
  bucket.store(nodes_.back().get(), std::memory_order_release);
  return &nodes_.back()->entry;
}

}  // namespace wxtoken::client_internal
