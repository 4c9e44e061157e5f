#ifndef WXTOKEN_CLIENT_SRC_PUBLISHED_TOKEN_H_
#define WXTOKEN_CLIENT_SRC_PUBLISHED_TOKEN_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "wxtoken/client.h"

namespace wxtoken::client_internal {

// The copy of an entry's token that cache hits read: published by one writer
// at a time and read by any number of threads that never write shared memory,
// so hitting threads do not slow each other down the way a shared lock word
// bouncing between cores would. A sequence lock: the writer makes the
// sequence odd, stores every field, and makes it even again; a reader that
// saw the sequence change while copying retries. Every field, the value's
// bytes included, is an atomic, so racing readers read stale words, never
// undefined ones.
//
// Read is thread-safe. Publish and Expire must be serialized by the caller.
class PublishedToken {
 public:
  PublishedToken() = default;
  PublishedToken(const PublishedToken&) = delete;
  PublishedToken& operator=(const PublishedToken&) = delete;

  // Hits now see `token` until `fresh_until` (app_id and kind are not kept).
  void Publish(const Token& token, absl::Time fresh_until);
  // Hits now see nothing.
  void Expire();

  // Copies the published token, without app_id and kind, into `*out` when
  // `now_ns` (absl::ToUnixNanos of the time) is before its fresh_until,
  // reusing out's string storage: with
  // enough capacity nothing is allocated. False otherwise (and, rarely,
  // when a write races: the caller then takes its slow path, which is
  // always right); `*out` may then be partly overwritten.
  bool ReadIfFresh(int64_t now_ns, Token* out) const;

 private:
  // The value's bytes as words. A buffer is never freed before the
  // PublishedToken, since a reader may still be copying from it; a longer
  // value gets a new buffer at least twice as large, so there are few.
  struct Buffer {
    explicit Buffer(size_t bytes);
    size_t capacity() const { return words * 8; }
    const size_t words;
    const std::unique_ptr<std::atomic<uint64_t>[]> data;
  };

  void StoreValue(const std::string& value);
  // Writer side of the sequence lock.
  void BeginWrite();
  void EndWrite();

  // Odd while a write is in progress.
  std::atomic<uint64_t> sequence_{0};
  std::atomic<int64_t> fresh_until_ns_{INT64_MIN};
  std::atomic<int64_t> expires_at_ns_{0};
  std::atomic<int64_t> max_cache_ns_{0};
  std::atomic<int64_t> stale_if_error_ns_{0};
  std::atomic<int64_t> fetched_at_ns_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stale_fallback_{false};
  std::atomic<size_t> size_{0};
  std::atomic<const Buffer*> buffer_{nullptr};

  // Writer only: every buffer ever published.
  std::vector<std::unique_ptr<Buffer>> buffers_;
};

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_PUBLISHED_TOKEN_H_
