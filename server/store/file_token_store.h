#ifndef WXTOKEN_SERVER_STORE_FILE_TOKEN_STORE_H_
#define WXTOKEN_SERVER_STORE_FILE_TOKEN_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/store/token_store.h"

namespace wxtoken::server {

// The embedded store: one small JSON file per (app, kind) in state_dir,
// written as temporary file + fsync + rename, mode 0600, so a crash leaves
// either the old or the new file, never half of one. Not thread-safe (the
// refresh worker is its only user).
class FileTokenStore final : public TokenStore {
 public:
  // Creates state_dir (mode 0700) if missing; fails if it cannot.
  static absl::StatusOr<std::unique_ptr<FileTokenStore>> Open(
      const std::string& state_dir);

  std::vector<StoredToken> LoadAll() override;
  absl::Status Save(const StoredToken& credential) override;

 private:
  explicit FileTokenStore(std::string dir) : dir_(std::move(dir)) {}

  const std::string dir_;
};

// The file format, exposed for tests: encode to / decode from JSON text.
std::string EncodeStoredToken(const StoredToken& credential);
absl::StatusOr<StoredToken> DecodeStoredToken(const std::string& text);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_STORE_FILE_TOKEN_STORE_H_
