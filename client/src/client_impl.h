#ifndef WXTOKEN_CLIENT_SRC_CLIENT_IMPL_H_
#define WXTOKEN_CLIENT_SRC_CLIENT_IMPL_H_

#include <cstddef>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/src/entry_table.h"
#include "client/src/token_entry.h"
#include "client/src/token_source.h"
#include "wxtoken/client.h"

namespace wxtoken::client_internal {

// The Client behind Client::Create: checks the arguments, finds the entry and
// lets it answer (past max_entries, asks the source uncached). Thread-safe.
class ClientImpl final : public Client {
 public:
  ClientImpl(std::unique_ptr<TokenSource> source,
             std::function<absl::Time()> now, absl::Duration fallback_retry,
             bool watch, size_t max_entries, HitClock hit_clock = {});

  absl::StatusOr<Token> ReportInvalid(absl::string_view app_id, TokenKind kind,
                                      absl::string_view stale_value,
                                      int wechat_errcode) override;

  // For tests: TokenEntry::AwaitWaitersForTesting of (app_id, kind).
  bool AwaitWaitersForTesting(absl::string_view app_id, TokenKind kind,
                              int count, absl::Duration timeout);

 private:
  absl::StatusOr<Token> DoGetToken(absl::string_view app_id,
                                   TokenKind kind) override;
  absl::Status DoGetTokenInto(absl::string_view app_id, TokenKind kind,
                              Token* token) override;

  // Constant after construction; context_ points into source_, and every
  // entry of entries_ to context_.
  const std::unique_ptr<TokenSource> source_;
  const EntryContext context_;
  EntryTable entries_;
};

// Client::Create, returning the concrete type so tests can reach the hooks.
absl::StatusOr<std::unique_ptr<ClientImpl>> NewClientImpl(
    ClientOptions options);

}  // namespace wxtoken::client_internal

#endif  // WXTOKEN_CLIENT_SRC_CLIENT_IMPL_H_
