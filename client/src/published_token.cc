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

}  // namespace

PublishedToken::Buffer::Buffer(size_t bytes)
    : words((bytes + 7) / 8), data(new std::atomic<uint64_t>[words]()) {}

void PublishedToken::WaitForWriter() { std::this_thread::yield(); }

// The writer's side of the seqlock (see the header): a release fence after
// making the sequence odd, a release store making it even.
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
  expires_at_.Store(token.expires_at);
  max_cache_.Store(token.max_cache);
  stale_if_error_.Store(token.stale_if_error);
  fetched_at_.Store(token.fetched_at);
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

}  // namespace wxtoken::client_internal
