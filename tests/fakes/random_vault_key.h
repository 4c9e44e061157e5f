#ifndef WXTOKEN_TESTS_FAKES_RANDOM_VAULT_KEY_H_
#define WXTOKEN_TESTS_FAKES_RANDOM_VAULT_KEY_H_

#include <string>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"

namespace wxtoken::testing {

// A vault key file's text (server/base/vault.h): one random 32-byte key in
// base64, made at test time and never committed.
inline std::string RandomVaultKey() {
  std::string key(32, '\0');
  absl::BitGen random;
  for (char& byte : key) {
    byte = static_cast<char>(absl::Uniform<unsigned>(random, 0, 256));
  }
  return absl::Base64Escape(key) + "\n";
}

}  // namespace wxtoken::testing

#endif  // WXTOKEN_TESTS_FAKES_RANDOM_VAULT_KEY_H_
