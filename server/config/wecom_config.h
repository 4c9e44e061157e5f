#ifndef WXTOKEN_SERVER_CONFIG_WECOM_CONFIG_H_
#define WXTOKEN_SERVER_CONFIG_WECOM_CONFIG_H_

#include <vector>

#include "absl/status/status.h"
#include "server/config/config.h"
#include "yaml-cpp/yaml.h"

namespace wxtoken::server::config_yaml {

// `wecom` (DESIGN.md "WeCom"): base_urls and corps, each with its apps
// (`agents`), and providers. Every app becomes an owner "<corp_id>/<agent>"
// appended to `apps` (AppConfig::Api::kWeCom), every provider an owner
// "<corp_id>/provider" (Api::kWeComProvider); none may repeat a key. Errors
// as in yaml_fields.h, never a secret. Every suite becomes a PlatformConfig
// (wecom_suite) appended to `platforms`; its key may not repeat any owner's
// already in `apps`.
absl::Status ParseWeCom(const YAML::Node& node, WeComConfig* wecom,
                        std::vector<AppConfig>* apps,
                        std::vector<PlatformConfig>* platforms);

}  // namespace wxtoken::server::config_yaml

#endif  // WXTOKEN_SERVER_CONFIG_WECOM_CONFIG_H_
