#include "server/config/config.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Recognizable values: no error message may ever contain them.
constexpr char kSecret[] = "SeCrEt0123456789abcdef0123456789";
constexpr char kServerToken[] = "ToKeN0123456789";
constexpr char kAesKey[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
constexpr char kPreviousAesKey[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg";
constexpr char kEnvSecret[] = "EnVsEcReT0123456789abcdef012345";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/config_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    secret_file_ = WriteFile("secret", absl::StrCat(kSecret, "\n"));
    token_file_ = WriteFile("token", kServerToken);
    aes_file_ = WriteFile("aeskey", absl::StrCat("  ", kAesKey, "\n"));
    previous_aes_file_ = WriteFile("previous_aeskey", kPreviousAesKey);
    setenv("WXTOKEN_TEST_SECRET", kEnvSecret, 1);
    unsetenv("WXTOKEN_TEST_UNSET");
  }

  void TearDown() override {
    unsetenv("WXTOKEN_TEST_SECRET");
    for (const std::string& file : files_) unlink(file.c_str());
    rmdir(dir_.c_str());
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << content;
    files_.push_back(path);
    return path;
  }

  // A minimal valid config; `app_extra` lines are added to the app.
  std::string Minimal(const std::string& app_extra = "") {
    return absl::StrCat("apps:\n  - app_id: wx0123456789abcdef\n",
                        "    secret_file: \"", secret_file_, "\"\n", app_extra);
  }

  // Parses `yaml`, expects an error starting with `prefix`, and checks the
  // properties every error has: one line, no secret.
  std::string ExpectError(const std::string& yaml, const std::string& prefix) {
    absl::StatusOr<Config> config = ParseConfig(yaml);
    EXPECT_FALSE(config.ok()) << yaml;
    if (config.ok()) return "";
    std::string message(config.status().message());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(message, StartsWith(prefix)) << yaml;
    EXPECT_THAT(message, Not(HasSubstr("\n")));
    for (const char* secret :
         {kSecret, kServerToken, kAesKey, kPreviousAesKey, kEnvSecret}) {
      EXPECT_THAT(message, Not(HasSubstr(secret)));
    }
    return message;
  }

  std::string dir_;
  std::vector<std::string> files_;
  std::string secret_file_;
  std::string token_file_;
  std::string aes_file_;
  std::string previous_aes_file_;
};

TEST_F(ConfigTest, DefaultsApplied) {
  absl::StatusOr<Config> config = ParseConfig(Minimal());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "0.0.0.0:50051");
  EXPECT_EQ(config->metrics_listen, "0.0.0.0:9464");
  EXPECT_EQ(config->state_dir, "/var/lib/wxtoken");
  EXPECT_EQ(config->drain_timeout, absl::Seconds(5));
  EXPECT_EQ(config->max_timestamp_skew, absl::ZeroDuration());
  EXPECT_EQ(config->upstream.base_urls,
            (std::vector<std::string>{"https://api.weixin.qq.com",
                                      "https://api2.weixin.qq.com"}));
  EXPECT_EQ(config->upstream.timeout, absl::Seconds(5));
  EXPECT_EQ(config->upstream.max_concurrency, 8);
  EXPECT_EQ(config->refresh.margin, absl::Minutes(10));
  EXPECT_EQ(config->refresh.overlap, absl::Minutes(5));
  EXPECT_EQ(config->refresh.client_max_cache, absl::Minutes(4));
  EXPECT_EQ(config->refresh.force_min_interval, absl::Seconds(30));
  EXPECT_EQ(config->refresh.daily_budget, 1900);
  EXPECT_EQ(config->refresh.force_budget, 200);
  EXPECT_EQ(config->refresh.retry_initial, absl::Seconds(1));
  EXPECT_EQ(config->refresh.retry_max, absl::Seconds(60));
  EXPECT_EQ(config->refresh.permanent_retry, absl::Minutes(10));
  ASSERT_EQ(config->apps.size(), 1u);
  const AppConfig& app = config->apps[0];
  EXPECT_EQ(app.app_id, "wx0123456789abcdef");
  EXPECT_EQ(app.api, AppConfig::Api::kClassic);
  EXPECT_EQ(app.secret, kSecret);  // trailing newline trimmed
  EXPECT_EQ(app.server_token, "");
  EXPECT_TRUE(app.tickets.empty());
  EXPECT_EQ(app.encoding_aes_key, "");
  EXPECT_EQ(app.previous_encoding_aes_key, "");
}

TEST_F(ConfigTest, DesignExampleParses) {
  std::string yaml = R"yaml(
listen: "0.0.0.0:50051"            # gRPC
metrics_listen: "0.0.0.0:9464"     # Prometheus /metrics; "" disables
state_dir: "/var/lib/wxtoken"      # embedded token store; "" = memory only
upstream:
  base_urls: ["https://api.weixin.qq.com", "https://api2.weixin.qq.com"]  # tried in order
  timeout: "5s"
  max_concurrency: 8               # upstream requests in flight at once, all apps together
refresh:
  margin: "10m"          # classic API: refresh this long before expiry
  overlap: "5m"          # WeChat keeps a replaced token valid this long
  client_max_cache: "4m" # upper bound of Token.max_cache; must be < overlap
  force_min_interval: "30s"
  daily_budget: 1900     # upstream token + ticket fetches per app per Beijing day
  force_budget: 200      # of which ForceRefresh may spend at most this many
apps:
  - app_id: "wx0123456789abcdef"
    api: "classic"                       # or "stable" (POST /cgi-bin/stable_token)
    secret_file: "SECRET"   # or secret_env: NAME
    server_token_file: "TOKEN"   # for VerifySignature; or server_token_env
    tickets: ["jsapi"]                   # optional: jsapi, wx_card
    encoding_aes_key_file: "AESKEY"  # safe mode; or _env
    previous_encoding_aes_key_file: "PREVIOUS"  # optional, during a key change
)yaml";
  yaml = absl::StrReplaceAll(yaml, {{"SECRET", secret_file_},
                                    {"TOKEN", token_file_},
                                    {"AESKEY", aes_file_},
                                    {"PREVIOUS", previous_aes_file_}});
  absl::StatusOr<Config> config = ParseConfig(yaml);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->apps.size(), 1u);
  const AppConfig& app = config->apps[0];
  EXPECT_EQ(app.secret, kSecret);
  EXPECT_EQ(app.server_token, kServerToken);
  EXPECT_EQ(app.encoding_aes_key, kAesKey);  // surrounding whitespace trimmed
  EXPECT_EQ(app.previous_encoding_aes_key, kPreviousAesKey);
  EXPECT_EQ(app.tickets, std::vector<TokenKind>{TokenKind::kJsapiTicket});
  EXPECT_EQ(config->refresh.daily_budget, 1900);
}

TEST_F(ConfigTest, EverythingSet) {
  absl::StatusOr<Config> config = ParseConfig(absl::StrCat(
      "listen: \"[::1]:0\"\n"
      "metrics_listen: \"\"\n"
      "state_dir: \"\"\n"
      "drain_timeout: 1m30s\n"
      "upstream:\n"
      "  base_urls: [\"http://127.0.0.1:8080/\", \"https://x.example/wx\"]\n"
      "  timeout: 1500ms\n"
      "  max_concurrency: 2\n"
      "refresh:\n"
      "  margin: 0s\n"
      "  overlap: 2m\n"
      "  client_max_cache: 1m\n"
      "  force_min_interval: 1s\n"
      "  daily_budget: 10\n"
      "  force_budget: 0\n"
      "  retry_initial: 100ms\n"
      "  retry_max: 100ms\n"
      "  permanent_retry: 1h\n",
      Minimal("    api: stable\n    tickets: [jsapi, wx_card]\n"),
      "  - app_id: wx_second-app\n"
      "    secret_env: WXTOKEN_TEST_SECRET\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "[::1]:0");
  EXPECT_EQ(config->metrics_listen, "");
  EXPECT_EQ(config->state_dir, "");
  EXPECT_EQ(config->drain_timeout, absl::Seconds(90));
  EXPECT_EQ(config->upstream.base_urls,
            (std::vector<std::string>{"http://127.0.0.1:8080",
                                      "https://x.example/wx"}));
  EXPECT_EQ(config->upstream.timeout, absl::Milliseconds(1500));
  EXPECT_EQ(config->refresh.margin, absl::ZeroDuration());
  EXPECT_EQ(config->refresh.overlap, absl::Minutes(2));
  EXPECT_EQ(config->refresh.client_max_cache, absl::Minutes(1));
  EXPECT_EQ(config->refresh.force_min_interval, absl::Seconds(1));
  EXPECT_EQ(config->refresh.daily_budget, 10);
  EXPECT_EQ(config->refresh.force_budget, 0);
  EXPECT_EQ(config->upstream.max_concurrency, 2);
  EXPECT_EQ(config->refresh.retry_initial, absl::Milliseconds(100));
  EXPECT_EQ(config->refresh.retry_max, absl::Milliseconds(100));
  EXPECT_EQ(config->refresh.permanent_retry, absl::Hours(1));
  ASSERT_EQ(config->apps.size(), 2u);
  EXPECT_EQ(config->apps[0].api, AppConfig::Api::kStable);
  EXPECT_EQ(config->apps[0].tickets,
            (std::vector<TokenKind>{TokenKind::kJsapiTicket,
                                    TokenKind::kWxCardTicket}));
  EXPECT_EQ(config->apps[1].app_id, "wx_second-app");
  EXPECT_EQ(config->apps[1].secret, kEnvSecret);
}

TEST_F(ConfigTest, EnvSecrets) {
  setenv("WXTOKEN_TEST_TOKEN", absl::StrCat(" ", kServerToken, "\n").c_str(),
         1);
  setenv("WXTOKEN_TEST_AES", kAesKey, 1);
  absl::StatusOr<Config> config = ParseConfig(
      "apps:\n"
      "  - app_id: wx1\n"
      "    secret_env: WXTOKEN_TEST_SECRET\n"
      "    server_token_env: WXTOKEN_TEST_TOKEN\n"
      "    encoding_aes_key_env: WXTOKEN_TEST_AES\n");
  unsetenv("WXTOKEN_TEST_TOKEN");
  unsetenv("WXTOKEN_TEST_AES");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->apps[0].secret, kEnvSecret);
  EXPECT_EQ(config->apps[0].server_token, kServerToken);
  EXPECT_EQ(config->apps[0].encoding_aes_key, kAesKey);
}

TEST_F(ConfigTest, AppsRequired) {
  ExpectError("listen: \"0.0.0.0:1\"\n", "apps: required");
  ExpectError("", "apps: required");
  ExpectError("apps: []\n", "apps: needs at least one app");
  ExpectError("apps: wx1\n", "apps: expected a list");
}

TEST_F(ConfigTest, UnknownKeys) {
  EXPECT_EQ(ExpectError(Minimal() + "listn: x\n", "unknown key"),
            "unknown key \"listn\" (did you mean \"listen\"?)");
  EXPECT_THAT(ExpectError(Minimal() + "refresh:\n  marginn: 1m\n", "unknown"),
              HasSubstr("\"refresh.marginn\""));
  EXPECT_THAT(ExpectError(Minimal() + "upstream:\n  base_url: [\"http://a\"]\n",
                          "unknown"),
              HasSubstr("\"upstream.base_url\""));
  EXPECT_THAT(
      ExpectError(Minimal() + "  - app_id: wx2\n    secrett: x\n", "unknown"),
      HasSubstr("\"apps[1].secrett\""));
}

TEST_F(ConfigTest, DuplicateKey) {
  EXPECT_THAT(ExpectError(Minimal() + "refresh:\n  margin: 1m\n  margin: 2m\n",
                          "duplicate key"),
              HasSubstr("\"refresh.margin\""));
}

TEST_F(ConfigTest, BadDuration) {
  EXPECT_EQ(
      ExpectError(Minimal() + "refresh:\n  margin: ten\n", "refresh.margin:"),
      "refresh.margin: bad duration \"ten\" (use e.g. 500ms, 30s, 5m)");
  ExpectError(Minimal() + "upstream:\n  timeout: 5\n", "upstream.timeout:");
  ExpectError(Minimal() + "drain_timeout: -1s\n", "drain_timeout:");
  ExpectError(Minimal() + "max_timestamp_skew: soon\n", "max_timestamp_skew:");
  ExpectError(Minimal() + "refresh:\n  retry_max: {a: b}\n",
              "refresh.retry_max: expected a string, got a map");
}

TEST_F(ConfigTest, ZeroDurations) {
  ExpectError(Minimal() + "refresh:\n  overlap: 0s\n",
              "refresh.overlap: must be greater than 0");
  ExpectError(Minimal() + "upstream:\n  timeout: 0ms\n",
              "upstream.timeout: must be greater than 0");
  ExpectError(Minimal() + "refresh:\n  permanent_retry: 0m\n",
              "refresh.permanent_retry: must be greater than 0");
  EXPECT_TRUE(ParseConfig(Minimal() + "refresh:\n  margin: 0s\n").ok());
}

TEST_F(ConfigTest, WrongTypes) {
  ExpectError(Minimal() + "listen: {a: 1}\n", "listen: expected a string");
  ExpectError(Minimal() + "state_dir:\n", "state_dir: expected a string");
  ExpectError(Minimal() + "refresh: [1]\n", "refresh: expected a map");
  ExpectError("apps:\n  - app_id: [wx1]\n",
              "apps[0].app_id: expected a string");
  ExpectError(Minimal("    tickets: jsapi\n"),
              "apps[0].tickets: expected a list");
}

TEST_F(ConfigTest, DailyBudget) {
  ExpectError(Minimal() + "refresh:\n  daily_budget: 10.5\n",
              "refresh.daily_budget: expected an integer");
  ExpectError(Minimal() + "refresh:\n  daily_budget: many\n",
              "refresh.daily_budget: expected an integer");
  ExpectError(Minimal() + "refresh:\n  daily_budget: [1]\n",
              "refresh.daily_budget: expected an integer");
  ExpectError(Minimal() + "refresh:\n  daily_budget: 0\n",
              "refresh.daily_budget: must be at least 1");
  ExpectError(Minimal() + "refresh:\n  daily_budget: 99999999999\n",
              "refresh.daily_budget: expected an integer");
}

TEST_F(ConfigTest, ForceBudgetIsAShareOfTheDailyBudget) {
  ExpectError(Minimal() + "refresh:\n  force_budget: -1\n",
              "refresh.force_budget: must be at least 0");
  ExpectError(
      Minimal() + "refresh:\n  daily_budget: 100\n  force_budget: 101\n",
      "refresh.force_budget: must not exceed refresh.daily_budget");
}

TEST_F(ConfigTest, MaxConcurrency) {
  ExpectError(Minimal() + "upstream:\n  max_concurrency: 0\n",
              "upstream.max_concurrency: must be at least 1");
  ExpectError(Minimal() + "upstream:\n  max_concurrency: lots\n",
              "upstream.max_concurrency: expected an integer");
}

TEST_F(ConfigTest, WatchMaxStreamAge) {
  EXPECT_EQ(ParseConfig(Minimal())->watch.max_stream_age, absl::Minutes(30));
  absl::StatusOr<Config> config =
      ParseConfig(Minimal() + "watch:\n  max_stream_age: 90s\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->watch.max_stream_age, absl::Seconds(90));
  ExpectError(Minimal() + "watch:\n  max_stream_age: 0s\n",
              "watch.max_stream_age: must be greater than 0");
  ExpectError(Minimal() + "watch:\n  max_age: 1m\n",
              "unknown key \"watch.max_age\"");
}

TEST_F(ConfigTest, QuotaPollInterval) {
  EXPECT_EQ(ParseConfig(Minimal())->quota.poll_interval, absl::Hours(1));
  absl::StatusOr<Config> config =
      ParseConfig(Minimal() + "quota:\n  poll_interval: 10m\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->quota.poll_interval, absl::Minutes(10));
  config = ParseConfig(Minimal() + "quota:\n  poll_interval: 0s\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->quota.poll_interval, absl::ZeroDuration());  // off
  ExpectError(Minimal() + "quota:\n  interval: 1h\n",
              "unknown key \"quota.interval\"");
}

TEST_F(ConfigTest, RedisStore) {
  setenv("WXTOKEN_TEST_REDIS_PASSWORD", "redis-pass-71c", 1);
  absl::StatusOr<Config> config =
      ParseConfig(Minimal() +
                  "shutdown_delay: 3s\n"
                  "store:\n"
                  "  advertise_address: \"10.0.0.7:50051\"\n"
                  "  redis:\n"
                  "    addresses: [\"127.0.0.1:26379\", \"127.0.0.1:26380\"]\n"
                  "    master_name: wxtoken\n"
                  "    password_env: WXTOKEN_TEST_REDIS_PASSWORD\n"
                  "    key_prefix: \"test:\"\n"
                  "    lease_ttl: 12s\n"
                  "    wait_replicas: 1\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->shutdown_delay, absl::Seconds(3));
  EXPECT_EQ(config->state_dir, "") << "the file store is not used";
  EXPECT_EQ(config->store.advertise_address, "10.0.0.7:50051");
  ASSERT_TRUE(config->store.redis);
  const RedisConfig& redis = *config->store.redis;
  EXPECT_EQ(redis.addresses,
            (std::vector<std::string>{"127.0.0.1:26379", "127.0.0.1:26380"}));
  EXPECT_EQ(redis.master_name, "wxtoken");
  EXPECT_EQ(redis.password, "redis-pass-71c");
  EXPECT_EQ(redis.key_prefix, "test:");
  EXPECT_EQ(redis.lease_ttl, absl::Seconds(12));
  EXPECT_EQ(redis.wait_replicas, 1);

  absl::StatusOr<Config> defaults = ParseConfig(
      Minimal() + "store:\n  redis:\n    addresses: [\"r:6379\"]\n");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->store.redis->key_prefix, "wxtoken:");
  EXPECT_EQ(defaults->store.redis->lease_ttl, absl::Seconds(10));
  EXPECT_EQ(defaults->store.redis->wait_replicas, 0);
  EXPECT_EQ(defaults->store.redis->password, "");
  EXPECT_FALSE(ParseConfig(Minimal())->store.redis) << "the file store";
}

TEST_F(ConfigTest, RedisStoreErrors) {
  const std::string redis = "store:\n  redis:\n    addresses: [\"r:6379\"]\n";
  ExpectError(Minimal() + "state_dir: /tmp/x\n" + redis,
              "state_dir: not used with store");
  // Issue 22, item 8: "" means no directory, which is what store wants.
  absl::StatusOr<Config> empty_dir =
      ParseConfig(Minimal() + "state_dir: \"\"\n" + redis);
  ASSERT_TRUE(empty_dir.ok()) << empty_dir.status();
  EXPECT_EQ(empty_dir->state_dir, "");
  EXPECT_TRUE(empty_dir->store.redis);
  ExpectError(Minimal() + "store:\n  redis: {}\n",
              "store.redis.addresses: required");
  ExpectError(Minimal() + "store:\n  redis:\n    addresses: [\"nohost\"]\n",
              "store.redis.addresses[0]: expected host:port");
  ExpectError(Minimal() + redis + "    master_name: m\n",
              "store.redis.wait_replicas: must be at least 1 with master_name");
  ExpectError(Minimal() + redis + "    password: hunter2\n",
              "store.redis.password: literal secrets are not allowed");
  ExpectError(Minimal() + redis + "    lease_ttl: 9s\n",
              "store.redis.lease_ttl: must be at least twice upstream.timeout");
  ExpectError(Minimal() + redis + "    leases: 1\n",
              "unknown key \"store.redis.leases\"");
  ExpectError(Minimal() + "store:\n  advertise_address: x\n" +
                  "  redis:\n    addresses: [\"r:6379\"]\n",
              "store.advertise_address: expected host:port");
  ExpectError(Minimal() + "store: {}\n", "store.redis: required");
}

// A certificate and its key (PEM), made in memory with OpenSSL: the config
// parses what it is given.
struct SelfSigned {
  std::string cert;
  std::string key;
};
SelfSigned MakeSelfSigned() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* certificate = X509_new();
  X509_set_version(certificate, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1);
  X509_gmtime_adj(X509_getm_notBefore(certificate), 0);
  X509_gmtime_adj(X509_getm_notAfter(certificate), 3600);
  X509_set_pubkey(certificate, key);
  X509_NAME* name = X509_get_subject_name(certificate);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("test"), -1,
                             -1, 0);
  X509_set_issuer_name(certificate, name);
  X509_sign(certificate, key, EVP_sha256());
  auto pem = [](const std::function<int(BIO*)>& write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(size));
    BIO_free(bio);
    return text;
  };
  SelfSigned pair;
  pair.cert =
      pem([&](BIO* bio) { return PEM_write_bio_X509(bio, certificate); });
  pair.key = pem([&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr,
                                    nullptr);
  });
  X509_free(certificate);
  EVP_PKEY_free(key);
  return pair;
}

// DESIGN.md "Security": the listener's TLS, who may call what, the health
// listener and reflection.
TEST_F(ConfigTest, SecurityKeys) {
  const SelfSigned pair = MakeSelfSigned();
  const std::string cert = WriteFile("server.crt", pair.cert);
  const std::string key = WriteFile("server.key", pair.key);
  absl::StatusOr<Config> plain = ParseConfig(Minimal());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->tls.has_value());
  EXPECT_FALSE(plain->callers.has_value()) << "no callers: no authorization";
  EXPECT_TRUE(plain->reflection);
  EXPECT_EQ(plain->health_listen, "");

  const std::string tls =
      absl::StrCat("tls:\n  cert_file: \"", cert, "\"\n  key_file: \"", key,
                   "\"\n  client_ca_file: \"", cert, "\"\n");
  absl::StatusOr<Config> config = ParseConfig(absl::StrCat(
      Minimal(), tls, "reflection: false\n",
      "health_listen: \"0.0.0.0:8081\"\n", "callers:\n",
      "  - principal: \"spiffe://cluster.local/ns/shop/sa/orders\"\n",
      "    apps: [\"wx0123456789abcdef\"]\n",
      "    methods: [\"GetToken\", \"ForceRefresh\"]\n",
      "  - principal: \"dns:billing.internal\"\n    apps: [\"*\"]\n",
      "    methods: [\"*\"]\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->tls.has_value());
  EXPECT_EQ(config->tls->cert_file, cert);
  EXPECT_EQ(config->tls->key_file, key);
  EXPECT_EQ(config->tls->client_ca_file, cert);
  EXPECT_FALSE(config->reflection);
  EXPECT_EQ(config->health_listen, "0.0.0.0:8081");
  ASSERT_TRUE(config->callers.has_value());
  ASSERT_EQ(config->callers->size(), 2u);
  EXPECT_EQ((*config->callers)[0].principal,
            "spiffe://cluster.local/ns/shop/sa/orders");
  EXPECT_EQ((*config->callers)[0].methods,
            (std::vector<std::string>{"GetToken", "ForceRefresh"}));
  EXPECT_EQ((*config->callers)[1].apps, std::vector<std::string>{"*"});
  // `callers: []` denies every call: present, empty.
  absl::StatusOr<Config> none = ParseConfig(Minimal() + tls + "callers: []\n");
  ASSERT_TRUE(none.ok()) << none.status();
  ASSERT_TRUE(none->callers.has_value());
  EXPECT_TRUE(none->callers->empty());
}

TEST_F(ConfigTest, SecurityKeyErrors) {
  const SelfSigned pair = MakeSelfSigned();
  const std::string cert = WriteFile("server.crt", pair.cert);
  const std::string key = WriteFile("server.key", pair.key);
  const std::string tls = absl::StrCat("tls:\n  cert_file: \"", cert,
                                       "\"\n  key_file: \"", key, "\"\n");
  const std::string mtls =
      absl::StrCat(tls, "  client_ca_file: \"", cert, "\"\n");
  auto grant = [](const std::string& principal, const std::string& apps,
                  const std::string& methods) {
    return absl::StrCat("callers:\n  - principal: \"", principal, "\"\n",
                        "    apps: ", apps, "\n    methods: ", methods, "\n");
  };
  ExpectError(Minimal() + "tls:\n  cert_file: \"" + cert + "\"\n",
              "tls.key_file: required");
  ExpectError(Minimal() + "tls:\n  cert_file: \"" + cert +
                  "\"\n  key_file: \"" + dir_ + "/missing.key\"\n",
              "tls.key_file: cannot read");
  ExpectError(Minimal() + "tls:\n  cert_file: \"" + key + "\"\n  key_file: \"" +
                  key + "\"\n",
              "tls.cert_file: \"" + key + "\" holds no PEM certificate");
  const std::string other_key = WriteFile("other.key", MakeSelfSigned().key);
  ExpectError(Minimal() + "tls:\n  cert_file: \"" + cert +
                  "\"\n  key_file: \"" + other_key + "\"\n",
              "tls.key_file: \"" + other_key +
                  "\" is not the key of tls.cert_file's certificate");
  const std::string garbage =
      WriteFile("garbage.crt", "-----BEGIN CERTIFICATE-----\nx\n");
  ExpectError(Minimal() + "tls:\n  cert_file: \"" + garbage +
                  "\"\n  key_file: \"" + key + "\"\n",
              "tls.cert_file: \"" + garbage + "\" holds no PEM certificate");
  ExpectError(Minimal() + tls + "  ca_file: x\n",
              "unknown key \"tls.ca_file\"");
  ExpectError(Minimal() + tls + "callers: []\n",
              "callers: needs tls.client_ca_file");
  ExpectError(Minimal() + mtls + grant("orders", "[\"*\"]", "[\"*\"]"),
              "callers[0].principal: expected a URI SAN");
  ExpectError(Minimal() + mtls + grant("dns:", "[\"*\"]", "[\"*\"]"),
              "callers[0].principal: expected a URI SAN");
  ExpectError(Minimal() + mtls + grant("*", "[\"*\"]", "[\"Refresh\"]"),
              "callers[0].methods[0]: unknown method \"Refresh\"");
  ExpectError(Minimal() + mtls + grant("*", "[]", "[\"*\"]"),
              "callers[0].apps: expected a non-empty list");
  ExpectError(
      Minimal() + mtls + grant("*", "[\"wx1111111111111111\"]", "[\"*\"]"),
      "callers[0].apps[0]: no app \"wx1111111111111111\" is configured");
  ExpectError(
      Minimal() + mtls + grant("*", "[\"wxcomponent00000001/*\"]", "[\"*\"]"),
      "callers[0].apps[0]: no platform or WeCom corp \"wxcomponent00000001\" "
      "is configured (\"wxcomponent00000001/*\" grants the owners under it)");
  ExpectError(Minimal() + mtls + "callers:\n" +
                  "  - principal: \"*\"\n    apps: [\"*\"]\n" +
                  "    methods: [\"*\"]\n" +
                  "  - principal: \"*\"\n    apps: [\"*\"]\n" +
                  "    methods: [\"*\"]\n",
              "callers[1].principal: duplicate principal \"*\" (also "
              "callers[0])");
  ExpectError(Minimal() + "reflection: maybe\n",
              "reflection: expected true or false, got \"maybe\"");
  ExpectError(Minimal() + "health_listen: \"8081\"\n",
              "health_listen: expected host:port");
  ExpectError(
      Minimal() + tls + "store:\n  redis:\n    addresses: [\"r:6379\"]\n",
      "tls.client_ca_file: required with store.redis");
}

TEST_F(ConfigTest, AdvertiseAddressFromTheEnvironment) {
  const std::string redis = "  redis:\n    addresses: [\"r:6379\"]\n";
  setenv("WXTOKEN_TEST_ADVERTISE", "10.1.2.3:50051", 1);
  absl::StatusOr<Config> config = ParseConfig(
      Minimal() + "store:\n  advertise_address_env: WXTOKEN_TEST_ADVERTISE\n" +
      redis);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.advertise_address, "10.1.2.3:50051");
  ExpectError(Minimal() +
                  "store:\n  advertise_address_env: WXTOKEN_TEST_UNSET\n" +
                  redis,
              "store.advertise_address_env: the environment variable "
              "\"WXTOKEN_TEST_UNSET\" is not set");
  setenv("WXTOKEN_TEST_ADVERTISE", "10.1.2.3", 1);
  ExpectError(Minimal() +
                  "store:\n  advertise_address_env: WXTOKEN_TEST_ADVERTISE\n" +
                  redis,
              "store.advertise_address_env: expected host:port");
  ExpectError(Minimal() +
                  "store:\n  advertise_address: \"a:1\"\n"
                  "  advertise_address_env: WXTOKEN_TEST_ADVERTISE\n" +
                  redis,
              "store.advertise_address_env: set only one");
}

TEST_F(ConfigTest, SecretFileOrEnvExactlyOne) {
  ExpectError("apps:\n  - app_id: wx1\n", "apps[0].secret_file: required");
  ExpectError(Minimal("    secret_env: WXTOKEN_TEST_SECRET\n"),
              "apps[0].secret_file: set only one");
  ExpectError(Minimal(absl::StrCat("    server_token_file: ", token_file_,
                                   "\n    server_token_env: X\n")),
              "apps[0].server_token_file: set only one");
}

TEST_F(ConfigTest, SecretFileUnreadable) {
  std::string missing = dir_ + "/missing";
  EXPECT_EQ(ExpectError(absl::StrCat("apps:\n  - app_id: wx1\n"
                                     "    secret_file: ",
                                     missing, "\n"),
                        "apps[0].secret_file:"),
            absl::StrCat("apps[0].secret_file: cannot read \"", missing,
                         "\": No such file or directory"));
  ExpectError(
      absl::StrCat("apps:\n  - app_id: wx1\n    secret_file: ", dir_, "\n"),
      "apps[0].secret_file: cannot read");
  std::string empty = WriteFile("empty", "\n");
  ExpectError(
      absl::StrCat("apps:\n  - app_id: wx1\n    secret_file: ", empty, "\n"),
      "apps[0].secret_file: \"" + empty + "\" is empty");
  ExpectError(Minimal(absl::StrCat("    server_token_file: ", missing, "\n")),
              "apps[0].server_token_file: cannot read");
}

TEST_F(ConfigTest, SecretWithInnerWhitespaceRefused) {
  std::string two_lines = WriteFile("two", absl::StrCat(kSecret, "\nmore\n"));
  ExpectError(absl::StrCat(
                  "apps:\n  - app_id: wx1\n    secret_file: ", two_lines, "\n"),
              "apps[0].secret_file: the value contains whitespace");
}

TEST_F(ConfigTest, SecretEnvUnsetOrEmpty) {
  EXPECT_THAT(ExpectError("apps:\n  - app_id: wx1\n"
                          "    secret_env: WXTOKEN_TEST_UNSET\n",
                          "apps[0].secret_env:"),
              HasSubstr("\"WXTOKEN_TEST_UNSET\" is unset or empty"));
  setenv("WXTOKEN_TEST_EMPTY", " \n", 1);
  EXPECT_THAT(ExpectError("apps:\n  - app_id: wx1\n"
                          "    secret_env: WXTOKEN_TEST_EMPTY\n",
                          "apps[0].secret_env:"),
              HasSubstr("\"WXTOKEN_TEST_EMPTY\""));
  unsetenv("WXTOKEN_TEST_EMPTY");
}

TEST_F(ConfigTest, LiteralSecretsRefusedWithoutEcho) {
  for (const char* key : {"secret", "server_token", "encoding_aes_key",
                          "previous_encoding_aes_key"}) {
    std::string message =
        ExpectError(Minimal(absl::StrCat("    ", key, ": ", kSecret, "\n")),
                    absl::StrCat("apps[0].", key, ": literal secrets"));
    EXPECT_THAT(message,
                HasSubstr(absl::StrCat(key, "_file or ", key, "_env")));
  }
  EXPECT_EQ(ExpectError(Minimal("    secret: x\n"), "apps[0].secret:"),
            "apps[0].secret: literal secrets are not allowed; use secret_file "
            "or secret_env");
}

TEST_F(ConfigTest, EncodingAesKeyShape) {
  std::string short_key = WriteFile("short", "abc");
  ExpectError(
      Minimal(absl::StrCat("    encoding_aes_key_file: ", short_key, "\n")),
      "apps[0].encoding_aes_key_file: an EncodingAESKey is 43");
  // A file holding something else (here the AppSecret) is refused without
  // echoing its content; ExpectError checks that.
  ExpectError(
      Minimal(absl::StrCat("    encoding_aes_key_file: ", secret_file_, "\n")),
      "apps[0].encoding_aes_key_file: an EncodingAESKey is 43");
  ExpectError(Minimal(absl::StrCat("    previous_encoding_aes_key_file: ",
                                   previous_aes_file_, "\n")),
              "apps[0].previous_encoding_aes_key_file: needs");
}

TEST_F(ConfigTest, AppId) {
  ExpectError(absl::StrCat("apps:\n  - secret_file: ", secret_file_, "\n"),
              "apps[0].app_id: required");
  for (const char* bad : {"\"\"", "\"wx 1\"", "wx/1",
                          "\"wx0123456789abcdef0123456789abcdef0\""}) {
    ExpectError(absl::StrCat("apps:\n  - app_id: ", bad,
                             "\n    secret_file: ", secret_file_, "\n"),
                "apps[0].app_id: not a WeChat AppID");
  }
  ExpectError(absl::StrCat("apps:\n  - app_id: leader\n    secret_file: ",
                           secret_file_, "\n"),
              "apps[0].app_id: \"leader\" is reserved");
  EXPECT_THAT(ExpectError(Minimal() + "  - app_id: wx0123456789abcdef\n"
                                      "    secret_env: WXTOKEN_TEST_SECRET\n",
                          "apps[1].app_id: duplicate app_id"),
              HasSubstr("apps[0]"));
}

TEST_F(ConfigTest, Api) {
  ExpectError(Minimal("    api: fast\n"),
              "apps[0].api: expected \"classic\" or \"stable\", got \"fast\"");
}

TEST_F(ConfigTest, Tickets) {
  ExpectError(Minimal("    tickets: [jsapi, card]\n"),
              "apps[0].tickets[1]: expected \"jsapi\" or \"wx_card\"");
  ExpectError(Minimal("    tickets: [jsapi, jsapi]\n"),
              "apps[0].tickets[1]: duplicate ticket");
}

TEST_F(ConfigTest, BaseUrls) {
  ExpectError(Minimal() + "upstream:\n  base_urls: []\n",
              "upstream.base_urls: needs at least one URL");
  ExpectError(Minimal() + "upstream:\n  base_urls: \"https://a\"\n",
              "upstream.base_urls: expected a list");
  for (const char* bad : {"ftp://a", "https://", "https:///x", "https://a/?x=1",
                          "https://a#f", "https://a//", "https://a b"}) {
    ExpectError(
        absl::StrCat(Minimal(), "upstream:\n  base_urls: [\"https://ok\", \"",
                     bad, "\"]\n"),
        "upstream.base_urls[1]:");
  }
}

TEST_F(ConfigTest, Listen) {
  for (const char* good : {"0.0.0.0:50051", "[::]:50051", "localhost:0"}) {
    absl::StatusOr<Config> config =
        ParseConfig(absl::StrCat(Minimal(), "listen: \"", good, "\"\n"));
    EXPECT_TRUE(config.ok()) << good << ": " << config.status();
  }
  for (const char* bad : {"", "50051", ":50051", "host:", "host:65536",
                          "::1:50051", "[::1]50051", "a b:1"}) {
    ExpectError(absl::StrCat(Minimal(), "listen: \"", bad, "\"\n"),
                "listen: expected host:port");
  }
  ExpectError(Minimal() + "metrics_listen: \"9464\"\n",
              "metrics_listen: expected host:port");
}

TEST_F(ConfigTest, ClientMaxCacheMustBeBelowOverlap) {
  EXPECT_THAT(ExpectError(Minimal() + "refresh:\n  client_max_cache: 5m\n",
                          "refresh.client_max_cache:"),
              HasSubstr("refresh.overlap"));
}

TEST_F(ConfigTest, ClientMaxCachePlusTimeoutWithinOverlap) {
  ExpectError(Minimal() + "upstream:\n  timeout: 90s\n",
              "refresh.client_max_cache: refresh.client_max_cache (4m) + "
              "upstream.timeout (1m30s) exceeds refresh.overlap (5m)");
  // Exactly at the overlap is still safe.
  EXPECT_TRUE(ParseConfig(Minimal() + "upstream:\n  timeout: 1m\n").ok());
}

TEST_F(ConfigTest, MarginBelowADay) {
  ExpectError(Minimal() + "refresh:\n  margin: 24h\n",
              "refresh.margin: must be less than 24h");
}

TEST_F(ConfigTest, RetryInitialAtMostRetryMax) {
  ExpectError(Minimal() + "refresh:\n  retry_initial: 2m\n",
              "refresh.retry_initial: must not exceed refresh.retry_max");
}

TEST_F(ConfigTest, YamlSyntaxError) {
  ExpectError("listen: x\nrefresh:\n  margin: 1m: 2m\n",
              "config: YAML error at line 3: ");
  ExpectError(Minimal() + "refresh: {margin: 1m\n",
              "config: YAML error at line ");
}

TEST_F(ConfigTest, LoadConfig) {
  std::string path = WriteFile("config.yaml", Minimal());
  absl::StatusOr<Config> config = LoadConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->apps[0].secret, kSecret);

  std::string missing = dir_ + "/nope.yaml";
  config = LoadConfig(missing);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            absl::StrCat("config: cannot read \"", missing,
                         "\": No such file or directory"));
}

TEST(ParseConfigDurationTest, Valid) {
  const struct {
    const char* text;
    absl::Duration want;
  } cases[] = {
      {"500ms", absl::Milliseconds(500)},
      {"30s", absl::Seconds(30)},
      {"5m", absl::Minutes(5)},
      {"1h", absl::Hours(1)},
      {"1m30s", absl::Seconds(90)},
      {"1h2m3s4ms", absl::Hours(1) + absl::Minutes(2) + absl::Seconds(3) +
                        absl::Milliseconds(4)},
      {"1.5s", absl::Milliseconds(1500)},
      {"0s", absl::ZeroDuration()},
  };
  for (const auto& c : cases) {
    absl::StatusOr<absl::Duration> got = ParseConfigDuration(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(ParseConfigDurationTest, Invalid) {
  for (const char* text :
       {"", "5", "-5s", "+5s", "5x", "s", "5 s", " 5s", "5s ", "1.s", ".5s",
        "5ns", "5us", "inf", "5S", "1m30", "99999999999999999999h"}) {
    absl::StatusOr<absl::Duration> got = ParseConfigDuration(text);
    EXPECT_FALSE(got.ok()) << "\"" << text << "\"";
    if (!got.ok()) {
      EXPECT_THAT(std::string(got.status().message()),
                  StartsWith("bad duration \""));
    }
  }
}

}  // namespace
}  // namespace wxtoken::server
