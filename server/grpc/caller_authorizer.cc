#include "server/grpc/caller_authorizer.h"

#include <grpc/grpc_security_constants.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/base/log.h"

namespace wxtoken::server {
namespace {

std::vector<std::string> Values(const grpc::AuthContext& auth,
                                const char* property) {
  std::vector<std::string> values;
  for (const grpc::string_ref& value : auth.FindPropertyValues(property)) {
    values.emplace_back(value.data(), value.size());
  }
  return values;
}

// A context outside a call has no auth context: no certificate, no
// principal.
bool HasCertificate(const grpc::AuthContext* auth) {
  return auth != nullptr &&
         !auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME).empty();
}

std::vector<std::string> PrincipalsOf(const grpc::AuthContext* auth) {
  if (auth == nullptr) return {};
  return CallerAuthorizer::Principals(*auth);
}

bool Names(const std::vector<std::string>& names, absl::string_view name) {
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) {
    return n == "*" || n == name;
  });
}

}  // namespace

bool GrantNamesApp(const std::vector<std::string>& apps,
                   absl::string_view app_id) {
  return std::any_of(apps.begin(), apps.end(), [&](const std::string& entry) {
    if (entry == "*" || entry == app_id) return true;
    // "parent/*": every key under parent, never parent itself.
    return absl::EndsWith(entry, "/*") &&
           absl::StartsWith(
               app_id, absl::string_view(entry).substr(0, entry.size() - 1));
  });
}

CallerAuthorizer::CallerAuthorizer(
    std::optional<std::vector<CallerGrant>> callers,
    std::vector<std::string> replicas)
    : callers_(std::move(callers)), replicas_(std::move(replicas)) {}

std::vector<std::string> CallerAuthorizer::Principals(
    const grpc::AuthContext& auth) {
  // gRPC lists the SANs of the certificate it verified, in order.
  return PrincipalsOfNames(Values(auth, GRPC_PEER_URI_PROPERTY_NAME),
                           Values(auth, GRPC_PEER_DNS_PROPERTY_NAME));
}

std::vector<std::string> CallerAuthorizer::PrincipalsOfNames(
    const std::vector<std::string>& uris, const std::vector<std::string>& dns) {
  if (!uris.empty()) return {uris.front()};
  std::vector<std::string> principals;
  for (const std::string& name : dns) {
    principals.push_back(absl::StrCat("dns:", name));
  }
  return principals;
}

std::vector<const CallerGrant*> CallerAuthorizer::GrantsFor(
    const std::vector<std::string>& principals, bool has_certificate) const {
  std::vector<const CallerGrant*> grants;
  const CallerGrant* any = nullptr;
  for (const CallerGrant& grant : *callers_) {
    if (grant.principal == "*") {
      if (has_certificate) any = &grant;
    } else if (std::find(principals.begin(), principals.end(),
                         grant.principal) != principals.end()) {
      grants.push_back(&grant);
    }
  }
  if (any != nullptr) grants.push_back(any);
  return grants;
}

absl::Status CallerAuthorizer::Check(const grpc::ServerContextBase& context,
                                     absl::string_view method,
                                     absl::string_view app_id) const {
  if (!callers_) return absl::OkStatus();
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  const std::vector<std::string> principals = PrincipalsOf(auth.get());
  // Replicas forward ForceRefresh and an idle authorizer's GetToken, each
  // checked where it came in, and platform pushes, each checked by its
  // signature at both replicas. Nothing else: the replicas' certificate
  // reads no own app's token this way.
  const bool forwarded =
      (method == "ForceRefresh" || method == "SubmitPlatformPush" ||
       (method == "GetToken" && app_id.find('/') != absl::string_view::npos)) &&
      context.client_metadata().count(kForwardedKey) > 0;
  if (forwarded && std::any_of(principals.begin(), principals.end(),
                               [&](const std::string& principal) {
                                 return std::find(replicas_.begin(),
                                                  replicas_.end(),
                                                  principal) != replicas_.end();
                               })) {
    return absl::OkStatus();  // checked by the replica it reached first
  }
  for (const CallerGrant* grant :
       GrantsFor(principals, HasCertificate(auth.get()))) {
    if (Names(grant->methods, method) && GrantNamesApp(grant->apps, app_id)) {
      return absl::OkStatus();
    }
  }
  const std::string caller = Describe(context);
  Log(LogLevel::kWarning, "permission denied",
      {{"caller", caller},
       {"method", std::string(method)},
       {"app_id", std::string(app_id)},
       {"peer", context.peer()}});
  return absl::PermissionDeniedError(
      absl::StrCat(caller, " may not call ", method, " on ", app_id));
}

std::optional<std::vector<std::string>> CallerAuthorizer::AppsFor(
    const grpc::ServerContextBase& context, absl::string_view method) const {
  if (!callers_) return std::nullopt;
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  std::vector<std::string> apps;
  for (const CallerGrant* grant :
       GrantsFor(PrincipalsOf(auth.get()), HasCertificate(auth.get()))) {
    if (Names(grant->methods, method)) {
      apps.insert(apps.end(), grant->apps.begin(), grant->apps.end());
    }
  }
  return apps;
}

std::string CallerAuthorizer::CallerLabel(
    const grpc::ServerContextBase& context) const {
  if (!callers_) return "any";
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  std::vector<const CallerGrant*> grants =
      GrantsFor(PrincipalsOf(auth.get()), HasCertificate(auth.get()));
  return grants.empty() ? "unlisted" : grants.front()->principal;
}

std::string CallerAuthorizer::Describe(const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  std::vector<std::string> principals = PrincipalsOf(auth.get());
  if (!principals.empty()) return principals.front();
  return HasCertificate(auth.get()) ? "(a certificate without URI or DNS SAN)"
                                    : "anonymous";
}

}  // namespace wxtoken::server
