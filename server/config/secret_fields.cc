#include "server/config/secret_fields.h"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/wechat/message_crypto.h"

namespace wxtoken::server::config_yaml {
namespace {

constexpr absl::string_view kLiteralSecretKeys[] = {
    "secret", "server_token", "encoding_aes_key", "previous_encoding_aes_key",
    "vault_key"};

}  // namespace

// Reads the secret `name` from `name`_file or `name`_env. Messages name the
// file or variable, never the content.
absl::StatusOr<Secret> ReadSecret(const Entries& entries,
                                  absl::string_view path,
                                  absl::string_view name, bool required) {
  const std::string file_key = absl::StrCat(name, "_file");
  const std::string env_key = absl::StrCat(name, "_env");
  std::optional<YAML::Node> file = Find(entries, file_key);
  std::optional<YAML::Node> env = Find(entries, env_key);
  const std::string file_path = JoinPath(path, file_key);
  if (file && env) {
    return KeyError(
        file_path, absl::StrCat("set only one of ", file_key, " or ", env_key));
  }
  if (!file && !env) {
    if (required) {
      return KeyError(file_path, absl::StrCat("required: set exactly one of ",
                                              file_key, " or ", env_key));
    }
    return Secret{};
  }
  Secret secret;
  if (file) {
    secret.key_path = file_path;
    absl::StatusOr<std::string> filename = GetString(*file, file_path);
    if (!filename.ok()) return filename.status();
    if (filename->empty()) return KeyError(file_path, "empty file name");
    absl::StatusOr<std::string> content = ReadSmallFile(*filename);
    if (!content.ok()) {
      return KeyError(file_path,
                      absl::StrCat("cannot read ", Quote(*filename), ": ",
                                   content.status().message()));
    }
    // Editors and `echo` add a newline; Kubernetes Secrets often keep it.
    secret.value = std::string(absl::StripAsciiWhitespace(*content));
    if (secret.value.empty()) {
      return KeyError(file_path, absl::StrCat(Quote(*filename), " is empty"));
    }
  } else {
    secret.key_path = JoinPath(path, env_key);
    absl::StatusOr<std::string> variable = GetString(*env, secret.key_path);
    if (!variable.ok()) return variable.status();
    if (variable->empty()) {
      return KeyError(secret.key_path, "empty variable name");
    }
    const char* value = std::getenv(variable->c_str());
    if (value != nullptr) {
      secret.value = std::string(absl::StripAsciiWhitespace(value));
    }
    if (secret.value.empty()) {
      return KeyError(secret.key_path,
                      absl::StrCat("environment variable ", Quote(*variable),
                                   " is unset or empty"));
    }
  }
  // None of WeChat's secrets contain whitespace; an inner newline means the
  // wrong file, and it would corrupt the URLs the secret goes into.
  for (char c : secret.value) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c)) {
      return KeyError(secret.key_path,
                      "the value contains whitespace or control characters");
    }
  }
  return secret;
}

absl::Status CheckEncodingAesKey(const Secret& key) {
  const bool base64 = std::all_of(
      key.value.begin(), key.value.end(),
      [](char c) { return absl::ascii_isalnum(c) || c == '+' || c == '/'; });
  if (key.value.size() == kEncodingAesKeyLength && base64) {
    return absl::OkStatus();
  }
  // The length is safe to say; the content is not.
  return KeyError(key.key_path,
                  absl::StrCat("an EncodingAESKey is 43 base64 characters "
                               "(A-Z a-z 0-9 + /); this one has ",
                               key.value.size(), " characters",
                               base64 ? "" : ", some not base64"));
}

absl::Status RefuseLiteralSecrets(const YAML::Node& node,
                                  absl::string_view path) {
  // Checked before the unknown-key check so the message says what to do
  // instead. It must not echo the value: this error goes to the logs.
  if (!node.IsMap()) return absl::OkStatus();
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) continue;
    for (absl::string_view key : kLiteralSecretKeys) {
      if (entry.first.Scalar() == key) {
        return KeyError(JoinPath(path, key),
                        absl::StrCat("literal secrets are not allowed; use ",
                                     key, "_file or ", key, "_env"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ReadTicketKinds(const Entries& entries, absl::string_view path,
                             absl::string_view key, std::vector<TokenKind>* out,
                             std::initializer_list<TokenKind> allowed) {
  const std::optional<YAML::Node> tickets = Find(entries, key);
  if (!tickets) return absl::OkStatus();
  const std::string tickets_path = JoinPath(path, key);
  if (!tickets->IsSequence()) {
    return KeyError(tickets_path,
                    absl::StrCat("expected a list, got ", Describe(*tickets)));
  }
  for (size_t i = 0; i < tickets->size(); ++i) {
    const std::string ticket_path = IndexPath(tickets_path, i);
    absl::StatusOr<std::string> ticket = GetString((*tickets)[i], ticket_path);
    if (!ticket.ok()) return ticket.status();
    const std::optional<TokenKind> kind = TicketKindFromType(*ticket);
    if (!kind ||
        std::find(allowed.begin(), allowed.end(), *kind) == allowed.end()) {
      std::vector<std::string> types;
      for (TokenKind each : allowed) types.push_back(Quote(TicketType(each)));
      return KeyError(ticket_path,
                      absl::StrCat("expected ", absl::StrJoin(types, " or "),
                                   ", got ", Quote(*ticket)));
    }
    if (std::find(out->begin(), out->end(), *kind) != out->end()) {
      return KeyError(ticket_path,
                      absl::StrCat("duplicate ticket ", Quote(*ticket)));
    }
    out->push_back(*kind);
  }
  return absl::OkStatus();
}

absl::Status ReadCallbackSecrets(const Entries& entries, absl::string_view path,
                                 AppConfig* app) {
  absl::StatusOr<Secret> server_token =
      ReadSecret(entries, path, "server_token", false);
  if (!server_token.ok()) return server_token.status();
  app->server_token = std::move(server_token->value);

  for (absl::string_view name :
       {"encoding_aes_key", "previous_encoding_aes_key"}) {
    absl::StatusOr<Secret> key = ReadSecret(entries, path, name, false);
    if (!key.ok()) return key.status();
    if (key->value.empty()) continue;
    if (absl::Status s = CheckEncodingAesKey(*key); !s.ok()) return s;
    (name == "encoding_aes_key" ? app->encoding_aes_key
                                : app->previous_encoding_aes_key) =
        std::move(key->value);
  }
  if (!app->previous_encoding_aes_key.empty() &&
      app->encoding_aes_key.empty()) {
    return KeyError(JoinPath(path, "previous_encoding_aes_key_file"),
                    "needs encoding_aes_key_file or encoding_aes_key_env too");
  }
  return absl::OkStatus();
}

}  // namespace wxtoken::server::config_yaml
