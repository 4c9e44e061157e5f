#ifndef WXTOKEN_SERVER_GRPC_PEER_CREDENTIALS_H_
#define WXTOKEN_SERVER_GRPC_PEER_CREDENTIALS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config/config.h"

namespace wxtoken::server {

// The principals of the certificate in `pem_file` as CallerAuthorizer names
// a caller: its first URI SAN, or else "dns:" + each DNS SAN.
absl::StatusOr<std::vector<std::string>> CertificatePrincipals(
    const std::string& pem_file);

// How replicas reach each other (ForceRefresh forwarded to the leader):
// plaintext without `tls`; else mTLS with this replica's own certificate
// (re-read like the listener's), the leader's chain verified against
// tls.client_ca_file and its certificate required to carry one of
// `self_principals`: replicas of one Deployment share their certificate,
// and the leader is dialled by its pod IP, which no certificate names.
std::shared_ptr<grpc::ChannelCredentials> PeerCredentials(
    const Config& config, std::vector<std::string> self_principals);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_PEER_CREDENTIALS_H_
