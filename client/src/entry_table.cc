#include "client/src/entry_table.h"

#include <cstdint>
#include <cstring>
#include <string>

namespace wxtoken::client_internal {
namespace {

// Every GetToken hashes its app_id, so the hash is inlined: a multiply and
// fold per eight bytes. absl::Hash, a call into a shared library, cost
// several times the rest of the lookup. Only the spread matters: a
// collision costs one more comparison, never a wrong entry.
size_t BucketOf(absl::string_view app_id, TokenKind kind, size_t buckets) {
  constexpr uint64_t kMultiplier = 0x9e3779b97f4a7c15;  // 2^64 / golden ratio
  auto mix = [](uint64_t hash, uint64_t word) {
    hash = (hash ^ word) * kMultiplier;
    return hash ^ (hash >> 29);
  };
  uint64_t hash = mix(app_id.size(), static_cast<uint64_t>(kind));
  size_t i = 0;
  for (; i + 8 <= app_id.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, app_id.data() + i, sizeof(word));
    hash = mix(hash, word);
  }
  uint64_t tail = 0;
  for (; i < app_id.size(); ++i) {
    tail = (tail << 8) | static_cast<uint8_t>(app_id[i]);
  }
  return mix(hash, tail) % buckets;
}

}  // namespace

EntryTable::Node::Node(absl::string_view app_id, TokenKind kind,
                       const EntryContext* context, Node* next)
    : entry(std::string(app_id), kind, context), next(next) {}

EntryTable::EntryTable(const EntryContext* context) : context_(context) {}

TokenEntry& EntryTable::FindOrCreate(absl::string_view app_id, TokenKind kind) {
  std::atomic<Node*>& bucket = buckets_[BucketOf(app_id, kind, kBuckets)];
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
