#ifndef WXTOKEN_TESTS_E2E_TEST_CERTS_H_
#define WXTOKEN_TESTS_E2E_TEST_CERTS_H_

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>
#include <vector>

namespace wxtoken::testing {

// A certificate and its key, as PEM files.
struct CertFiles {
  std::string cert;
  std::string key;
};

// A throwaway certificate authority made with the openssl command at test
// time (no key is ever committed). ECDSA P-256, valid for a day.
class TestCa {
 public:
  // Makes the CA's key and self-signed certificate under `dir`; ADD_FAILUREs
  // when openssl does.
  TestCa(const std::string& dir, const std::string& name);

  // A leaf certificate signed by this CA, for server and client use, with
  // `sans` as subjectAltName entries ("DNS:wxtokend.test",
  // "URI:spiffe://test/ns/shop/sa/orders"); its files are `name`.crt/.key.
  CertFiles Issue(const std::string& name,
                  const std::vector<std::string>& sans) const;

  const std::string& cert() const { return ca_.cert; }

 private:
  std::string dir_;
  CertFiles ca_;
};

// The whole content of a (small) file; "" if unreadable.
std::string ReadFileText(const std::string& path);

// TLS credentials of a client trusting `ca_file`, presenting `client`'s
// certificate when given (mTLS).
std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(
    const std::string& ca_file, const CertFiles* client = nullptr);

}  // namespace wxtoken::testing

#endif  // WXTOKEN_TESTS_E2E_TEST_CERTS_H_
