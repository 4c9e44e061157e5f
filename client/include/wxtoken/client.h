// wxtoken::Client: how a backend service gets WeChat tokens from wxtokend
// without a network round trip per WeChat call.
//
//   wxtoken::ClientOptions options;
//   options.target = "wxtokend:50051";
//   auto client = wxtoken::Client::Create(options);  // once, shared
//   absl::StatusOr<wxtoken::Token> token = (*client)->GetToken("wx0123...");
//
// The client keeps, per (app_id, kind), the last answer of the controller and
// serves it from memory for the answer's `max_cache`, counted from when the
// question was sent (so neither the network's delay nor clock skew between
// hosts matters). A WatchToken stream per entry (ClientOptions::watch) keeps
// that answer current: each new value is pushed as it is fetched. When that
// runs out, one RPC asks again while concurrent callers of the same entry wait
// for it. When the controller cannot be reached at all, the cached value keeps
// being served, flagged `stale_fallback`, for the answer's `stale_if_error` and
// never beyond: the controller guarantees it valid that long. When the
// controller answers an error (e.g. UNAVAILABLE: its own token's validity was
// cut short), that answer is returned: the controller knows better than the
// cache. The library logs nothing itself and throws no exceptions.
#ifndef WXTOKEN_CLIENT_INCLUDE_WXTOKEN_CLIENT_H_
#define WXTOKEN_CLIENT_INCLUDE_WXTOKEN_CLIENT_H_

#include <grpcpp/channel.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wxtoken {

// Which credential of an app is meant (wxtoken.v1.TokenKind).
enum class TokenKind {
  kAccessToken = 1,   // /cgi-bin/token or /cgi-bin/stable_token
  kJsapiTicket = 2,   // JS-SDK ticket
  kWxCardTicket = 3,  // card ticket
  // A WeCom app's wx.agentConfig ticket. A WeCom key's kJsapiTicket is its
  // corp's ticket.
  kAgentConfigTicket = 4,
};

// One credential value and how long it may be used. A plain value type.
struct Token {
  std::string app_id;
  TokenKind kind = TokenKind::kAccessToken;
  // The credential itself. Treat it as a secret: never log it.
  std::string value;
  // When WeChat stops accepting the value at the latest (controller's clock).
  absl::Time expires_at = absl::InfinitePast();
  // How long the controller allowed this answer to be reused without asking
  // again; the client counts it from when it asked.
  absl::Duration max_cache = absl::ZeroDuration();
  // How long the value is certainly valid, counted from when the client
  // asked, should the controller become unreachable: the bound of
  // stale_fallback. At least max_cache.
  absl::Duration stale_if_error = absl::ZeroDuration();
  // Grows by one each time the controller fetches a new value.
  uint64_t generation = 0;
  // When the controller's request that fetched the value was sent.
  absl::Time fetched_at = absl::InfinitePast();
  // True when the controller could not be reached and this is the last value
  // it gave, past its max_cache but within its stale_if_error: still valid
  // at WeChat; worth a metric or a log line in the caller.
  bool stale_fallback = false;
};

// WeChat errcodes that mean "this access_token is not (or no longer) valid":
// invalid credential, invalid access_token, access_token expired.
inline constexpr int kWeChatInvalidCredential = 40001;
inline constexpr int kWeChatInvalidAccessToken = 40014;
inline constexpr int kWeChatAccessTokenExpired = 42001;

// Whether WeChat's `errcode` says the token it was given is bad, so that
// reporting it (Client::ReportInvalid) and retrying with a new one can help.
inline bool IsInvalidTokenErrcode(int errcode) {
  return errcode == kWeChatInvalidCredential ||
         errcode == kWeChatInvalidAccessToken ||
         errcode == kWeChatAccessTokenExpired;
}

// TLS to wxtokend (its `tls` config). The files are PEM and are read again
// every few seconds: renewed certificates (cert-manager) serve new
// connections without a restart.
struct TlsOptions {
  // The CAs that sign wxtokend's certificate. Required.
  std::string ca_file;
  // This service's certificate and key, for mTLS: both or neither.
  std::string cert_file;
  std::string key_file;
  // The DNS name wxtokend's certificate must carry, when it is not the
  // target's host (e.g. connecting to an IP).
  std::string server_name;
};

// A channel to `target` ("host:port"): plaintext when `tls` is null, else TLS
// as it says. What ClientOptions.tls uses; for callers that make their own
// stubs on the same terms. INVALID_ARGUMENT naming the option when a file
// cannot be read or holds no PEM.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const std::string& target, const TlsOptions* tls = nullptr);

// How a Client reaches wxtokend and keeps time. Every field has its default
// here.
struct ClientOptions {
  // wxtokend's gRPC address, e.g. "wxtokend.infra:50051"; a channel is
  // created to it, plaintext or as `tls` says. Ignored when `channel` is set.
  std::string target;
  // TLS (and mTLS) to `target`; unset: plaintext.
  std::optional<TlsOptions> tls;
  // A channel made by the caller (TLS credentials, interceptors, a shared
  // channel); null means "create one to `target`". Shared, never closed by
  // the client.
  std::shared_ptr<grpc::Channel> channel;
  // Deadline of GetToken's RPC to the controller. Default 2s; must be
  // positive.
  absl::Duration rpc_timeout = absl::Seconds(2);
  // Deadline of ReportInvalid's RPC (ForceRefresh), which may wait out the
  // controller's force_min_interval (30 s by default) and its requests to
  // WeChat. Default 45s; must be positive.
  absl::Duration report_timeout = absl::Seconds(45);
  // While serving a stale_fallback value, how long to serve it from memory
  // before trying the controller again (never past its stale_if_error).
  // Default 1s; must not be negative.
  absl::Duration fallback_retry = absl::Seconds(1);
  // Follow each entry with a WatchToken stream, opened on its first
  // GetToken: the controller pushes every new value, and renews the current
  // one before its max_cache runs out, so while the stream is healthy
  // GetToken never waits on an RPC and a rotation reaches the cache at once.
  // A broken stream is reconnected with jittered backoff; meanwhile the
  // cache works as without it (ask when max_cache runs out, fall back within
  // stale_if_error). One stream and one thread per entry, opened after the
  // entry's first token: an app_id the controller does not know (NOT_FOUND)
  // or takes as malformed (INVALID_ARGUMENT) gets none, and a stream that
  // ends so is not reopened until the controller hands out a token for it
  // again. False: poll only. A controller without WatchToken, or one that
  // does not grant it to this caller, is polled. Default true.
  bool watch = true;
  // At most this many (app_id, kind) pairs are cached, each with its entry
  // (and stream), kept as long as the Client. Pairs past it still work,
  // uncached: each call is an RPC. Bounds what a service that passes app_ids
  // taken from its own requests can make the Client hold. Default 10000;
  // must be positive.
  size_t max_entries = 10000;
  // The clock the cache's freshness is measured with: only its differences
  // matter. Null means the monotonic clock, which a wall-clock step does not
  // move. Tests pass a fake; RPC deadlines always use the real clock. Must be
  // thread-safe and cheap: every GetToken reads it.
  std::function<absl::Time()> now;
};

// A cached view of wxtokend's tokens. Thread-safe: one Client per process is
// meant to be shared by every thread. Destroy it only after every call on it
// has returned. Cache entries are created on first use, one per (app_id,
// kind) asked for up to ClientOptions::max_entries, and live as long as the
// Client; entries do not wait for each other's RPCs.
//
// Statuses returned by GetToken and ReportInvalid (gRPC's codes):
//   OK                  a token; check Token::stale_fallback.
//   INVALID_ARGUMENT    empty app_id or a TokenKind outside the enum (checked
//                       locally, no RPC), or the controller refused the
//                       app_id's shape.
//   NOT_FOUND           the controller does not know the app.
//   UNAVAILABLE         the controller had no valid token itself, or it could
//                       not be reached in time and no cached value is still
//                       within its stale_if_error.
//   FAILED_PRECONDITION WeChat rejected the controller's credentials for the
//                       app; the message carries WeChat's errcode.
//   RESOURCE_EXHAUSTED  the app's fetch quota is spent (ReportInvalid).
//   INTERNAL            the controller answered without a token.
//   PERMISSION_DENIED, UNAUTHENTICATED, ...: passed through from the
//                       controller unchanged.
class Client {
 public:
  // Creates a client; no connection is made until the first RPC.
  // INVALID_ARGUMENT when neither target nor channel is given, rpc_timeout is
  // not positive, fallback_retry is negative, or a TLS file cannot be read.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  virtual ~Client() = default;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The token of (app_id, kind): from memory while the cached answer is
  // within its max_cache (no RPC, no waiting on other callers' RPCs); else
  // from the controller, one RPC per entry however many threads ask at once.
  // When the controller is unreachable the cached value is returned with
  // stale_fallback set until its expires_at, then UNAVAILABLE; the next
  // successful answer clears the flag.
  absl::StatusOr<Token> GetToken(absl::string_view app_id,
                                 TokenKind kind = TokenKind::kAccessToken) {
    return DoGetToken(app_id, kind);
  }

  // The same, into `*token`, reusing the storage of its strings: for a
  // caller that keeps a Token across calls (one per thread, say), a cache
  // hit allocates nothing, takes no lock and writes nothing other threads
  // read: the call for hot paths. On an error `*token` is unspecified.
  //
  //   thread_local wxtoken::Token token;
  //   absl::Status status = client->GetToken(app_id, kind, &token);
  absl::Status GetToken(absl::string_view app_id, TokenKind kind,
                        Token* token) {
    return DoGetTokenInto(app_id, kind, token);
  }

  // Tells the controller that WeChat rejected `stale_value` with
  // `wechat_errcode` (ForceRefresh; an empty `stale_value` means "whatever is
  // current") and returns the value to use instead, which also replaces the
  // cached one. Concurrent reports of the same stale
  // value share one RPC, and a report of a value this client already saw
  // replaced is answered from memory. Controller unreachable or too slow
  // (report_timeout) → UNAVAILABLE. Either way the rejected value is never
  // cached or handed out as a fallback again: until the controller hands out
  // another one, every GetToken asks it.
  virtual absl::StatusOr<Token> ReportInvalid(absl::string_view app_id,
                                              TokenKind kind,
                                              absl::string_view stale_value,
                                              int wechat_errcode) = 0;

  // Calls `wechat_call(token_value)` with the token of (app_id, kind) and
  // returns its result. When the result's `errcode` says the token is bad
  // (IsInvalidTokenErrcode), it reports the token (ReportInvalid) and calls
  // `wechat_call` exactly once more with the new value, returning that second
  // result whatever it is: never a loop.
  //
  // `wechat_call` is invoked as `R(const std::string& token)`, where R is any
  // type with a member `errcode` convertible to int (0 = success), typically
  // the caller's parsed WeChat reply. Returns GetToken's or ReportInvalid's
  // error status when there is no token to call with.
  template <class F>
  auto CallWithToken(absl::string_view app_id, F&& wechat_call,
                     TokenKind kind = TokenKind::kAccessToken)
      -> absl::StatusOr<
          std::decay_t<std::invoke_result_t<F&, const std::string&>>>;

 protected:
  Client() = default;

 private:
  // GetToken; apart so that GetToken may have a default argument (virtual
  // functions must not). A test double of Client overrides this.
  virtual absl::StatusOr<Token> DoGetToken(absl::string_view app_id,
                                           TokenKind kind) = 0;
  // GetToken into a Token; by default through DoGetToken, so a test double
  // need not override it.
  virtual absl::Status DoGetTokenInto(absl::string_view app_id, TokenKind kind,
                                      Token* token);
};

template <class F>
auto Client::CallWithToken(absl::string_view app_id, F&& wechat_call,
                           TokenKind kind)
    -> absl::StatusOr<
        std::decay_t<std::invoke_result_t<F&, const std::string&>>> {
  using Result = std::decay_t<std::invoke_result_t<F&, const std::string&>>;
  absl::StatusOr<Token> token = GetToken(app_id, kind);
  if (!token.ok()) return token.status();
  Result first = wechat_call(static_cast<const std::string&>(token->value));
  const int errcode = static_cast<int>(first.errcode);
  if (!IsInvalidTokenErrcode(errcode)) {
    return absl::StatusOr<Result>(std::move(first));
  }
  token = ReportInvalid(app_id, kind, token->value, errcode);
  if (!token.ok()) return token.status();
  return absl::StatusOr<Result>(
      wechat_call(static_cast<const std::string&>(token->value)));
}

}  // namespace wxtoken

#endif  // WXTOKEN_CLIENT_INCLUDE_WXTOKEN_CLIENT_H_
