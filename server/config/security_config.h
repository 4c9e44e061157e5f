#ifndef WXTOKEN_SERVER_CONFIG_SECURITY_CONFIG_H_
#define WXTOKEN_SERVER_CONFIG_SECURITY_CONFIG_H_

// The `tls` and `callers` sections (DESIGN.md "Security"), for config.cc.

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "server/config/config.h"
#include "yaml-cpp/yaml.h"

namespace wxtoken::server {

// `tls`: cert_file and key_file required, client_ca_file optional; each file
// must be readable and hold PEM now (a broken one later is gRPC's to report
// and keeps the certificate it had).
absl::Status ParseTls(const YAML::Node& node, TlsConfig* tls);

// `callers`: a list of {principal, apps, methods}; principals of a known
// form and not repeated, methods among kTokenControllerMethods. Needs
// tls.client_ca_file: a caller is known only by its certificate.
absl::Status ParseCallers(const YAML::Node& node,
                          const std::optional<TlsConfig>& tls,
                          std::vector<CallerGrant>* callers);

// Once the apps are read: grants name configured apps only.
absl::Status CheckCallers(const Config& config);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_CONFIG_SECURITY_CONFIG_H_
