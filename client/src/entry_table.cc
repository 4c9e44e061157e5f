#include "client/src/entry_table.h"

#include <string>

#include "absl/hash/hash.h"

namespace wxtoken::client_internal {

EntryTable::Node::Node(absl::string_view app_id, TokenKind kind,
                       const EntryContext* context, Node* next)
    : entry(std::string(app_id), kind, context), next(next) {}

EntryTable::EntryTable(const EntryContext* context) : context_(context) {}

TokenEntry& EntryTable::FindOrCreate(absl::string_view app_id, TokenKind kind) {
  std::atomic<Node*>& bucket =
      buckets_[absl::HashOf(app_id, static_cast<int>(kind)) % kBuckets];
  if (TokenEntry* entry =
          FindIn(bucket.load(std::memory_order_acquire), app_id, kind)) {
    return *entry;
  }
  absl::MutexLock lock(&insert_mu_);
  // Another thread may have created it since the lock-free look.
  Node* head = bucket.load(std::memory_order_relaxed);
  if (TokenEntry* entry = FindIn(head, app_id, kind)) return *entry;
  nodes_.push_back(std::make_unique<Node>(app_id, kind, context_, head));
  bucket.store(nodes_.back().get(), std::memory_order_release);
  return nodes_.back()->entry;
}

TokenEntry* EntryTable::FindIn(Node* head, absl::string_view app_id,
                               TokenKind kind) {
  for (Node* node = head; node != nullptr; node = node->next) {
    if (node->entry.kind() == kind && node->entry.app_id() == app_id) {
      return &node->entry;
    }
  }
  return nullptr;
}

}  // namespace wxtoken::client_internal
