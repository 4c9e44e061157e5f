#ifndef WXTOKEN_SERVER_BASE_VAULT_H_
#define WXTOKEN_SERVER_BASE_VAULT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wxtoken::server {

// Encrypts the credentials no secret can regenerate (a platform's refresh
// tokens, a WeCom suite's permanent codes) before they reach a state file or
// Redis (DESIGN.md "Third-party platforms"): AES-256-GCM with a random
// 96-bit nonce, bound to what the value is (`context`, e.g. the owner key),
// so a sealed value copied to another record does not open.
//
// Keys roll: the first key seals, every key opens, and a sealed value names
// its key's id (the first 4 bytes of the key's SHA-256, hex), so records
// sealed with an older key open while it is still listed. Keys never appear
// in errors or logs. Thread-safe; constant after construction.
class Vault {
 public:
  // Parses a vault key file: one base64 key of 32 bytes per line, the
  // current one first; blank lines and lines starting with '#' are skipped.
  // Errors name the line, never its content.
  static absl::StatusOr<Vault> FromKeyFile(absl::string_view contents);

  // "v1:<key id>:<base64 of nonce, ciphertext and tag>".
  std::string Seal(absl::string_view plaintext,
                   absl::string_view context) const;
  // The plaintext, or an error naming why it does not open (an unknown key
  // id, another context, a damaged value); never the value itself.
  absl::StatusOr<std::string> Open(absl::string_view sealed,
                                   absl::string_view context) const;

  // The id of the key that seals.
  const std::string& current_key_id() const { return keys_.front().id; }

 private:
  struct Key {
    std::string id;
    std::string bytes;  // 32
  };
  explicit Vault(std::vector<Key> keys) : keys_(std::move(keys)) {}

  std::vector<Key> keys_;  // never empty
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_BASE_VAULT_H_
