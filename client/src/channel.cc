// wxtoken::CreateChannel: plaintext, or TLS with certificate files gRPC's
// file watcher reads again, so renewed certificates need no restart.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wxtoken/client.h"

namespace wxtoken {
namespace {

// How often the files are read again (cert-manager renews well ahead).
constexpr unsigned int kCertificateRefreshSeconds = 5;

// OK when `path` can be read and holds PEM `what` ("CERTIFICATE", "PRIVATE
// KEY"); else INVALID_ARGUMENT naming `option` and the path. Checked once
// here: the watcher itself only logs.
absl::Status CheckPemFile(const char* option, const std::string& path,
                          const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::InvalidArgumentError(
        absl::StrCat("TlsOptions.", option, ": cannot read \"", path, "\""));
  }
  const std::string content((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
  if (!absl::StrContains(content, "-----BEGIN ") ||
      !absl::StrContains(content, what)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TlsOptions.", option, ": \"", path, "\" holds no PEM ", what));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const std::string& target, const TlsOptions* tls) {
  if (target.empty()) {
    return absl::InvalidArgumentError("the target (host:port) is empty");
  }
  if (tls == nullptr) {
    return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  }
  if (tls->ca_file.empty()) {
    return absl::InvalidArgumentError(
        "TlsOptions.ca_file: required (the CAs of wxtokend's certificate)");
  }
  if (tls->cert_file.empty() != tls->key_file.empty()) {
    return absl::InvalidArgumentError(
        "TlsOptions: set both cert_file and key_file (mTLS), or neither");
  }
  if (absl::Status s = CheckPemFile("ca_file", tls->ca_file, "CERTIFICATE");
      !s.ok()) {
    return s;
  }
  const bool mtls = !tls->cert_file.empty();
  if (mtls) {
    if (absl::Status s =
            CheckPemFile("cert_file", tls->cert_file, "CERTIFICATE");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckPemFile("key_file", tls->key_file, "PRIVATE KEY");
        !s.ok()) {
      return s;
    }
  }
  auto provider = mtls
                      ? std::make_shared<
                            grpc::experimental::FileWatcherCertificateProvider>(
                            tls->key_file, tls->cert_file, tls->ca_file,
                            kCertificateRefreshSeconds)
                      : std::make_shared<
                            grpc::experimental::FileWatcherCertificateProvider>(
                            tls->ca_file, kCertificateRefreshSeconds);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  if (mtls) options.watch_identity_key_cert_pairs();
  grpc::ChannelArguments arguments;
  if (!tls->server_name.empty()) {
    arguments.SetSslTargetNameOverride(tls->server_name);
  }
  return grpc::CreateCustomChannel(
      target, grpc::experimental::TlsCredentials(options), arguments);
}

}  // namespace wxtoken
