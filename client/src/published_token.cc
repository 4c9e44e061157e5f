#include "client/src/published_token.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

namespace wxtoken::client_internal {
namespace {

// WeChat asks callers to keep at least 512 bytes for an access_token.
constexpr size_t kInitialCapacity = 512;

// Copies the first `size` bytes held in `words` into `out`, a word at a
// time (fixed-size copies compile to plain moves), into the string's own
// storage: once its capacity suffices nothing is allocated, and a string
// already of that size (the same caller's last value) is not even resized.
void CopyWords(const std::atomic<uint64_t>* words, size_t size,
               std::string* out) {
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

}  // namespace

// The orderings are the classic seqlock's (Boehm, "Can seqlocks get along
// with programming language memory models?", 2012): the writer's release
// fence after making the sequence odd and release store making it even; the
// reader's acquire load before copying and acquire fence after.

PublishedToken::Buffer::Buffer(size_t bytes)
    : words((bytes + 7) / 8), data(new std::atomic<uint64_t>[words]()) {}

void PublishedToken::BeginWrite() {
  sequence_.store(sequence_.load(std::memory_order_relaxed) + 1,
                  std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}

void PublishedToken::EndWrite() {
  sequence_.store(sequence_.load(std::memory_order_relaxed) + 1,
                  std::memory_order_release);
}

void PublishedToken::Publish(const Token& token, absl::Time fresh_until) {
  BeginWrite();
  fresh_until_ns_.store(absl::ToUnixNanos(fresh_until),
                        std::memory_order_relaxed);
  expires_at_ns_.store(absl::ToUnixNanos(token.expires_at),
                       std::memory_order_relaxed);
  max_cache_ns_.store(absl::ToInt64Nanoseconds(token.max_cache),
                      std::memory_order_relaxed);
  stale_if_error_ns_.store(absl::ToInt64Nanoseconds(token.stale_if_error),
                           std::memory_order_relaxed);
  fetched_at_ns_.store(absl::ToUnixNanos(token.fetched_at),
                       std::memory_order_relaxed);
  generation_.store(token.generation, std::memory_order_relaxed);
  stale_fallback_.store(token.stale_fallback, std::memory_order_relaxed);
  StoreValue(token.value);
  EndWrite();
}

void PublishedToken::Expire() {
  BeginWrite();
  fresh_until_ns_.store(INT64_MIN, std::memory_order_relaxed);
  EndWrite();
}

void PublishedToken::StoreValue(const std::string& value) {
  if (buffers_.empty() || buffers_.back()->capacity() < value.size()) {
    const size_t capacity =
        buffers_.empty()
            ? std::max(kInitialCapacity, value.size())
            : std::max(2 * buffers_.back()->capacity(), value.size());
    buffers_.push_back(std::make_unique<Buffer>(capacity));
    // Release: a reader that sees the new buffer sees it initialized.
    buffer_.store(buffers_.back().get(), std::memory_order_release);
  }
  const Buffer& buffer = *buffers_.back();
  for (size_t i = 0; i * 8 < value.size(); ++i) {
    uint64_t word = 0;
    std::memcpy(&word, value.data() + i * 8,
                std::min<size_t>(8, value.size() - i * 8));
    buffer.data[i].store(word, std::memory_order_relaxed);
  }
  size_.store(value.size(), std::memory_order_relaxed);
}

bool PublishedToken::ReadIfFresh(int64_t now_ns, Token* out) const {
  while (true) {
    const uint64_t before = sequence_.load(std::memory_order_acquire);
    if (before % 2 == 1) {
      std::this_thread::yield();  // a write is in progress
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
      CopyWords(buffer->data.get(), size, &out->value);
      out->expires_at =
          absl::FromUnixNanos(expires_at_ns_.load(std::memory_order_relaxed));
      out->max_cache =
          absl::Nanoseconds(max_cache_ns_.load(std::memory_order_relaxed));
      out->stale_if_error =
          absl::Nanoseconds(stale_if_error_ns_.load(std::memory_order_relaxed));
      out->fetched_at =
          absl::FromUnixNanos(fetched_at_ns_.load(std::memory_order_relaxed));
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
