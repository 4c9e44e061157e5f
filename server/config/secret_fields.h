#ifndef WXTOKEN_SERVER_CONFIG_SECRET_FIELDS_H_
#define WXTOKEN_SERVER_CONFIG_SECRET_FIELDS_H_

// The config's secrets and credential settings, shared by the sections that
// name an owner (apps, platforms): read from files or the environment,
// checked for shape, never echoed. Errors as in yaml_fields.h.

#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/config/config.h"
#include "server/config/yaml_fields.h"
#include "server/token/token.h"
#include "yaml-cpp/yaml.h"

namespace wxtoken::server::config_yaml {

struct Secret {
  std::string value;     // "" when optional and not configured
  std::string key_path;  // the key it came from, for later errors
};

// Reads the secret `name` from `name`_file or `name`_env. Messages name the
// file or variable, never the content.
absl::StatusOr<Secret> ReadSecret(const Entries& entries,
                                  absl::string_view path,
                                  absl::string_view name, bool required);

// A WeChat EncodingAESKey: 43 base64 characters. Says the length, never the
// content.
absl::Status CheckEncodingAesKey(const Secret& key);

// The map at `path` must not give a secret literally ("secret: ..."): the
// error says to use a file or variable, and never echoes the value.
absl::Status RefuseLiteralSecrets(const YAML::Node& node,
                                  absl::string_view path);

// Sets *out from entries[key] when present: a list of ticket types, each
// of `allowed` ("jsapi", "wx_card" for an app), none repeated.
absl::Status ReadTicketKinds(const Entries& entries, absl::string_view path,
                             absl::string_view key, std::vector<TokenKind>* out,
                             std::initializer_list<TokenKind> allowed = {
                                 TokenKind::kJsapiTicket,
                                 TokenKind::kWxCardTicket});

// An owner's callback secrets, each optional: server_token (VerifySignature),
// encoding_aes_key and previous_encoding_aes_key (DecryptMessage); a
// previous key needs a current one.
absl::Status ReadCallbackSecrets(const Entries& entries, absl::string_view path,
                                 AppConfig* app);

}  // namespace wxtoken::server::config_yaml

#endif  // WXTOKEN_SERVER_CONFIG_SECRET_FIELDS_H_
