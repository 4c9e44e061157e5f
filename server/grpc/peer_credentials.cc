#include "server/grpc/peer_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/grpc/caller_authorizer.h"
#include "server/grpc/listener_setup.h"

namespace wxtoken::server {
namespace {

// Accepts the leader only when its (chain-verified) certificate carries one
// of this replica's own principals.
class SelfVerifier final
    : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit SelfVerifier(std::vector<std::string> self)
      : self_(std::move(self)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)>,
              grpc::Status* sync_status) override {
    auto strings = [](const std::vector<grpc::string_ref>& refs) {
      std::vector<std::string> out;
      for (const grpc::string_ref& ref : refs)
        out.emplace_back(ref.data(), ref.size());
      return out;
    };
    const std::vector<std::string> principals =
        CallerAuthorizer::PrincipalsOfNames(strings(request->uri_names()),
                                            strings(request->dns_names()));
    const bool ours = std::any_of(
        principals.begin(), principals.end(), [&](const std::string& p) {
          return std::find(self_.begin(), self_.end(), p) != self_.end();
        });
    *sync_status = ours ? grpc::Status::OK
                        : grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                       "the leader's certificate is not this "
                                       "replica's (another principal)");
    return true;
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {
  }

 private:
  const std::vector<std::string> self_;
};

}  // namespace

absl::StatusOr<std::vector<std::string>> CertificatePrincipals(
    const std::string& pem_file) {
  BIO* bio = BIO_new_file(pem_file.c_str(), "r");
  if (bio == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read \"", pem_file, "\""));
  }
  X509* certificate = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (certificate == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", pem_file, "\" holds no PEM certificate"));
  }
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  std::vector<std::string> uris;
  std::vector<std::string> dns;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI && name->type != GEN_DNS) continue;
    const ASN1_IA5STRING* text = name->type == GEN_URI
                                     ? name->d.uniformResourceIdentifier
                                     : name->d.dNSName;
    std::string value(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
        static_cast<size_t>(ASN1_STRING_length(text)));
    (name->type == GEN_URI ? uris : dns).push_back(std::move(value));
  }
  GENERAL_NAMES_free(names);
  X509_free(certificate);
  return CallerAuthorizer::PrincipalsOfNames(uris, dns);
}

std::shared_ptr<grpc::ChannelCredentials> PeerCredentials(
    const Config& config, std::vector<std::string> self_principals) {
  if (!config.tls) return grpc::InsecureChannelCredentials();
  const TlsConfig& tls = *config.tls;
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          tls.key_file, tls.cert_file, tls.client_ca_file,
          kCertificateRefreshSeconds);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  // The chain is verified against client_ca_file; the name by SelfVerifier.
  options.set_check_call_host(false);
  options.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<SelfVerifier>(
          std::move(self_principals)));
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace wxtoken::server
