#include "tests/sandbox/random_token.h"

#include <cstddef>
#include <string>

#include "absl/random/distributions.h"

namespace wxtoken::sandbox {
namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
constexpr size_t kAlphabetSize = sizeof(kAlphabet) - 1;
constexpr size_t kMinLength = 128;
constexpr size_t kMaxLength = 160;

}  // namespace

std::string RandomToken(absl::BitGenRef gen) {
  const size_t length =
      absl::Uniform<size_t>(absl::IntervalClosed, gen, kMinLength, kMaxLength);
  std::string token(length, '\0');
  for (char& c : token) {
    c = kAlphabet[absl::Uniform<size_t>(gen, 0, kAlphabetSize)];
  }
  return token;
}

}  // namespace wxtoken::sandbox
