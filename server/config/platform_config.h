#ifndef WXTOKEN_SERVER_CONFIG_PLATFORM_CONFIG_H_
#define WXTOKEN_SERVER_CONFIG_PLATFORM_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/config/config.h"
#include "server/config/yaml_fields.h"
#include "yaml-cpp/yaml.h"

namespace wxtoken::server::config_yaml {

// `platforms` (DESIGN.md "Third-party platforms"): a list of platforms, each
// with its secret, server token, EncodingAESKey and vault key file. A
// component_app_id is an owner key of its own: it may not repeat, nor be an
// app's app_id. Errors as in yaml_fields.h, never a secret or key.
// The credentials of a platform or suite at `path`: secret, server_token
// and encoding_aes_key (files or environment variables, each required),
// and vault_key_file's text, once it reads as a vault key file
// (base/vault.h).
absl::Status ReadPushedOwnerSecrets(const Entries& entries,
                                    const std::string& path,
                                    PlatformConfig* owner);

absl::Status ParsePlatforms(const YAML::Node& node,
                            const std::vector<AppConfig>& apps,
                            std::vector<PlatformConfig>* platforms);

}  // namespace wxtoken::server::config_yaml

#endif  // WXTOKEN_SERVER_CONFIG_PLATFORM_CONFIG_H_
