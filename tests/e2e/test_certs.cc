#include "tests/e2e/test_certs.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "tests/e2e/child_process.h"

namespace wxtoken::testing {
namespace {

// Runs openssl with `args`; ADD_FAILUREs with its output unless it exits 0.
void OpenSsl(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "/usr/bin/openssl");
  static int runs = 0;
  ChildProcess openssl(args, absl::StrCat(dir, "/openssl.", runs++));
  std::optional<int> status = openssl.WaitForExit(absl::Seconds(30));
  if (status != 0) {
    ADD_FAILURE() << absl::StrJoin(args, " ")
                  << " failed: " << openssl.Stderr();
  }
}

const std::vector<std::string> kNewKey = {
    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};

}  // namespace

TestCa::TestCa(const std::string& dir, const std::string& name) : dir_(dir) {
  ca_ = {absl::StrCat(dir, "/", name, ".crt"),
         absl::StrCat(dir, "/", name, ".key")};
  std::vector<std::string> args = {"req", "-x509"};
  args.insert(args.end(), kNewKey.begin(), kNewKey.end());
  args.insert(args.end(), {"-keyout", ca_.key, "-out", ca_.cert, "-days", "1",
                           "-subj", absl::StrCat("/CN=", name), "-addext",
                           "basicConstraints=critical,CA:TRUE", "-addext",
                           "keyUsage=critical,keyCertSign,cRLSign"});
  OpenSsl(dir_, args);
}

CertFiles TestCa::Issue(const std::string& name,
                        const std::vector<std::string>& sans) const {
  const CertFiles leaf = {absl::StrCat(dir_, "/", name, ".crt"),
                          absl::StrCat(dir_, "/", name, ".key")};
  const std::string csr = absl::StrCat(dir_, "/", name, ".csr");
  const std::string extensions = absl::StrCat(dir_, "/", name, ".ext");
  std::vector<std::string> args = {"req"};
  args.insert(args.end(), kNewKey.begin(), kNewKey.end());
  // The subject CN is never a principal: a test can give it a misleading
  // one.
  args.insert(args.end(), {"-keyout", leaf.key, "-out", csr, "-subj",
                           absl::StrCat("/CN=", name, "-cn")});
  OpenSsl(dir_, args);
  WriteFile(extensions,
            absl::StrCat("basicConstraints=CA:FALSE\n"
                         "keyUsage=critical,digitalSignature\n"
                         "extendedKeyUsage=serverAuth,clientAuth\n",
                         sans.empty()
                             ? ""
                             : absl::StrCat("subjectAltName=",
                                            absl::StrJoin(sans, ","), "\n")));
  OpenSsl(dir_, {"x509", "-req", "-in", csr, "-CA", ca_.cert, "-CAkey", ca_.key,
                 "-CAcreateserial", "-days", "1", "-extfile", extensions,
                 "-out", leaf.cert});
  return leaf;
}

std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(
    const std::string& ca_file, const CertFiles* client) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFileText(ca_file);
  if (client != nullptr) {
    options.pem_cert_chain = ReadFileText(client->cert);
    options.pem_private_key = ReadFileText(client->key);
  }
  return grpc::SslCredentials(options);
}

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace wxtoken::testing
