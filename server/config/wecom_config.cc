#include "server/config/wecom_config.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "server/config/platform_config.h"
#include "server/config/secret_fields.h"
#include "server/config/yaml_fields.h"
#include "server/wechat/limits.h"

namespace wxtoken::server::config_yaml {
namespace {

// A corp_id or an agent: the characters an owner key's part may have.
absl::StatusOr<std::string> ReadKeyPart(const Entries& entries,
                                        const std::string& path,
                                        absl::string_view key,
                                        absl::string_view what) {
  const std::string part_path = JoinPath(path, key);
  const std::optional<YAML::Node> node = Find(entries, key);
  if (!node) return KeyError(part_path, "required");
  absl::StatusOr<std::string> part = GetString(*node, part_path);
  if (!part.ok()) return part.status();
  if (!IsWellFormedAppId(*part)) {
    return KeyError(part_path, absl::StrCat("not a ", what,
                                            " (1 to 32 of A-Z a-z 0-9 _ -): ",
                                            Quote(*part)));
  }
  return part;
}

// A key made of parts that each fit may still be too long as a whole;
// `part_path` names the part that made it.
absl::Status CheckOwnerKey(const std::string& key,
                           const std::string& part_path) {
  if (IsWellFormedOwnerKey(key)) return absl::OkStatus();
  return KeyError(part_path,
                  absl::StrCat("the owner key ", Quote(key), " is longer than ",
                               kMaxOwnerKeyLength, " bytes"));
}

absl::StatusOr<AppConfig> ParseAgent(const YAML::Node& node,
                                     const std::string& path,
                                     const std::string& corp_id) {
  if (absl::Status literal = RefuseLiteralSecrets(node, path); !literal.ok()) {
    return literal;
  }
  absl::StatusOr<Entries> entries = ReadMap(
      node, path,
      {"agent", "tickets", "secret_file", "secret_env", "server_token_file",
       "server_token_env", "encoding_aes_key_file", "encoding_aes_key_env",
       "previous_encoding_aes_key_file", "previous_encoding_aes_key_env"});
  if (!entries.ok()) return entries.status();
  absl::StatusOr<std::string> agent =
      ReadKeyPart(*entries, path, "agent", "WeCom AgentId or secret name");
  if (!agent.ok()) return agent.status();
  AppConfig app;
  app.app_id = absl::StrCat(corp_id, "/", *agent);
  app.api = AppConfig::Api::kWeCom;
  if (absl::Status key = CheckOwnerKey(app.app_id, JoinPath(path, "agent"));
      !key.ok()) {
    return key;
  }
  if (absl::Status status =
          ReadTicketKinds(*entries, path, "tickets", &app.tickets,
                          {TokenKind::kAgentConfigTicket});
      !status.ok()) {
    return status;
  }
  // Secrets last, so a config whose other keys are wrong is reported
  // without touching any.
  absl::StatusOr<Secret> secret = ReadSecret(*entries, path, "secret", true);
  if (!secret.ok()) return secret.status();
  app.secret = std::move(secret->value);
  if (absl::Status status = ReadCallbackSecrets(*entries, path, &app);
      !status.ok()) {
    return status;
  }
  return app;
}

absl::Status ParseCorp(const YAML::Node& node, const std::string& path,
                       WeComCorpConfig* corp, std::vector<AppConfig>* agents) {
  absl::StatusOr<Entries> entries =
      ReadMap(node, path, {"corp_id", "tickets", "agents"});
  if (!entries.ok()) return entries.status();
  absl::StatusOr<std::string> corp_id =
      ReadKeyPart(*entries, path, "corp_id", "WeCom CorpID");
  if (!corp_id.ok()) return corp_id.status();
  corp->corp_id = *corp_id;
  std::vector<TokenKind> tickets;
  if (absl::Status status = ReadTicketKinds(*entries, path, "tickets", &tickets,
                                            {TokenKind::kJsapiTicket});
      !status.ok()) {
    return status;
  }
  corp->jsapi_ticket = !tickets.empty();

  const std::string agents_path = JoinPath(path, "agents");
  const std::optional<YAML::Node> list = Find(*entries, "agents");
  if (!list) return KeyError(agents_path, "required: the corp's apps");
  if (!list->IsSequence() || list->size() == 0) {
    return KeyError(agents_path, absl::StrCat("expected a list of apps, got ",
                                              Describe(*list)));
  }
  for (size_t i = 0; i < list->size(); ++i) {
    absl::StatusOr<AppConfig> agent =
        ParseAgent((*list)[i], IndexPath(agents_path, i), *corp_id);
    if (!agent.ok()) return agent.status();
    // The corp's one ticket is a slot of its first app, and the others
    // serve it.
    if (corp->jsapi_ticket) {
      if (i == 0) {
        agent->tickets.insert(agent->tickets.begin(), TokenKind::kJsapiTicket);
      } else {
        agent->corp_ticket_from = agents->front().app_id;
      }
    }
    corp->agents.push_back(agent->app_id);
    agents->push_back(*std::move(agent));
  }
  return absl::OkStatus();
}

// A provider: its token is the owner "<corp_id>/provider".
absl::StatusOr<AppConfig> ParseProvider(const YAML::Node& node,
                                        const std::string& path) {
  if (absl::Status literal = RefuseLiteralSecrets(node, path); !literal.ok()) {
    return literal;
  }
  absl::StatusOr<Entries> entries =
      ReadMap(node, path, {"corp_id", "secret_file", "secret_env"});
  if (!entries.ok()) return entries.status();
  absl::StatusOr<std::string> corp_id =
      ReadKeyPart(*entries, path, "corp_id", "WeCom CorpID");
  if (!corp_id.ok()) return corp_id.status();
  AppConfig provider;
  provider.app_id = absl::StrCat(*corp_id, "/provider");
  provider.api = AppConfig::Api::kWeComProvider;
  if (absl::Status key =
          CheckOwnerKey(provider.app_id, JoinPath(path, "corp_id"));
      !key.ok()) {
    return key;
  }
  absl::StatusOr<Secret> secret = ReadSecret(*entries, path, "secret", true);
  if (!secret.ok()) return secret.status();
  provider.secret = std::move(secret->value);
  return provider;
}

// A suite (DESIGN.md "WeCom"): a platform on WeCom's side, whose owner key
// is its suite_id and whose corps are discovered from create_auth pushes.
absl::StatusOr<PlatformConfig> ParseSuite(const YAML::Node& node,
                                          const std::string& path) {
  if (absl::Status literal = RefuseLiteralSecrets(node, path); !literal.ok()) {
    return literal;
  }
  absl::StatusOr<Entries> entries = ReadMap(
      node, path,
      {"suite_id", "secret_file", "secret_env", "server_token_file",
       "server_token_env", "encoding_aes_key_file", "encoding_aes_key_env",
       "vault_key_file", "idle_after", "daily_budget"});
  if (!entries.ok()) return entries.status();
  absl::StatusOr<std::string> suite_id =
      ReadKeyPart(*entries, path, "suite_id", "WeCom SuiteID");
  if (!suite_id.ok()) return suite_id.status();
  if (*suite_id == "leader") {
    return KeyError(JoinPath(path, "suite_id"),
                    "\"leader\" is reserved (the health service "
                    "wxtoken.v1.TokenController/leader)");
  }
  PlatformConfig suite;
  suite.wecom_suite = true;
  suite.component_app_id = *std::move(suite_id);
  absl::Status status = ReadDuration(*entries, path, "idle_after",
                                     Zero::kRefused, &suite.idle_after);
  if (!status.ok()) return status;
  status = ReadInt(*entries, path, "daily_budget", 1, &suite.daily_budget);
  if (!status.ok()) return status;
  // Secrets last, so a config whose other keys are wrong is reported
  // without touching any.
  status = ReadPushedOwnerSecrets(*entries, path, &suite);
  if (!status.ok()) return status;
  return suite;
}

}  // namespace

absl::Status ParseWeCom(const YAML::Node& node, WeComConfig* wecom,
                        std::vector<AppConfig>* apps,
                        std::vector<PlatformConfig>* platforms) {
  const std::string path = "wecom";
  absl::StatusOr<Entries> entries =
      ReadMap(node, path,
              {"base_urls", "corps", "providers", "suites",
               "corp_ticket_hourly_budget", "app_ticket_hourly_budget"});
  if (!entries.ok()) return entries.status();
  absl::Status status =
      ReadBaseUrls(*entries, path, "base_urls", &wecom->base_urls);
  if (!status.ok()) return status;
  // WeCom's own limits are 400 and 100: a budget above them would let
  // wxtokend run into 45009 instead of stopping short of it.
  const struct {
    const char* key;
    int limit;
    int* out;
  } budgets[] = {
      {"corp_ticket_hourly_budget", 400, &wecom->corp_ticket_hourly_budget},
      {"app_ticket_hourly_budget", 100, &wecom->app_ticket_hourly_budget}};
  for (const auto& budget : budgets) {
    status = ReadInt(*entries, path, budget.key, 1, budget.out);
    if (!status.ok()) return status;
    if (*budget.out > budget.limit) {
      return KeyError(
          JoinPath(path, budget.key),
          absl::StrCat("must not exceed WeCom's own limit of ", budget.limit,
                       " an hour, got ", *budget.out));
    }
  }

  // Every owner once: a suite's key has no '/', as those of `apps` and
  // `platforms` (already in `apps`), which it may not repeat.
  absl::flat_hash_map<std::string, std::string> owners;
  for (const AppConfig& app : *apps)
    owners.emplace(app.app_id, "another owner");
  const std::string suites_path = JoinPath(path, "suites");
  if (const std::optional<YAML::Node> suites = Find(*entries, "suites")) {
    if (!suites->IsSequence()) {
      return KeyError(
          suites_path,
          absl::StrCat("expected a list of suites, got ", Describe(*suites)));
    }
    for (size_t i = 0; i < suites->size(); ++i) {
      const std::string suite_path = IndexPath(suites_path, i);
      absl::StatusOr<PlatformConfig> suite =
          ParseSuite((*suites)[i], suite_path);
      if (!suite.ok()) return suite.status();
      const std::string id_path = JoinPath(suite_path, "suite_id");
      if (auto [it, added] = owners.emplace(suite->component_app_id, id_path);
          !added) {
        return KeyError(id_path, absl::StrCat("duplicate owner ",
                                              Quote(suite->component_app_id),
                                              " (also ", it->second, ")"));
      }
      platforms->push_back(*std::move(suite));
    }
  }
  const std::string providers_path = JoinPath(path, "providers");
  if (const std::optional<YAML::Node> providers = Find(*entries, "providers")) {
    if (!providers->IsSequence()) {
      return KeyError(providers_path,
                      absl::StrCat("expected a list of providers, got ",
                                   Describe(*providers)));
    }
    for (size_t i = 0; i < providers->size(); ++i) {
      const std::string provider_path = IndexPath(providers_path, i);
      absl::StatusOr<AppConfig> provider =
          ParseProvider((*providers)[i], provider_path);
      if (!provider.ok()) return provider.status();
      const std::string corp_path = JoinPath(provider_path, "corp_id");
      if (auto [it, added] = owners.emplace(provider->app_id, corp_path);
          !added) {
        return KeyError(corp_path, absl::StrCat("duplicate provider ",
                                                Quote(provider->app_id),
                                                " (also ", it->second, ")"));
      }
      apps->push_back(*std::move(provider));
    }
  }

  const std::string corps_path = JoinPath(path, "corps");
  const std::optional<YAML::Node> corps = Find(*entries, "corps");
  if (!corps) return absl::OkStatus();
  if (!corps->IsSequence()) {
    return KeyError(corps_path, absl::StrCat("expected a list of corps, got ",
                                             Describe(*corps)));
  }
  absl::flat_hash_map<std::string, size_t> corp_ids;
  for (size_t i = 0; i < corps->size(); ++i) {
    const std::string corp_path = IndexPath(corps_path, i);
    WeComCorpConfig corp;
    std::vector<AppConfig> agents;
    status = ParseCorp((*corps)[i], corp_path, &corp, &agents);
    if (!status.ok()) return status;
    if (auto [it, added] = corp_ids.emplace(corp.corp_id, i); !added) {
      return KeyError(
          JoinPath(corp_path, "corp_id"),
          absl::StrCat("duplicate corp ", Quote(corp.corp_id), " (also ",
                       IndexPath(corps_path, it->second), ")"));
    }
    for (size_t j = 0; j < agents.size(); ++j) {
      const std::string agent_path =
          JoinPath(IndexPath(JoinPath(corp_path, "agents"), j), "agent");
      if (auto [it, added] = owners.emplace(agents[j].app_id, agent_path);
          !added) {
        return KeyError(agent_path,
                        absl::StrCat("duplicate app ", Quote(agents[j].app_id),
                                     " (also ", it->second, ")"));
      }
      apps->push_back(std::move(agents[j]));
    }
    wecom->corps.push_back(std::move(corp));
  }
  return absl::OkStatus();
}

}  // namespace wxtoken::server::config_yaml
