#include "server/grpc/listener_setup.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace wxtoken::server {
namespace {

// Finishes at once; deletes itself when gRPC is done with it.
class Unimplemented final : public grpc::ServerGenericBidiReactor {
 public:
  explicit Unimplemented(const std::string& method) {
    Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        absl::StrCat(method,
                                     ": health_listen serves "
                                     "grpc.health.v1 only")));
  }
  void OnDone() override { delete this; }
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> ListenerCredentials(
    const Config& config) {
  if (!config.tls) return grpc::InsecureServerCredentials();
  const TlsConfig& tls = *config.tls;
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          tls.key_file, tls.cert_file, tls.client_ca_file,
          kCertificateRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

grpc::ServerGenericBidiReactor* HealthOnlyService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  return new Unimplemented(context->method());
}

void WithoutReflection::UpdatePlugins(
    std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) {
  std::erase_if(*plugins, [](const auto& plugin) {
    return plugin->name() == "proto_server_reflection";
  });
}

}  // namespace wxtoken::server
