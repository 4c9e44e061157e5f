#ifndef WXTOKEN_TESTS_SANDBOX_RANDOM_TOKEN_H_
#define WXTOKEN_TESTS_SANDBOX_RANDOM_TOKEN_H_

#include <string>

#include "absl/random/bit_gen_ref.h"

namespace wxtoken::sandbox {

// A fresh token or ticket value shaped like WeChat's: 128 to 160 characters of
// [A-Za-z0-9_-]. Pure randomness, so no secret can leak through it, and long
// enough that callers which reserve too little room (WeChat says 512) at
// least see varying lengths.
std::string RandomToken(absl::BitGenRef gen);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_RANDOM_TOKEN_H_
