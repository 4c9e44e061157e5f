#ifndef WXTOKEN_SERVER_GRPC_LISTENER_SETUP_H_
#define WXTOKEN_SERVER_GRPC_LISTENER_SETUP_H_

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/server_builder_option.h>

#include <memory>
#include <vector>

#include "server/config/config.h"

namespace wxtoken::server {

// How often this replica's certificate files are read again (the
// listener's and the ones it forwards with). A renewal reaches new
// connections within this (DESIGN.md: within 5 s of the file change).
inline constexpr unsigned int kCertificateRefreshSeconds = 2;

// The gRPC listener's credentials (DESIGN.md "Security"): plaintext without
// `tls`; else TLS whose certificate files gRPC's file watcher reloads when
// they change (cert-manager renewals, no restart), and with
// tls.client_ca_file client certificates required and verified (mTLS).
std::shared_ptr<grpc::ServerCredentials> ListenerCredentials(
    const Config& config);

// A ServerBuilder option that leaves server reflection out: for
// `reflection: false`, and for health_listen, which serves grpc.health.v1
// and nothing else. (Reflection's plugin is registered for every builder.)
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override;
};

// Answers every method no service registered UNIMPLEMENTED, naming the
// listener: what health_listen registers besides grpc.health.v1 (a server
// needs one service of its own to start).
class HealthOnlyService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_LISTENER_SETUP_H_
