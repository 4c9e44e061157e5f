#ifndef WXTOKEN_SERVER_GRPC_CALLER_AUTHORIZER_H_
#define WXTOKEN_SERVER_GRPC_CALLER_AUTHORIZER_H_

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/config/config.h"

namespace wxtoken::server {

// Marks a ForceRefresh one replica forwarded to another, so the receiver
// answers it itself or refuses it, and never forwards it again.
inline constexpr char kForwardedKey[] = "wxtoken-forwarded";

// Whether a grant's `apps` list names the owner key `app_id`: exactly, "*"
// for every owner, or "parent/*" for every key under parent (a platform's
// authorizers, a WeCom corp's apps), never parent itself.
bool GrantNamesApp(const std::vector<std::string>& apps,
                   absl::string_view app_id);

// Who may call what (DESIGN.md "Security"): a caller is the client
// certificate gRPC verified (mTLS), its principal the certificate's first
// URI SAN or else "dns:" + each DNS SAN (never the subject CN), and
// `callers` grants methods on apps. The app_id lives in the request body,
// so the service asks here once it has read it. Thread-safe; constant.
class CallerAuthorizer {
 public:
  // nullopt: no `callers` key, every call is allowed. `replicas`: the
  // principals of this replica's own certificate (replicas share theirs): a
  // call one of them forwarded (kForwardedKey) was authorized where it came
  // in, and is allowed here.
  explicit CallerAuthorizer(std::optional<std::vector<CallerGrant>> callers,
                            std::vector<std::string> replicas = {});

  // The principals of the verified client certificate; empty without one.
  static std::vector<std::string> Principals(const grpc::AuthContext& auth);

  // The rule itself, for any certificate: its first URI SAN, or else "dns:"
  // + each DNS SAN (`uris` and `dns` in the certificate's order).
  static std::vector<std::string> PrincipalsOfNames(
      const std::vector<std::string>& uris,
      const std::vector<std::string>& dns);

  // OK, or PERMISSION_DENIED "<principal> may not call <method> on
  // <app_id>" (logged). `method` is the proto's name ("GetToken").
  absl::Status Check(const grpc::ServerContextBase& context,
                     absl::string_view method, absl::string_view app_id) const;

  // The app entries (ids, "*", "parent/*", as GrantNamesApp reads them)
  // of every grant giving the caller `method`: empty when it may call it
  // on none; nullopt without `callers` (every app).
  std::optional<std::vector<std::string>> AppsFor(
      const grpc::ServerContextBase& context, absl::string_view method) const;

  // The metrics label of the caller, bounded by the config: the principal
  // of the grant it falls under ("*" included), "unlisted" for a principal
  // no grant names, "any" without `callers`.
  std::string CallerLabel(const grpc::ServerContextBase& context) const;

  // The caller as audit lines name it: its principal, "anonymous" without a
  // certificate.
  static std::string Describe(const grpc::ServerContextBase& context);

 private:
  // The grants that apply to a caller with `principals`: those naming one
  // of them, then "*" when it has a certificate.
  std::vector<const CallerGrant*> GrantsFor(
      const std::vector<std::string>& principals, bool has_certificate) const;

  const std::optional<std::vector<CallerGrant>> callers_;
  const std::vector<std::string> replicas_;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_CALLER_AUTHORIZER_H_
