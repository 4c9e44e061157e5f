// wxtoken: the command-line client of wxtokend (DESIGN.md "Names").
//
//   wxtoken [--addr host:port] [--json] [--timeout 5s] <command> [args]
//
// Exit codes: 0 success; 1 a clean "no" (verify: invalid signature; health:
// not SERVING); 2 the RPC failed; 64 usage error (EX_USAGE).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cli/status_command.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "wxtoken/client.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:50051", "wxtokend's gRPC address");
ABSL_FLAG(bool, json, false, "print the whole response as JSON");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5), "deadline of the RPC");
ABSL_FLAG(std::string, kind, "access_token",
          "access_token, jsapi_ticket, wx_card_ticket or "
          "agent_config_ticket");
ABSL_FLAG(std::string, stale, "",
          "refresh: the value WeChat rejected; - reads it from stdin, @FILE "
          "from a file");
ABSL_FLAG(std::string, tls_ca, "",
          "TLS: the CA certificates (PEM) of wxtokend's certificate");
ABSL_FLAG(std::string, tls_cert, "", "mTLS: this client's certificate (PEM)");
ABSL_FLAG(std::string, tls_key, "", "mTLS: this client's private key (PEM)");
ABSL_FLAG(std::string, tls_server_name, "",
          "TLS: the name wxtokend's certificate carries, if not --addr's host");
ABSL_FLAG(int32_t, errcode, 0, "refresh: the errcode WeChat answered");
ABSL_FLAG(std::string, signature, "", "verify: signature or msg_signature");
ABSL_FLAG(std::string, timestamp, "", "verify: timestamp query parameter");
ABSL_FLAG(std::string, nonce, "", "verify: nonce query parameter");
ABSL_FLAG(std::string, encrypt, "", "verify: Encrypt field (safe mode)");
ABSL_FLAG(std::string, prefix, "",
          "status: only owners whose key starts with this");
ABSL_FLAG(std::string, state, "", "status: only owners in this state");

namespace wxtoken {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitNo = 1;
constexpr int kExitRpcError = 2;
constexpr int kExitUsage = 64;  // sysexits.h EX_USAGE

constexpr char kUsage[] =
    R"(usage: wxtoken [--addr host:port] [--json] [--timeout 5s] <command> [args]

commands:
  get APP_ID [--kind KIND]
      print the current token value (only the value, one line)
  refresh APP_ID [--stale VALUE|-|@FILE] [--errcode N] [--kind KIND]
      ForceRefresh; print "<outcome> <value>", outcome one of
      refreshed, already_newer, coalesced. --stale - reads the rejected
      value from stdin, --stale @FILE from a file: a token need not appear
      on a command line
  watch APP_ID [--kind KIND]
      WatchToken: print each new value (or, with --json, each change as
      one JSON line) until interrupted; reconnects when the stream ends,
      and gives up when wxtokend stays unreachable for --timeout
  verify APP_ID --signature S --timestamp T --nonce N [--encrypt E]
      print "valid" or "invalid: <reason>"
  health [SERVICE]
      grpc.health.v1 Check; print SERVING, NOT_SERVING or SERVICE_UNKNOWN
  status [APP_ID] [--prefix P] [--state STATE]
      every owner's state (ListOwners; one owner: DescribeOwner) as a
      table, one line per credential kind: its state, generation, expiry,
      next request, the day's fetches against the budget, and what is
      wrong (WeChat's errcode, the IP WeChat saw). STATE: serving,
      no_token, credential_error, whitelist_blocked, quota_exhausted,
      revoked, needs_reauth, idle. Exit status 1 when an owner shown is
      neither serving nor idle

flags (before or after the command):
  --addr host:port   wxtokend's gRPC address (default 127.0.0.1:50051)
  --json             print the whole response as JSON
  --timeout D        deadline of the RPC, e.g. 500ms, 5s (default 5s)
  --kind KIND        access_token (default), jsapi_ticket, wx_card_ticket,
                     agent_config_ticket (a WeCom app's)
  --tls-ca FILE      speak TLS, trusting these CAs for wxtokend's certificate
  --tls-cert FILE    with --tls-key: present this client certificate (mTLS)
  --tls-key FILE
  --tls-server-name NAME
                     the name wxtokend's certificate carries, if not --addr's

exit status: 0 ok; 1 invalid signature / not SERVING / an owner not
serving; 2 RPC failed;
64 usage error
)";

constexpr char kShortUsage[] =
    "usage: wxtoken [--addr host:port] [--json] [--timeout 5s] "
    "get|refresh|watch|verify|health|status [args]\n"
    "run \"wxtoken --help\" for the commands and flags\n";

struct CommandLine {
  std::vector<std::string> args;  // command and its positional arguments
  std::set<std::string> flags;    // names of the flags given
  bool help = false;
};

// Parses argv with the flags defined above, allowing flags before, between
// and after positional arguments. Written here rather than using
// absl::ParseCommandLine because that one exits with status 1 on a bad flag,
// and scripts need to tell a usage error (64) from a "no" (1).
absl::Status ParseArgs(int argc, char** argv, CommandLine* out) {
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (only_positional || arg.size() < 2 || arg[0] != '-') {
      out->args.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    if (arg == "-h" || arg == "--help" || arg == "-help") {
      out->help = true;
      continue;
    }
    absl::string_view body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name(body);
    absl::string_view value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = std::string(body.substr(0, eq));
      value = body.substr(eq + 1);
      has_value = true;
    }
    // --tls-ca and --tls_ca alike: flag names are C++ identifiers.
    std::replace(name.begin(), name.end(), '-', '_');
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && !has_value && absl::StartsWith(name, "no")) {
      // --nojson
      flag = absl::FindCommandLineFlag(absl::string_view(name).substr(2));
      if (flag != nullptr && flag->IsOfType<bool>()) {
        value = "false";
        has_value = true;
      } else {
        flag = nullptr;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " needs a value"));
      }
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", error));
    }
    out->flags.emplace(flag->Name());
  }
  return absl::OkStatus();
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // valid=false and generation 0 are answers too; proto3 would omit them.
  options.always_print_primitive_fields = true;
  std::string json;
  google::protobuf::util::Status status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) return absl::StrCat("{\"error\": \"cannot print JSON\"}");
  return json;
}

int RpcError(absl::string_view rpc, const grpc::Status& status) {
  std::cerr << "wxtoken: " << rpc << ": "
            << absl::StatusCodeToString(
                   static_cast<absl::StatusCode>(status.error_code()))
            << ": " << status.error_message() << "\n";
  return kExitRpcError;
}

bool ParseKind(const std::string& text, v1::TokenKind* kind) {
  if (text == "access_token") {
    *kind = v1::TOKEN_KIND_ACCESS_TOKEN;
  } else if (text == "jsapi_ticket") {
    *kind = v1::TOKEN_KIND_JSAPI_TICKET;
  } else if (text == "wx_card_ticket") {
    *kind = v1::TOKEN_KIND_WX_CARD_TICKET;
  } else if (text == "agent_config_ticket") {
    *kind = v1::TOKEN_KIND_AGENT_CONFIG_TICKET;
  } else {
    return false;
  }
  return true;
}

std::string OutcomeName(v1::RefreshOutcome outcome) {
  switch (outcome) {
    case v1::REFRESH_OUTCOME_REFRESHED:
      return "refreshed";
    case v1::REFRESH_OUTCOME_ALREADY_NEWER:
      return "already_newer";
    case v1::REFRESH_OUTCOME_COALESCED:
      return "coalesced";
    default:
      return "unspecified";
  }
}

// Everything a command needs, resolved from the flags.
struct Context {
  std::shared_ptr<grpc::Channel> channel;
  absl::Duration timeout;
  bool json = false;

  // Every RPC gets a deadline: a CLI that hangs on a dead server is worse
  // than one that says UNAVAILABLE.
  void Prepare(grpc::ClientContext* context) const {
    context->set_deadline(std::chrono::system_clock::now() +
                          absl::ToChronoMilliseconds(timeout));
  }
};

int Get(const Context& ctx, const std::string& app_id, v1::TokenKind kind) {
  auto stub = v1::TokenController::NewStub(ctx.channel);
  v1::GetTokenRequest request;
  request.set_app_id(app_id);
  request.set_kind(kind);
  v1::GetTokenResponse response;
  grpc::ClientContext context;
  ctx.Prepare(&context);
  grpc::Status status = stub->GetToken(&context, request, &response);
  if (!status.ok()) return RpcError("GetToken", status);
  std::cout << (ctx.json ? ToJson(response) : response.token().value()) << "\n";
  return kExitOk;
}

// --stale's value: as given, or read from stdin ("-") or a file ("@FILE"),
// without the line's end. No token is "-" or starts with "@".
absl::StatusOr<std::string> StaleValue() {
  const std::string flag = absl::GetFlag(FLAGS_stale);
  std::string value;
  if (flag == "-") {
    std::getline(std::cin, value);
  } else if (absl::StartsWith(flag, "@")) {
    std::ifstream in(flag.substr(1));
    if (!in.is_open()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--stale: cannot read \"", flag.substr(1), "\""));
    }
    std::getline(in, value);
  } else {
    return flag;
  }
  return std::string(absl::StripAsciiWhitespace(value));
}

int Refresh(const Context& ctx, const std::string& app_id, v1::TokenKind kind,
            const std::string& stale) {
  auto stub = v1::TokenController::NewStub(ctx.channel);
  v1::ForceRefreshRequest request;
  request.set_app_id(app_id);
  request.set_kind(kind);
  request.set_stale_value(stale);
  request.set_wechat_errcode(absl::GetFlag(FLAGS_errcode));
  v1::ForceRefreshResponse response;
  grpc::ClientContext context;
  ctx.Prepare(&context);
  grpc::Status status = stub->ForceRefresh(&context, request, &response);
  if (!status.ok()) return RpcError("ForceRefresh", status);
  if (ctx.json) {
    std::cout << ToJson(response) << "\n";
  } else {
    std::cout << OutcomeName(response.outcome()) << " "
              << response.token().value() << "\n";
  }
  return kExitOk;
}

// Follows WatchToken across stream ends (watch.max_stream_age, a restart),
// printing what changed: a new value, or with --json also a shortened
// validity; renewals of the same Token are not changes.
int Watch(const Context& ctx, const std::string& app_id, v1::TokenKind kind) {
  auto stub = v1::TokenController::NewStub(ctx.channel);
  uint64_t generation = 0;
  google::protobuf::Timestamp expires_at;
  absl::Time reachable_at = absl::Now();
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    v1::WatchTokenRequest request;
    request.set_app_id(app_id);
    request.set_kind(kind);
    request.set_known_generation(generation);
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::WatchTokenResponse>> reader =
        stub->WatchToken(&context, request);
    v1::WatchTokenResponse response;
    while (reader->Read(&response)) {
      reachable_at = absl::Now();
      backoff = absl::Milliseconds(100);
      const v1::Token& token = response.token();
      const bool new_value = token.generation() != generation;
      const bool shortened =
          !new_value && token.expires_at().seconds() < expires_at.seconds();
      generation = token.generation();
      expires_at = token.expires_at();
      if (ctx.json && (new_value || shortened)) {
        std::cout << ToJson(response) << std::endl;
      } else if (!ctx.json && new_value) {
        std::cout << token.value() << std::endl;
      }
    }
    grpc::Status status = reader->Finish();
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      return RpcError("WatchToken", status);
    }
    // wxtokend itself ended the stream (its max age, a shutdown): it was
    // reachable until now. --timeout counts only failures to reach it.
    if (context.GetServerTrailingMetadata().count("wxtoken-error-origin")) {
      reachable_at = absl::Now();
    }
    if (absl::Now() - reachable_at > ctx.timeout) {
      return RpcError("WatchToken", status);
    }
    // Jittered, so the callers of a restarted server do not return at once.
    absl::SleepFor(backoff * (0.5 + 0.5 * std::rand() / RAND_MAX));
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

int Verify(const Context& ctx, const std::string& app_id) {
  auto stub = v1::TokenController::NewStub(ctx.channel);
  v1::VerifySignatureRequest request;
  request.set_app_id(app_id);
  request.set_signature(absl::GetFlag(FLAGS_signature));
  request.set_timestamp(absl::GetFlag(FLAGS_timestamp));
  request.set_nonce(absl::GetFlag(FLAGS_nonce));
  request.set_encrypt(absl::GetFlag(FLAGS_encrypt));
  v1::VerifySignatureResponse response;
  grpc::ClientContext context;
  ctx.Prepare(&context);
  grpc::Status status = stub->VerifySignature(&context, request, &response);
  if (!status.ok()) return RpcError("VerifySignature", status);
  if (ctx.json) {
    std::cout << ToJson(response) << "\n";
  } else if (response.valid()) {
    std::cout << "valid\n";
  } else {
    std::cout << "invalid: " << response.reason() << "\n";
  }
  return response.valid() ? kExitOk : kExitNo;
}

int Health(const Context& ctx, const std::string& service) {
  using grpc::health::v1::HealthCheckResponse;
  auto stub = grpc::health::v1::Health::NewStub(ctx.channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::ClientContext context;
  ctx.Prepare(&context);
  grpc::Status status = stub->Check(&context, request, &response);
  // Check answers NOT_FOUND for a service it does not know; that is an
  // answer about the service, not a failed call.
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    response.set_status(HealthCheckResponse::SERVICE_UNKNOWN);
  } else if (!status.ok()) {
    return RpcError("Health.Check", status);
  }
  if (ctx.json) {
    std::cout << ToJson(response) << "\n";
  } else {
    std::cout << HealthCheckResponse::ServingStatus_Name(response.status())
              << "\n";
  }
  return response.status() == HealthCheckResponse::SERVING ? kExitOk : kExitNo;
}

// The flags each command accepts besides the global ones.
const std::set<std::string>& CommandFlags(const std::string& command) {
  static const auto* const kFlags =
      new std::map<std::string, std::set<std::string>>{
          {"get", {"kind"}},
          {"refresh", {"kind", "stale", "errcode"}},
          {"watch", {"kind"}},
          {"verify", {"signature", "timestamp", "nonce", "encrypt"}},
          {"health", {}},
          {"status", {"prefix", "state"}},
      };
  static const auto* const kNone = new std::set<std::string>();
  auto it = kFlags->find(command);
  return it == kFlags->end() ? *kNone : it->second;
}

int Run(int argc, char** argv) {
  CommandLine line;
  absl::Status parsed = ParseArgs(argc, argv, &line);
  auto usage_error = [](absl::string_view problem) {
    std::cerr << "wxtoken: " << problem << "\n" << kShortUsage;
    return kExitUsage;
  };
  if (!parsed.ok()) return usage_error(parsed.message());
  if (line.help) {
    std::cout << kUsage;
    return kExitOk;
  }
  if (line.args.empty()) return usage_error("no command given");
  const std::string& command = line.args[0];
  std::vector<std::string> positional(line.args.begin() + 1, line.args.end());

  if (command != "get" && command != "refresh" && command != "watch" &&
      command != "verify" && command != "health" && command != "status") {
    return usage_error(absl::StrCat("unknown command \"", command, "\""));
  }
  static const auto* const kGlobal = new std::set<std::string>{
      "addr",     "json",    "timeout",        "tls_ca",
      "tls_cert", "tls_key", "tls_server_name"};
  const std::set<std::string>& allowed = CommandFlags(command);
  for (const std::string& flag : line.flags) {
    if (!kGlobal->count(flag) && !allowed.count(flag)) {
      return usage_error(
          absl::StrCat("--", flag, " does not apply to ", command));
    }
  }

  Context ctx;
  ctx.json = absl::GetFlag(FLAGS_json);
  ctx.timeout = absl::GetFlag(FLAGS_timeout);
  if (ctx.timeout <= absl::ZeroDuration() ||
      ctx.timeout == absl::InfiniteDuration()) {
    return usage_error("--timeout must be a positive duration, e.g. 5s");
  }
  const std::string addr = absl::GetFlag(FLAGS_addr);
  if (addr.empty()) return usage_error("--addr must not be empty");
  v1::TokenKind kind = v1::TOKEN_KIND_ACCESS_TOKEN;
  if (!ParseKind(absl::GetFlag(FLAGS_kind), &kind)) {
    return usage_error(absl::StrCat(
        "--kind must be access_token, jsapi_ticket, wx_card_ticket or "
        "agent_config_ticket, not \"",
        absl::GetFlag(FLAGS_kind), "\""));
  }

  if (command == "health" || command == "status") {
    if (positional.size() > 1) {
      return usage_error(
          absl::StrCat(command, " takes at most one ",
                       command == "health" ? "SERVICE" : "APP_ID"));
    }
  } else if (positional.size() != 1) {
    return usage_error(absl::StrCat(command, " takes exactly one APP_ID"));
  }
  if (command == "verify") {
    for (const char* required : {"signature", "timestamp", "nonce"}) {
      if (!line.flags.count(required)) {
        return usage_error(absl::StrCat("verify needs --", required));
      }
    }
  }

  std::optional<TlsOptions> tls;
  if (line.flags.count("tls_ca") || line.flags.count("tls_cert") ||
      line.flags.count("tls_key") || line.flags.count("tls_server_name")) {
    tls.emplace();
    tls->ca_file = absl::GetFlag(FLAGS_tls_ca);
    tls->cert_file = absl::GetFlag(FLAGS_tls_cert);
    tls->key_file = absl::GetFlag(FLAGS_tls_key);
    tls->server_name = absl::GetFlag(FLAGS_tls_server_name);
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      CreateChannel(addr, tls ? &*tls : nullptr);
  if (!channel.ok()) return usage_error(channel.status().message());
  ctx.channel = *std::move(channel);
  if (command == "get") return Get(ctx, positional[0], kind);
  if (command == "refresh") {
    absl::StatusOr<std::string> stale = StaleValue();
    if (!stale.ok()) return usage_error(stale.status().message());
    return Refresh(ctx, positional[0], kind, *stale);
  }
  if (command == "watch") return Watch(ctx, positional[0], kind);
  if (command == "verify") return Verify(ctx, positional[0]);
  if (command == "status") {
    StatusOptions status;
    status.app_id = positional.empty() ? "" : positional[0];
    status.key_prefix = absl::GetFlag(FLAGS_prefix);
    status.state = absl::GetFlag(FLAGS_state);
    status.json = ctx.json;
    status.timeout = ctx.timeout;
    status.now = absl::Now();
    status.to_json = ToJson;
    return RunStatus(ctx.channel, status, std::cout, std::cerr);
  }
  return Health(ctx, positional.empty() ? "" : positional[0]);
}

}  // namespace
}  // namespace wxtoken

int main(int argc, char** argv) { return wxtoken::Run(argc, argv); }
