#ifndef WXTOKEN_CLIENT_SRC_SHORT_BYTES_H_
#define WXTOKEN_CLIENT_SRC_SHORT_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

// Hashing and comparing short strings (app_ids: 18 bytes) inline, for the
// cache-hit path, which does both on every call: libc's memcmp and
// absl::Hash are calls into shared libraries that cost more than the work
// itself at these sizes. Strings of 8 bytes or more are read as whole words,
// the last one overlapping the one before it, so there is no byte loop.
namespace wxtoken::client_internal {

inline uint64_t LoadWord(const char* at) {
  uint64_t word;
  std::memcpy(&word, at, sizeof(word));
  return word;
}

// Whether `a` and `b` hold the same bytes.
inline bool SameBytes(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  const size_t size = a.size();
  if (size < 8) return size == 0 || std::memcmp(a.data(), b.data(), size) == 0;
  if (size <= 24) {
    // Three words, without a loop: the first, the middle and the last, which
    // overlap to cover every byte up to 24 (app_ids have 18).
    const size_t middle = (size - 8) / 2;
    const char* x = a.data();
    const char* y = b.data();
    return ((LoadWord(x) ^ LoadWord(y)) |
            (LoadWord(x + middle) ^ LoadWord(y + middle)) |
            (LoadWord(x + size - 8) ^ LoadWord(y + size - 8))) == 0;
  }
  for (size_t i = 0; i + 8 < size; i += 8) {
    if (LoadWord(a.data() + i) != LoadWord(b.data() + i)) return false;
  }
  return LoadWord(a.data() + size - 8) == LoadWord(b.data() + size - 8);
}

// A hash of `bytes` and `seed` for a table of 2^bits buckets: its top bits.
// The words are summed under different rotations, independently of each
// other, and multiplied once (Fibonacci hashing), so the hit path does not
// wait on a chain of multiplications. Only the spread matters: a collision
// costs a comparison, never a wrong answer.
inline size_t BucketOf(absl::string_view bytes, uint64_t seed, int bits) {
  constexpr uint64_t kMultiplier = 0x9e3779b97f4a7c15;  // 2^64 / golden ratio
  const size_t size = bytes.size();
  uint64_t sum = seed ^ (uint64_t{size} << 48);
  if (size < 8) {
    for (size_t i = 0; i < size; ++i) {
      sum = (sum << 8) ^ static_cast<uint8_t>(bytes[i]);
    }
  } else {
    int rotation = 0;
    for (size_t i = 0; i + 8 < size; i += 8, rotation = (rotation + 23) % 64) {
      const uint64_t word = LoadWord(bytes.data() + i);
      sum +=
          rotation == 0 ? word : (word << rotation) | (word >> (64 - rotation));
    }
    sum ^= LoadWord(bytes.data() + size - 8);
  }
  return static_cast<size_t>((sum * kMultiplier) >> (64 - bits));
}

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_SHORT_BYTES_H_
