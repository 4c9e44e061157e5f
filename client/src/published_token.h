#ifndef WXTOKEN_CLIENT_SRC_PUBLISHED_TOKEN_H_
#define WXTOKEN_CLIENT_SRC_PUBLISHED_TOKEN_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/time/time.h"
#include "client/src/atomic_duration.h"
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
  // Defined inline below, with what it calls: every cache hit runs it, and
  // on this path the calls' own cost was as large as the copying.
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
  // Copies the first `size` bytes held in `words` into `out`'s own storage.
  static void CopyValue(const std::atomic<uint64_t>* words, size_t size,
                        std::string* out);
  // A reader's pause while a write is in progress; out of line, as rare.
  ABSL_ATTRIBUTE_NOINLINE static void WaitForWriter();
  // Writer side of the sequence lock.
  void BeginWrite();
  void EndWrite();

  // Odd while a write is in progress.
  std::atomic<uint64_t> sequence_{0};
  std::atomic<int64_t> fresh_until_ns_{INT64_MIN};
  AtomicDuration expires_at_;
  AtomicDuration max_cache_;
  AtomicDuration stale_if_error_;
  AtomicDuration fetched_at_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stale_fallback_{false};
  std::atomic<size_t> size_{0};
  std::atomic<const Buffer*> buffer_{nullptr};

  // Writer only: every buffer ever published.
  std::vector<std::unique_ptr<Buffer>> buffers_;
};

// The orderings are the classic seqlock's (Boehm, "Can seqlocks get along
// with programming language memory models?", 2012): the reader's acquire
// load before copying and acquire fence after; the writer's side is in
// published_token.cc.

// A word at a time (fixed-size copies compile to plain moves), into the
// string's own storage: once its capacity suffices nothing is allocated, and a
// string already of that size (the same caller's last value) is not even
// resized.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PublishedToken::CopyValue(
    const std::atomic<uint64_t>* words, size_t size, std::string* out) {
  if (out->size() != size) out->resize(size);
  char* data = out->data();
  const size_t whole = size / 8;
  // Four words an iteration: the loop's own count and branch cost as much as
  // the moving of one word.
  size_t i = 0;
  auto copy_word = [&](size_t at) {
    const uint64_t word = words[at].load(std::memory_order_relaxed);
    std::memcpy(data + at * 8, &word, sizeof(word));
  };
  for (; i + 4 <= whole; i += 4) {
    copy_word(i);
    copy_word(i + 1);
    copy_word(i + 2);
    copy_word(i + 3);
  }
  for (; i < whole; ++i) copy_word(i);
  // The last 1 to 7 bytes in at most three fixed-size copies: a copy of a
  // variable length compiles to a byte loop that cost more than the words.
  if (const size_t rest = size % 8; rest != 0) {
    uint64_t word = words[whole].load(std::memory_order_relaxed);
    char* at = data + whole * 8;
    if (rest & 4) {
      const uint32_t part = static_cast<uint32_t>(word);
      std::memcpy(at, &part, 4);
      at += 4;
      word >>= 32;
    }
    if (rest & 2) {
      const uint16_t part = static_cast<uint16_t>(word);
      std::memcpy(at, &part, 2);
      at += 2;
      word >>= 16;
    }
    if (rest & 1) *at = static_cast<char>(word);
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool PublishedToken::ReadIfFresh(
    int64_t now_ns, Token* out) const {
  while (true) {
    const uint64_t before = sequence_.load(std::memory_order_acquire);
    if (before % 2 == 1) {
      WaitForWriter();
      continue;
    }
    // A torn read here can only cause a miss, which the slow path corrects.
    if (now_ns >= fresh_until_ns_.load(std::memory_order_relaxed)) {
      return false;
    }
    const Buffer* buffer = buffer_.load(std::memory_order_acquire);
    const size_t size = size_.load(std::memory_order_relaxed);
    // Torn (size from a newer write than buffer): the sequence check below
    // fails; never read past the buffer meanwhile.
    if (buffer != nullptr && size <= buffer->capacity()) {
      CopyValue(buffer->data.get(), size, &out->value);
      out->expires_at = expires_at_.LoadTime();
      out->max_cache = max_cache_.LoadDuration();
      out->stale_if_error = stale_if_error_.LoadDuration();
      out->fetched_at = fetched_at_.LoadTime();
      out->generation = generation_.load(std::memory_order_relaxed);
      out->stale_fallback = stale_fallback_.load(std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence_.load(std::memory_order_relaxed) != before) continue;
    // A consistent snapshot that is fresh always has its value.
    return buffer != nullptr && size <= buffer->capacity();
  }
}

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_PUBLISHED_TOKEN_H_
