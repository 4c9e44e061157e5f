#ifndef WXTOKEN_SERVER_STORE_TOKEN_STORE_H_
#define WXTOKEN_SERVER_STORE_TOKEN_STORE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/token/token.h"

namespace wxtoken::server {

// One stored credential: the value, never a secret.
struct StoredToken {
  std::string app_id;
  TokenKind kind = TokenKind::kAccessToken;
  TokenValue value;
};

// Keeps fetched values across restarts so a restart spends no quota. Used by
// the refresh worker's thread only; implementations need not be thread-safe.
class TokenStore {
 public:
  virtual ~TokenStore() = default;

  // Everything readable. Corrupt or foreign entries are reported (logged) and
  // skipped, never fatal.
  virtual std::vector<StoredToken> LoadAll() = 0;

  // Durably replaces the stored value of (app_id, kind).
  virtual absl::Status Save(const StoredToken& credential) = 0;
};

// A store that keeps nothing (state_dir: "").
class NullTokenStore final : public TokenStore {
 public:
  std::vector<StoredToken> LoadAll() override { return {}; }
  absl::Status Save(const StoredToken&) override { return absl::OkStatus(); }
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_STORE_TOKEN_STORE_H_
