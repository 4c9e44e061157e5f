#include "server/config/platform_config.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "server/base/vault.h"
#include "server/config/secret_fields.h"
#include "server/config/yaml_fields.h"
#include "server/wechat/limits.h"

namespace wxtoken::server::config_yaml {
namespace {

// `vault_key_file`: the file's text, once it reads as a vault key file
// (base/vault.h).
absl::Status ReadVaultKeys(const Entries& entries, const std::string& path,
                           std::string* keys) {
  // Several lines (keys roll), so not a one-line secret.
  const std::string vault_path = JoinPath(path, "vault_key_file");
  const std::optional<YAML::Node> vault_node = Find(entries, "vault_key_file");
  if (!vault_node) {
    return KeyError(vault_path,
                    "required: credentials are stored only encrypted "
                    "(openssl rand -base64 32 > FILE)");
  }
  absl::StatusOr<std::string> vault_file = GetString(*vault_node, vault_path);
  if (!vault_file.ok()) return vault_file.status();
  if (vault_file->empty()) return KeyError(vault_path, "empty file name");
  absl::StatusOr<std::string> text = ReadSmallFile(*vault_file);
  if (!text.ok()) {
    return KeyError(vault_path, absl::StrCat("cannot read ", Quote(*vault_file),
                                             ": ", text.status().message()));
  }
  if (absl::StatusOr<Vault> vault = Vault::FromKeyFile(*text); !vault.ok()) {
    return KeyError(vault_path, absl::StrCat(Quote(*vault_file), ": ",
                                             vault.status().message()));
  }
  *keys = *std::move(text);
  return absl::OkStatus();
}

absl::StatusOr<PlatformConfig> ParsePlatform(const YAML::Node& node,
                                             const std::string& path) {
  if (absl::Status literal = RefuseLiteralSecrets(node, path); !literal.ok()) {
    return literal;
  }
  absl::StatusOr<Entries> entries = ReadMap(
      node, path,
      {"component_app_id", "secret_file", "secret_env", "server_token_file",
       "server_token_env", "encoding_aes_key_file", "encoding_aes_key_env",
       "vault_key_file", "authorizer_tickets", "idle_after",
       "reconcile_interval", "daily_budget", "platform_daily_budget"});
  if (!entries.ok()) return entries.status();
  PlatformConfig platform;

  const std::string id_path = JoinPath(path, "component_app_id");
  const std::optional<YAML::Node> id_node = Find(*entries, "component_app_id");
  if (!id_node) return KeyError(id_path, "required");
  absl::StatusOr<std::string> id = GetString(*id_node, id_path);
  if (!id.ok()) return id.status();
  if (!IsWellFormedAppId(*id)) {
    return KeyError(id_path, absl::StrCat("not a WeChat AppID (1 to 32 of "
                                          "A-Z a-z 0-9 _ -): ",
                                          Quote(*id)));
  }
  if (*id == "leader") {
    return KeyError(id_path,
                    "\"leader\" is reserved (the health service "
                    "wxtoken.v1.TokenController/leader)");
  }
  platform.component_app_id = *std::move(id);

  absl::Status status = ReadTicketKinds(*entries, path, "authorizer_tickets",
                                        &platform.authorizer_tickets);
  if (!status.ok()) return status;
  status = ReadDuration(*entries, path, "idle_after", Zero::kRefused,
                        &platform.idle_after);
  if (!status.ok()) return status;
  status = ReadDuration(*entries, path, "reconcile_interval", Zero::kRefused,
                        &platform.reconcile_interval);
  if (!status.ok()) return status;
  status = ReadInt(*entries, path, "daily_budget", 1, &platform.daily_budget);
  if (!status.ok()) return status;
  status = ReadInt(*entries, path, "platform_daily_budget", 0,
                   &platform.platform_daily_budget);
  if (!status.ok()) return status;

  // Secrets last, so a config whose other keys are wrong is reported
  // without touching any.
  status = ReadPushedOwnerSecrets(*entries, path, &platform);
  if (!status.ok()) return status;
  return platform;
}

}  // namespace

absl::Status ReadPushedOwnerSecrets(const Entries& entries,
                                    const std::string& path,
                                    PlatformConfig* owner) {
  absl::StatusOr<Secret> secret = ReadSecret(entries, path, "secret", true);
  if (!secret.ok()) return secret.status();
  owner->secret = std::move(secret->value);
  // Every push is signed and encrypted: both are needed to take any.
  absl::StatusOr<Secret> server_token =
      ReadSecret(entries, path, "server_token", true);
  if (!server_token.ok()) return server_token.status();
  owner->server_token = std::move(server_token->value);
  absl::StatusOr<Secret> aes_key =
      ReadSecret(entries, path, "encoding_aes_key", true);
  if (!aes_key.ok()) return aes_key.status();
  if (absl::Status status = CheckEncodingAesKey(*aes_key); !status.ok()) {
    return status;
  }
  owner->encoding_aes_key = std::move(aes_key->value);
  return ReadVaultKeys(entries, path, &owner->vault_keys);
}

absl::Status ParsePlatforms(const YAML::Node& node,
                            const std::vector<AppConfig>& apps,
                            std::vector<PlatformConfig>* platforms) {
  const std::string path = "platforms";
  if (!node.IsSequence()) {
    return KeyError(path, absl::StrCat("expected a list of platforms, got ",
                                       Describe(node)));
  }
  // Every owner key once: a platform's key and the apps' share one space.
  absl::flat_hash_map<std::string, std::string> owners;
  for (size_t i = 0; i < apps.size(); ++i) {
    owners.emplace(apps[i].app_id, JoinPath(IndexPath("apps", i), "app_id"));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string platform_path = IndexPath(path, i);
    absl::StatusOr<PlatformConfig> platform =
        ParsePlatform(node[i], platform_path);
    if (!platform.ok()) return platform.status();
    const std::string id_path = JoinPath(platform_path, "component_app_id");
    if (auto [it, added] = owners.emplace(platform->component_app_id, id_path);
        !added) {
      return KeyError(id_path, absl::StrCat("duplicate owner ",
                                            Quote(platform->component_app_id),
                                            " (also ", it->second, ")"));
    }
    platforms->push_back(*std::move(platform));
  }
  return absl::OkStatus();
}

}  // namespace wxtoken::server::config_yaml
