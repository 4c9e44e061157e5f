#include "server/config/security_config.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "server/config/yaml_fields.h"

namespace wxtoken::server {
namespace {

using config_yaml::Describe;
using config_yaml::Entries;
using config_yaml::Find;
using config_yaml::GetString;
using config_yaml::IndexPath;
using config_yaml::JoinPath;
using config_yaml::KeyError;
using config_yaml::Quote;
using config_yaml::ReadMap;
using config_yaml::ReadSmallFile;
using config_yaml::ReadString;

using Certificate = std::unique_ptr<X509, decltype(&X509_free)>;
using PrivateKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

// The first certificate, or key, of `pem` as OpenSSL reads it; null when
// it holds none.
Certificate ReadCertificate(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  Certificate certificate(
      bio != nullptr ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)
                     : nullptr,
      X509_free);
  BIO_free(bio);
  ERR_clear_error();
  return certificate;
}
PrivateKey ReadPrivateKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  PrivateKey key(bio != nullptr
                     ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr)
                     : nullptr,
                 EVP_PKEY_free);
  BIO_free(bio);
  ERR_clear_error();
  return key;
}

// Reads entries[key], a file's path, into *out and returns the file; ""
// when the key is absent and not required.
absl::StatusOr<std::string> ReadTlsFile(const Entries& entries,
                                        absl::string_view path,
                                        absl::string_view key, bool required,
                                        std::string* out) {
  const std::string key_path = JoinPath(path, key);
  absl::Status status = ReadString(entries, path, key, out);
  if (!status.ok()) return status;
  if (out->empty()) {
    if (required) return KeyError(key_path, "required");
    return std::string();
  }
  absl::StatusOr<std::string> content = ReadSmallFile(*out);
  if (!content.ok()) {
    return KeyError(key_path, absl::StrCat("cannot read ", Quote(*out), ": ",
                                           content.status().message()));
  }
  return content;
}

absl::Status NoPem(absl::string_view key_path, const std::string& file,
                   absl::string_view what) {
  return KeyError(key_path, absl::StrCat(Quote(file), " holds no PEM ", what));
}

// "*", "dns:NAME", or a URI ("spiffe://trust-domain/path").
bool IsPrincipal(absl::string_view principal) {
  if (principal == "*") return true;
  auto printable = [](absl::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
      return absl::ascii_isgraph(static_cast<unsigned char>(c));
    });
  };
  absl::string_view rest = principal;
  if (absl::ConsumePrefix(&rest, "dns:")) return printable(rest);
  const size_t scheme_end = principal.find("://");
  if (scheme_end == absl::string_view::npos || scheme_end == 0) return false;
  for (char c : principal.substr(0, scheme_end)) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' &&
        c != '-' && c != '.') {
      return false;
    }
  }
  return printable(principal.substr(scheme_end + 3));
}

// A non-empty list of strings, each accepted by `check` (an error message,
// or "" when fine).
absl::Status ReadNames(
    const Entries& entries, absl::string_view path, absl::string_view key,
    const std::function<std::string(const std::string&)>& check,
    std::vector<std::string>* out) {
  const std::string key_path = JoinPath(path, key);
  std::optional<YAML::Node> node = Find(entries, key);
  if (!node) return KeyError(key_path, "required");
  if (!node->IsSequence() || node->size() == 0) {
    return KeyError(key_path, absl::StrCat("expected a non-empty list, got ",
                                           Describe(*node)));
  }
  for (size_t i = 0; i < node->size(); ++i) {
    const std::string item_path = IndexPath(key_path, i);
    absl::StatusOr<std::string> name = GetString((*node)[i], item_path);
    if (!name.ok()) return name.status();
    if (std::string problem = check(*name); !problem.empty()) {
      return KeyError(item_path, problem);
    }
    out->push_back(*std::move(name));
  }
  return absl::OkStatus();
}

std::string CheckMethod(const std::string& method) {
  if (method == "*") return "";
  for (const char* known : kTokenControllerMethods) {
    if (method == known) return "";
  }
  std::string message =
      absl::StrCat("unknown method ", Quote(method), " (TokenController has");
  for (const char* known : kTokenControllerMethods) {
    absl::StrAppend(&message, " ", known);
  }
  return absl::StrCat(message, ", or \"*\")");
}

}  // namespace

absl::Status ParseTls(const YAML::Node& node, TlsConfig* tls) {
  const std::string path = "tls";
  absl::StatusOr<Entries> entries =
      ReadMap(node, path, {"cert_file", "key_file", "client_ca_file"});
  if (!entries.ok()) return entries.status();
  absl::StatusOr<std::string> cert_pem =
      ReadTlsFile(*entries, path, "cert_file", true, &tls->cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  const Certificate certificate = ReadCertificate(*cert_pem);
  if (!certificate) {
    return NoPem(JoinPath(path, "cert_file"), tls->cert_file, "certificate");
  }
  absl::StatusOr<std::string> key_pem =
      ReadTlsFile(*entries, path, "key_file", true, &tls->key_file);
  if (!key_pem.ok()) return key_pem.status();
  const PrivateKey key = ReadPrivateKey(*key_pem);
  if (!key) {
    return NoPem(JoinPath(path, "key_file"), tls->key_file, "private key");
  }
  // A pair that does not match would start a listener every handshake
  // fails on, while health says SERVING.
  if (X509_check_private_key(certificate.get(), key.get()) != 1) {
    ERR_clear_error();
    return KeyError(JoinPath(path, "key_file"),
                    absl::StrCat(Quote(tls->key_file),
                                 " is not the key of tls.cert_file's "
                                 "certificate"));
  }
  absl::StatusOr<std::string> ca_pem = ReadTlsFile(
      *entries, path, "client_ca_file", false, &tls->client_ca_file);
  if (!ca_pem.ok()) return ca_pem.status();
  if (!tls->client_ca_file.empty() && !ReadCertificate(*ca_pem)) {
    return NoPem(JoinPath(path, "client_ca_file"), tls->client_ca_file,
                 "certificate");
  }
  return absl::OkStatus();
}

absl::Status ParseCallers(const YAML::Node& node,
                          const std::optional<TlsConfig>& tls,
                          std::vector<CallerGrant>* callers) {
  const std::string path = "callers";
  if (!tls || tls->client_ca_file.empty()) {
    return KeyError(path,
                    "needs tls.client_ca_file: a caller is known only by its "
                    "client certificate");
  }
  if (!node.IsSequence()) {
    return KeyError(path, absl::StrCat("expected a list (write [] to deny "
                                       "every caller), got ",
                                       Describe(node)));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string entry_path = IndexPath(path, i);
    absl::StatusOr<Entries> entries =
        ReadMap(node[i], entry_path, {"principal", "apps", "methods"});
    if (!entries.ok()) return entries.status();
    CallerGrant grant;
    const std::string principal_path = JoinPath(entry_path, "principal");
    absl::Status status =
        ReadString(*entries, entry_path, "principal", &grant.principal);
    if (!status.ok()) return status;
    if (grant.principal.empty()) return KeyError(principal_path, "required");
    if (!IsPrincipal(grant.principal)) {
      return KeyError(principal_path,
                      absl::StrCat("expected a URI SAN (spiffe://...), "
                                   "\"dns:NAME\" or \"*\", got ",
                                   Quote(grant.principal)));
    }
    for (size_t j = 0; j < callers->size(); ++j) {
      if ((*callers)[j].principal == grant.principal) {
        return KeyError(
            principal_path,
            absl::StrCat("duplicate principal ", Quote(grant.principal),
                         " (also ", IndexPath(path, j), ")"));
      }
    }
    status = ReadNames(
        *entries, entry_path, "apps",
        [](const std::string& app) {
          return app.empty() ? std::string("empty app_id") : std::string();
        },
        &grant.apps);
    if (!status.ok()) return status;
    status =
        ReadNames(*entries, entry_path, "methods", CheckMethod, &grant.methods);
    if (!status.ok()) return status;
    callers->push_back(std::move(grant));
  }
  return absl::OkStatus();
}

absl::Status CheckCallers(const Config& config) {
  if (!config.callers) return absl::OkStatus();
  for (size_t i = 0; i < config.callers->size(); ++i) {
    const CallerGrant& grant = (*config.callers)[i];
    for (size_t j = 0; j < grant.apps.size(); ++j) {
      const std::string& app = grant.apps[j];
      if (app == "*") continue;
      if (absl::EndsWith(app, "/*")) {
        // Every key under a parent owner: a platform's authorizers, a WeCom
        // corp's apps.
        const std::string parent = app.substr(0, app.size() - 2);
        const bool parent_known =
            std::any_of(config.platforms.begin(), config.platforms.end(),
                        [&](const PlatformConfig& platform) {
                          return platform.component_app_id == parent;
                        }) ||
            std::any_of(config.wecom.corps.begin(), config.wecom.corps.end(),
                        [&](const WeComCorpConfig& corp) {
                          return corp.corp_id == parent;
                        });
        if (parent_known) continue;
        return KeyError(
            IndexPath(JoinPath(IndexPath("callers", i), "apps"), j),
            absl::StrCat("no platform or WeCom corp ", Quote(parent),
                         " is configured (", Quote(app),
                         " grants the owners under it)"));
      }
      const bool known = std::any_of(config.apps.begin(), config.apps.end(),
                                     [&](const AppConfig& configured) {
                                       return configured.app_id == app;
                                     });
      if (!known) {
        return KeyError(IndexPath(JoinPath(IndexPath("callers", i), "apps"), j),
                        absl::StrCat("no app ", Quote(app), " is configured"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace wxtoken::server
