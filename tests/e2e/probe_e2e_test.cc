// End-to-end check of deploy/: the gRPC probes Kubernetes runs (port and
// grpc.health.v1 service read from deploy/deployment.yaml) hold against the
// real wxtokend, and the ConfigMap's config is one wxtokend accepts.
// scripts/check-deploy.sh checks the manifests' shape; this checks that they
// fit the server.
#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "server/config/config.h"
#include "tests/e2e/e2e_env.h"
#include "tests/e2e/test_certs.h"

namespace wxtoken::testing {
namespace {

using ::wxtoken::server::Config;
using ::wxtoken::server::ParseConfig;

// WXTOKEN_SOURCE_DIR comes from tests/CMakeLists.txt.
constexpr char kDeploymentFile[] =
    WXTOKEN_SOURCE_DIR "/deploy/base/deployment.yaml";
constexpr char kConfigMapFile[] =
    WXTOKEN_SOURCE_DIR "/deploy/base/configmap.yaml";
constexpr char kHaConfigMapFile[] =
    WXTOKEN_SOURCE_DIR "/deploy/overlays/ha/configmap-patch.yaml";
constexpr char kMtlsConfigMapFile[] =
    WXTOKEN_SOURCE_DIR "/deploy/overlays/mtls/configmap-patch.yaml";
constexpr char kMtlsDeploymentPatchFile[] =
    WXTOKEN_SOURCE_DIR "/deploy/overlays/mtls/deployment-patch.yaml";
constexpr char kConfigKey[] = "config.yaml";
constexpr char kApp[] = "wxprobe00000000001";
constexpr char kSecret[] = "probe-app-secret-5d2e";

struct Probe {
  std::string kind;  // livenessProbe, ...
  int port = 0;
  std::string service;
};

// yaml-cpp reports errors by exceptions; they stop here, as test failures.
YAML::Node LoadYamlFile(const std::string& path) {
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& error) {
    ADD_FAILURE() << path << ": " << error.what();
    return YAML::Node();
  }
}

YAML::Node WxtokendContainer() {
  const YAML::Node deployment = LoadYamlFile(kDeploymentFile);
  const YAML::Node containers =
      deployment["spec"]["template"]["spec"]["containers"];
  for (const YAML::Node& container : containers) {
    if (container["name"].as<std::string>("") == "wxtokend") return container;
  }
  ADD_FAILURE() << kDeploymentFile << ": no container named wxtokend";
  return YAML::Node();
}

// The container's three probes; a missing one or a non-gRPC one is a failure.
std::vector<Probe> GrpcProbes() {
  const YAML::Node container = WxtokendContainer();
  std::vector<Probe> probes;
  for (const char* kind : {"startupProbe", "livenessProbe", "readinessProbe"}) {
    const YAML::Node grpc = container[kind]["grpc"];
    if (!grpc.IsMap()) {
      ADD_FAILURE() << kind << " is not a gRPC probe";
      continue;
    }
    // An absent service means "" to Kubernetes too.
    probes.push_back(
        {kind, grpc["port"].as<int>(0), grpc["service"].as<std::string>("")});
  }
  return probes;
}

// The probes' health service; all three must agree.
std::string ProbeService() {
  std::set<std::string> services;
  for (const Probe& probe : GrpcProbes()) services.insert(probe.service);
  EXPECT_EQ(services.size(), 1u) << "the probes ask different services";
  return services.empty() ? "<none>" : *services.begin();
}

int ContainerPort(const std::string& name) {
  for (const YAML::Node& port : WxtokendContainer()["ports"]) {
    if (port["name"].as<std::string>("") == name) {
      return port["containerPort"].as<int>(0);
    }
  }
  return 0;
}

int PortOf(absl::string_view address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return -1;
  }
  return port;
}

// The config of the ConfigMap in `file` with every *_file pointed at a
// placeholder file in `dir` (the real ones are the Secrets mounted in the
// pod), parsed by wxtokend's own parser.
// `tls`: certificate files to stand in for the Secret cert-manager keeps
// (the parser checks they are PEM and match); null when the config has
// none.
absl::StatusOr<Config> ParseConfigMapConfig(const std::string& dir,
                                            const char* file = kConfigMapFile,
                                            const TestCa* ca = nullptr) {
  const YAML::Node config_map = LoadYamlFile(file);
  YAML::Node config;
  try {
    config = YAML::Load(config_map["data"][kConfigKey].as<std::string>());
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, " data.", kConfigKey, ": ", error.what()));
  }
  int files = 0;
  auto placeholders = [&](YAML::Node map) {
    for (auto entry : map) {
      const std::string key = entry.first.as<std::string>();
      if (!absl::EndsWith(key, "_file")) continue;
      const std::string path = absl::StrCat(dir, "/", files++);
      WriteFile(path, absl::StrCat("placeholder-", files, "\n"));
      entry.second = path;
    }
  };
  for (YAML::Node app : config["apps"]) placeholders(app);
  if (config["store"] && config["store"]["redis"]) {
    placeholders(config["store"]["redis"]);
  }
  if (config["tls"] && ca != nullptr) {
    const CertFiles server = ca->Issue("server", {"DNS:wxtoken"});
    config["tls"]["cert_file"] = server.cert;
    config["tls"]["key_file"] = server.key;
    config["tls"]["client_ca_file"] = ca->cert();
  }
  EXPECT_GT(files, 0) << "the ConfigMap's apps read no secret file";
  YAML::Emitter out;
  out << config;
  return ParseConfig(out.c_str());
}

TEST(ProbeE2eTest, ConfigMapConfigIsAcceptedByWxtokend) {
  const absl::StatusOr<Config> config =
      ParseConfigMapConfig(MakeTempDir("secrets"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->apps.empty());
  EXPECT_EQ(PortOf(config->metrics_listen), ContainerPort("metrics"));
  EXPECT_EQ(PortOf(config->listen), ContainerPort("grpc"));
}

// deploy/overlays/ha: replicas on Sentinel-managed Redis, advertising the
// pod IP the downward API puts in the environment.
TEST(ProbeE2eTest, HaConfigMapConfigIsAcceptedByWxtokend) {
  setenv("WXTOKEN_ADVERTISE_ADDRESS", "10.0.0.7:50051", 1);
  const absl::StatusOr<Config> config =
      ParseConfigMapConfig(MakeTempDir("secrets"), kHaConfigMapFile);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->store.redis);
  EXPECT_EQ(config->store.advertise_address, "10.0.0.7:50051");
  EXPECT_FALSE(config->store.redis->master_name.empty());
  EXPECT_GE(config->store.redis->wait_replicas, 1);
  EXPECT_FALSE(config->store.redis->password.empty());
  EXPECT_GT(config->shutdown_delay, absl::ZeroDuration());
  EXPECT_EQ(PortOf(config->listen), ContainerPort("grpc"));
}

// deploy/overlays/mtls: TLS from cert-manager's Secret, callers, and the
// probes on the plaintext health_listen port.
TEST(ProbeE2eTest, MtlsConfigMapConfigIsAcceptedByWxtokend) {
  const std::string dir = MakeTempDir("secrets");
  const TestCa ca(dir, "ca");
  const absl::StatusOr<Config> config =
      ParseConfigMapConfig(dir, kMtlsConfigMapFile, &ca);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->tls.has_value());
  EXPECT_FALSE(config->tls->client_ca_file.empty());
  ASSERT_TRUE(config->callers.has_value());
  EXPECT_FALSE(config->callers->empty());
  const YAML::Node patch = LoadYamlFile(kMtlsDeploymentPatchFile);
  const YAML::Node container =
      patch["spec"]["template"]["spec"]["containers"][0];
  for (const char* probe :
       {"startupProbe", "livenessProbe", "readinessProbe"}) {
    EXPECT_EQ(container[probe]["grpc"]["port"].as<int>(-1),
              PortOf(config->health_listen))
        << probe << " must ask health_listen: the kubelet speaks no TLS";
  }
}

TEST(ProbeE2eTest, ProbesAskTheListenPort) {
  const absl::StatusOr<Config> config =
      ParseConfigMapConfig(MakeTempDir("secrets"));
  ASSERT_TRUE(config.ok()) << config.status();
  const std::vector<Probe> probes = GrpcProbes();
  EXPECT_EQ(probes.size(), 3u);
  for (const Probe& probe : probes) {
    EXPECT_EQ(probe.port, PortOf(config->listen))
        << probe.kind << " probes another port than `listen` "
        << config->listen;
  }
}

class ProbeServiceE2eTest : public ::testing::Test {
 protected:
  // The sandbox knows kApp with kSecret; wxtokend is given `secret`.
  void StartBoth(const std::string& secret) {
    const std::string dir = MakeTempDir("run");
    Sandbox::Options sandbox_options;
    sandbox_options.apps.push_back({kApp, kSecret});
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start(sandbox_options, dir));
    Controller::Options options;
    options.base_url = sandbox_.base_url();
    options.apps.emplace_back(kApp, secret);
    ASSERT_NO_FATAL_FAILURE(controller_.Start(options, dir));
  }
  void TearDown() override {
    controller_.Stop();
    sandbox_.Stop();
  }

  Sandbox sandbox_;
  Controller controller_;
};

// What the kubelet's probes see once wxtokend has started, and the SIGTERM it
// sends on a rollout.
TEST_F(ProbeServiceE2eTest, ProbeServiceIsServingAfterStartup) {
  ASSERT_NO_FATAL_FAILURE(StartBoth(kSecret));
  const std::string service = ProbeService();
  EXPECT_TRUE(controller_.WaitForHealth(service, "SERVING", kStartTimeout))
      << "probe service \"" << service << "\": " << controller_.Health(service);
  EXPECT_EQ(controller_.Stop(), 0) << "SIGTERM must end wxtokend cleanly";
}

// WeChat refusing an app's credentials must not fail the liveness probe: a
// restart cannot fix that, and it would throw away the other apps' tokens.
TEST_F(ProbeServiceE2eTest, ProbeServiceStaysServingWhenWechatRejectsTheApp) {
  ASSERT_NO_FATAL_FAILURE(StartBoth("not-the-probe-secret"));
  const std::string service = ProbeService();
  EXPECT_TRUE(controller_.WaitForHealth(service, "SERVING", kStartTimeout))
      << "probe service \"" << service << "\": " << controller_.Health(service);
  wxtoken::v1::Token token;
  EXPECT_EQ(controller_.GetToken(kApp, &token).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION)
      << "WeChat (the sandbox) must have refused the credentials";
  EXPECT_EQ(
      controller_.Health(absl::StrCat("wxtoken.v1.TokenController/", kApp)),
      "NOT_SERVING");
  EXPECT_EQ(controller_.Health(service), "SERVING");
}

}  // namespace
}  // namespace wxtoken::testing
