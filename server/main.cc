// wxtokend: the WeChat access-token controller. See README.md.
#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.pb.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/swappable.h"
#include "server/config/config.h"
#include "server/grpc/caller_authorizer.h"
#include "server/grpc/config_reloader.h"
#include "server/grpc/health_sink.h"
#include "server/grpc/leader_forwarder.h"
#include "server/grpc/listener_setup.h"
#include "server/grpc/metrics_interceptor.h"
#include "server/grpc/peer_credentials.h"
#include "server/grpc/token_service.h"
#include "server/http/push_listener.h"
#include "server/messages/platform_push.h"
#include "server/metrics/server_metrics.h"
#include "server/store/file_state_store.h"
#include "server/store/redis_state_store.h"
#include "server/token/inbox.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_worker.h"
#include "server/token/token_table.h"
#include "server/token/token_watch_hub.h"
#include "server/wechat/curl_upstream.h"

ABSL_FLAG(std::string, config, "", "path of the YAML configuration file");
ABSL_FLAG(std::string, log_format, "json",
          "\"json\" (one object per line) or \"text\" (for people)");

namespace wxtoken::server {
namespace {

// Exit codes: 0 clean shutdown, 2 bad config or cannot start.
constexpr int kExitBadConfig = 2;

// gRPC resource limits (see where they are set).
constexpr int kMaxRequestBytes = 2 * 1024 * 1024;
// A health check names one service: a short string.
constexpr int kMaxHealthRequestBytes = 4 * 1024;
constexpr int kMaxConcurrentStreams = 1000;
constexpr size_t kGrpcMemoryQuota = 256 * 1024 * 1024;

// gRPC's own log lines go through ours, so every stderr line is one JSON
// object (or one text line with --log_format text).
void LogFromGrpc(gpr_log_func_args* args) {
  const LogLevel level =
      args->severity == GPR_LOG_SEVERITY_ERROR  ? LogLevel::kError
      : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                : LogLevel::kWarning;
  Log(level, args->message,
      {{"source", "grpc"},
       {"file", absl::StrCat(args->file, ":", args->line)}});
}

// Protobuf's complaints (e.g. invalid UTF-8 in a string field) too.
void LogFromProtobuf(google::protobuf::LogLevel level, const char* filename,
                     int line, const std::string& message) {
  Log(level >= google::protobuf::LOGLEVEL_ERROR ? LogLevel::kError
                                                : LogLevel::kWarning,
      message,
      {{"source", "protobuf"}, {"file", absl::StrCat(filename, ":", line)}});
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "wxtokend: %s\n", message.c_str());
  return kExitBadConfig;
}

// The /metrics endpoint, or nullptr when metrics_listen is "".
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetrics(
    const Config& config, const ServerMetrics& metrics) {
  if (config.metrics_listen.empty()) return nullptr;
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // civetweb, under prometheus-cpp, reports a failed bind by throwing.
    exposer = std::make_unique<prometheus::Exposer>(config.metrics_listen);
  } catch (const std::exception&) {
    return absl::FailedPreconditionError(absl::StrCat(
        "metrics_listen: cannot listen on \"", config.metrics_listen, "\""));
  }
  exposer->RegisterCollectable(metrics.registry());
  exposer->RegisterCollectable(metrics.token_gauges());
  return exposer;
}

// How often a follower reads the shared store at the least (pub/sub
// wakes it sooner). Its max_cache shrinks by the time since its last read,
// so reads come well inside overlap - client_max_cache; more often than
// every 50 ms buys nothing, less often than every second saves nothing.
absl::Duration FollowerPollInterval(const RefreshConfig& refresh) {
  return std::clamp(
      (refresh.overlap - refresh.client_max_cache - absl::Seconds(1)) / 4,
      absl::Milliseconds(50), absl::Seconds(1));
}

struct OpenedStore {
  std::unique_ptr<StateStore> store;
  const LeaderDirectory* leaders = nullptr;  // replicas only
};

// Write completions and what a shared store learns run on the refresh
// worker's thread, through its Inbox.
absl::StatusOr<OpenedStore> OpenStore(const Config& config, const Clock& clock,
                                      Inbox& inbox) {
  auto post = [&inbox](std::function<void()> task) {
    inbox.Post(std::move(task));
  };
  OpenedStore opened;
  if (config.store.redis) {
    auto redis = std::make_unique<RedisStateStore>(
        *config.store.redis, config.store.advertise_address,
        FollowerPollInterval(config.refresh), config.upstream.timeout, clock,
        post);
    opened.leaders = redis.get();
    opened.store = std::move(redis);
  } else if (config.state_dir.empty()) {
    opened.store = std::make_unique<VolatileStateStore>(post);
  } else {
    auto store = FileStateStore::Open(config.state_dir, post);
    if (!store.ok()) return store.status();
    opened.store = *std::move(store);
  }
  return opened;
}

// How often the config and its secret files are read again between signals
// (DESIGN.md: a file change is applied within 5 s).
constexpr absl::Duration kConfigPollInterval = absl::Seconds(2);

// `signals`: SIGTERM and SIGINT stop, SIGHUP reloads.
int Run(const std::string& config_path, const sigset_t& signals) {
  absl::StatusOr<Config> config = LoadConfig(config_path);
  if (!config.ok()) return Fail(std::string(config.status().message()));

  SystemClock clock;
  TokenTable table(RefreshEngine::TableEntries(*config),
                   {config->refresh.client_max_cache, config->refresh.overlap});
  CurlUpstreamClient upstream(
      config->upstream.base_urls, config->upstream.timeout,
      config->upstream.max_concurrency, config->wecom.base_urls);
  Inbox inbox([&upstream] { upstream.Wakeup(); });
  absl::StatusOr<OpenedStore> store = OpenStore(*config, clock, inbox);
  if (!store.ok()) return Fail(std::string(store.status().message()));

  std::vector<std::string> app_ids;
  for (const AppConfig& app : config->apps) app_ids.push_back(app.app_id);
  absl::StatusOr<PushMessages> created_push_messages =
      PushMessages::Create(*config, clock);
  if (!created_push_messages.ok()) {
    return Fail(std::string(created_push_messages.status().message()));
  }
  // Server tokens and EncodingAESKeys: replaced by config reloads.
  Swappable<PushMessages> push_messages(
      std::make_shared<const PushMessages>(*std::move(created_push_messages)));
  PageSigner page_signer(table, clock);
  // WatchToken: what the worker publishes reaches the streams through the
  // hub's thread; each message is renewed at half its max_cache at the
  // latest, leaving the other half for delivery.
  TokenWatchHub watch_hub(
      table, clock,
      {config->refresh.client_max_cache / 2, config->watch.max_stream_age});
  table.SetPublishListener(
      [&watch_hub](absl::string_view app_id, TokenKind kind) {
        watch_hub.OnPublished(app_id, kind);
      });

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // Reflection describes every registered service from the linked
  // descriptors; touching the health proto keeps the linker from dropping
  // it, so `grpcurl list` and `buf curl --list-methods` work.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  GrpcHealthSink health(app_ids);
  RefreshEngine engine(*config, clock, upstream, table, *store->store, health);
  ServerMetrics metrics(*config, table, clock, store->store.get(), &watch_hub);
  engine.SetObserver(&metrics);
  absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
      StartMetrics(*config, metrics);
  if (!exposer.ok()) return Fail(std::string(exposer.status().message()));
  RefreshWorker worker(engine, upstream, inbox, clock);
  // Replicas know each other by their shared certificate.
  std::vector<std::string> replica_principals;
  if (store->leaders != nullptr && config->tls) {
    absl::StatusOr<std::vector<std::string>> principals =
        CertificatePrincipals(config->tls->cert_file);
    if (!principals.ok()) {
      return Fail(
          absl::StrCat("tls.cert_file: ", principals.status().message()));
    }
    // A URI SAN (a SPIFFE ID) names this workload alone; DNS names are
    // often shared with others (a Service's, localhost).
    if (principals->empty() || absl::StartsWith(principals->front(), "dns:")) {
      return Fail(
          "tls.cert_file: replicas know each other by their certificate's "
          "URI SAN (e.g. a SPIFFE ID), and this one has none");
    }
    replica_principals = *std::move(principals);
  }
  // Replicas: a follower passes ForceRefresh on to the leader.
  std::unique_ptr<LeaderForwarder> forwarder;
  if (store->leaders != nullptr) {
    forwarder = std::make_unique<LeaderForwarder>(
        *store->leaders, PeerCredentials(*config, replica_principals),
        [&metrics](grpc::StatusCode code) {
          metrics.RecordForwarded(
              absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
        });
  }
  // Callers: replaced by config reloads.
  Swappable<CallerAuthorizer> authorizer(
      std::make_shared<const CallerAuthorizer>(config->callers,
                                               replica_principals));
  // Platforms and WeCom suites: their pushes reach the worker through
  // push_listen or SubmitPlatformPush.
  std::unique_ptr<PlatformPushIntake> platform_pushes;
  if (!config->platforms.empty()) {
    std::vector<PlatformPushIntake::Owner> push_owners;
    for (const PlatformConfig& platform : config->platforms) {
      push_owners.push_back({platform.component_app_id, platform.wecom_suite});
    }
    platform_pushes = std::make_unique<PlatformPushIntake>(
        std::move(push_owners), push_messages,
        [&inbox, &engine](PlatformEvent event, PlatformPushIntake::Done done) {
          // std::function needs a copyable task.
          auto shared = std::make_shared<PlatformEvent>(std::move(event));
          inbox.Post([&engine, shared, done = std::move(done)] {
            engine.SubmitPlatformEvent(std::move(*shared), done);
          });
        },
        forwarder == nullptr
            ? PlatformPushIntake::Forwarding{}
            : PlatformPushIntake::Forwarding{
                  [&forwarder] { return forwarder->ShouldForwardPushes(); },
                  [&forwarder](const PlatformPush& push,
                               PlatformPushIntake::Done done) {
                    forwarder->ForwardPlatformPush(push, std::move(done));
                  }});
  }
  TokenControllerService service(table, worker, watch_hub, push_messages,
                                 page_signer, clock, authorizer, metrics,
                                 forwarder.get(), platform_pushes.get());

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config->listen, ListenerCredentials(*config), &port);
  builder.RegisterService(&service);
  if (!config->reflection) {
    builder.SetOption(std::make_unique<WithoutReflection>());
  }
  // Bounds, so a flood of calls is refused rather than grown into memory:
  // requests are small (a push body at most kMaxEncryptLength), and gRPC's
  // own buffers share one quota.
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             kMaxConcurrentStreams);
  grpc::ResourceQuota quota("wxtokend");
  quota.Resize(kGrpcMemoryQuota);
  builder.SetResourceQuota(quota);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<MetricsInterceptorFactory>(&metrics, &authorizer));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail(
        absl::StrCat("listen: cannot listen on \"", config->listen, "\""));
  }
  // The default health service answers SERVING for "" until told
  // otherwise; Attach() corrects that right after the listener is up.
  health.Attach(server->GetHealthCheckService());
  // The kubelet's gRPC probes speak no TLS: under mTLS they get a plaintext
  // listener that serves grpc.health.v1 and nothing else.
  HealthOnlyService health_only;
  std::unique_ptr<grpc::Server> health_server;
  int health_port = 0;
  if (!config->health_listen.empty()) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(
        config->health_listen, grpc::InsecureServerCredentials(), &health_port);
    health_builder.SetOption(std::make_unique<WithoutReflection>());
    health_builder.RegisterCallbackGenericService(&health_only);
    health_builder.SetMaxReceiveMessageSize(kMaxHealthRequestBytes);
    health_builder.SetResourceQuota(quota);
    health_server = health_builder.BuildAndStart();
    if (health_server == nullptr || health_port == 0) {
      return Fail(absl::StrCat("health_listen: cannot listen on \"",
                               config->health_listen, "\""));
    }
    health.Attach(health_server->GetHealthCheckService());
  }
  std::unique_ptr<PushListener> push_listener;
  if (!config->push_listen.empty() && platform_pushes != nullptr) {
    absl::StatusOr<std::unique_ptr<PushListener>> started =
        PushListener::Start(config->push_listen, *platform_pushes);
    if (!started.ok()) return Fail(std::string(started.status().message()));
    push_listener = *std::move(started);
  }
  const std::vector<int> metrics_ports =
      *exposer ? (*exposer)->GetListeningPorts() : std::vector<int>{};
  Log(LogLevel::kInfo, "listening",
      {{"listen", config->listen},
       {"grpc_port", absl::StrCat(port)},
       {"health_port", health_port != 0 ? absl::StrCat(health_port) : ""},
       {"tls", !config->tls                          ? "off"
               : config->tls->client_ca_file.empty() ? "tls"
                                                     : "mtls"},
       {"metrics_port",
        metrics_ports.empty() ? "" : absl::StrCat(metrics_ports.front())},
       {"push_port", push_listener ? absl::StrCat(push_listener->port()) : ""},
       {"apps", absl::StrCat(config->apps.size())},
       {"state_dir", config->state_dir}});
  watch_hub.Start();
  worker.Start();

  // Until SIGTERM or SIGINT: SIGHUP reloads the config at once, and every
  // tick between signals notices edited or swapped files.
  ConfigReloader reloader(config_path, *config,
                          {inbox, engine, push_messages, authorizer, watch_hub,
                           replica_principals, metrics, clock});
  int signal_number = 0;
  while (true) {
    const timespec tick = {absl::ToInt64Seconds(kConfigPollInterval), 0};
    signal_number = sigtimedwait(&signals, nullptr, &tick);
    if (signal_number == SIGHUP) {
      reloader.Reload("SIGHUP");
    } else if (signal_number < 0) {  // the tick (EAGAIN), or EINTR
      reloader.ReloadIfChanged();
    } else {
      break;
    }
  }
  const Config& live = reloader.running();
  Log(LogLevel::kInfo, "shutting down",
      {{"signal", absl::StrCat(signal_number)},
       {"drain_timeout", absl::FormatDuration(live.drain_timeout)}});
  health.SetShuttingDown();
  // Still answering, NOT_SERVING: load balancers and Kubernetes endpoints
  // move callers elsewhere before the listener closes, so no call is cut.
  if (live.shutdown_delay > absl::ZeroDuration()) {
    Log(LogLevel::kInfo, "serving NOT_SERVING before closing",
        {{"shutdown_delay", absl::FormatDuration(live.shutdown_delay)}});
    absl::SleepFor(live.shutdown_delay);
  }
  // No new upstream request from here on: one cut short by the exit would
  // only leave an unanswered intent behind.
  worker.BeginShutdown();
  // Watchers move to another replica now, rather than hold the drain open.
  watch_hub.Shutdown(absl::UnavailableError("wxtokend is shutting down"));
  // Shutdown() waits for in-flight RPCs; a ForceRefresh still waiting on the
  // worker past the drain deadline is answered UNAVAILABLE by Stop().
  absl::Notification drained;
  std::thread shutdown([&] {
    // Pushes being answered finish (the worker answers them at once now);
    // WeChat pushes the rest again, to another replica.
    if (push_listener) push_listener->Stop();
    server->Shutdown(std::chrono::system_clock::now() +
                     absl::ToChronoSeconds(live.drain_timeout));
    drained.Notify();
  });
  drained.WaitForNotificationWithTimeout(live.drain_timeout + absl::Seconds(1));
  // In-flight upstream requests may finish (each is bounded by
  // upstream.timeout) and their answers are recorded.
  worker.Stop(config->upstream.timeout + absl::Seconds(1));
  // The answers are stored; a replica hands the lease over now rather than
  // hold it, fetching nothing, while the last RPCs finish.
  store->store->Close();
  shutdown.join();
  server->Wait();
  watch_hub.Stop();
  if (health_server != nullptr) {
    health_server->Shutdown(std::chrono::system_clock::now());
    health_server->Wait();
  }
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace wxtoken::server

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the WeChat access-token controller.\nUsage: wxtokend --config FILE");
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil without NDEBUG, which turns on absl::Mutex deadlock
  // detection: a graph update on every lock, several times the cost of the
  // lock itself on GetToken's path. The clang -Wthread-safety build and the
  // sanitizer runs check the locking instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string log_format = absl::GetFlag(FLAGS_log_format);
  if (log_format != "json" && log_format != "text") {
    std::fprintf(stderr, "wxtokend: --log_format must be json or text\n");
    return 2;
  }
  wxtoken::server::SetLogFormat(log_format == "json"
                                    ? wxtoken::server::LogFormat::kJson
                                    : wxtoken::server::LogFormat::kText);
  gpr_set_log_function(wxtoken::server::LogFromGrpc);
  google::protobuf::SetLogHandler(wxtoken::server::LogFromProtobuf);
  const std::string config_path = absl::GetFlag(FLAGS_config);
  if (config_path.empty()) {
    std::fprintf(stderr, "wxtokend: --config FILE is required\n");
    return 2;
  }
  // Block the signals in every thread (threads inherit the mask), so only
  // the sigtimedwait() in Run() receives them: SIGTERM and SIGINT stop,
  // SIGHUP reloads the config.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return wxtoken::server::Run(config_path, signals);
}
