#ifndef WXTOKEN_SERVER_TOKEN_REFRESH_ENGINE_H_
#define WXTOKEN_SERVER_TOKEN_REFRESH_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/base/clock.h"
#include "server/config/config.h"
#include "server/store/token_store.h"
#include "server/token/token.h"
#include "server/token/token_table.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server {

// Receives health changes computed by the engine (DESIGN.md "Health").
class HealthSink {
 public:
  virtual ~HealthSink() = default;
  // The app holds a valid access token and has no credential error.
  virtual void SetAppServing(const std::string& app_id, bool serving) = 0;
  // Every configured app is serving.
  virtual void SetAllAppsServing(bool serving) = 0;
  // Every app has had its first fetch attempt or a stored token. Called once.
  virtual void SetStartupDone() = 0;
};

enum class ForceOutcome { kRefreshed, kAlreadyNewer, kCoalesced };

// Learns what the engine does, for metrics. Called on the worker thread;
// implementations must not block. The defaults ignore everything.
class RefreshObserver {
 public:
  virtual ~RefreshObserver() = default;
  // An upstream fetch started; `fetches_today` counts it (Beijing day).
  virtual void OnFetchStarted(const std::string& /*app_id*/,
                              int /*fetches_today*/) {}
  // An upstream fetch ended with `result`.
  virtual void OnFetchDone(const std::string& /*app_id*/, FetchApi /*api*/,
                           const FetchResult& /*result*/) {}
  // A ForceRefresh was answered: `outcome` when ok, else the error status.
  virtual void OnForceRefreshAnswered(const std::string& /*app_id*/,
                                      const absl::Status& /*status*/,
                                      ForceOutcome /*outcome*/) {}
};

struct ForceRefreshReply {
  Token token;
  ForceOutcome outcome = ForceOutcome::kRefreshed;
};

using ForceRefreshCallback =
    std::function<void(absl::StatusOr<ForceRefreshReply>)>;

struct ForceRefreshCommand {
  std::string app_id;
  TokenKind kind = TokenKind::kAccessToken;
  std::string stale_value;  // empty: whatever is current is bad
  int wechat_errcode = 0;
  ForceRefreshCallback done;
};

// The refresh worker's brain: owns every (app, kind)'s value, schedule,
// backoff, budget and ForceRefresh waiters, and publishes what GetToken may
// serve into the TokenTable. Single-threaded and never blocks: the worker
// thread calls it, and upstream completions arrive through
// UpstreamClient::Poll() on that same thread. Tests drive it directly with a
// fake clock and a fake upstream.
class RefreshEngine {
 public:
  // `random01` returns values in [0, 1] for backoff jitter. All references
  // must outlive the engine.
  RefreshEngine(const Config& config, const Clock& clock,
                UpstreamClient& upstream, TokenTable& table, TokenStore& store,
                HealthSink& health, std::function<double()> random01 = {});

  // Not owned; must outlive the engine. Set before Start().
  void SetObserver(RefreshObserver* observer) { observer_ = observer; }
  RefreshEngine(const RefreshEngine&) = delete;
  RefreshEngine& operator=(const RefreshEngine&) = delete;

  // The (app, kind) entries the TokenTable must have for this config.
  static std::vector<TokenTable::Entry> TableEntries(const Config& config);

  // Loads stored values and schedules the first fetches.
  void Start();

  // Starts every fetch that is due and re-evaluates health.
  void RunDue();

  // When RunDue() next has something to do (a due fetch, or a value whose
  // validity ends and so changes health).
  absl::Time NextWakeup() const;

  // DESIGN.md "ForceRefresh": answers through command.done, at once or when
  // the fetch it waits for ends.
  void ForceRefresh(ForceRefreshCommand command);

  // Answers every waiting ForceRefresh with `status` (used at shutdown).
  void FailAllWaiters(const absl::Status& status);

 private:
  struct Waiter {
    ForceRefreshCallback done;
    ForceOutcome outcome;
  };
  void Answer(const std::string& app_id, ForceRefreshCallback& done,
              const absl::StatusOr<Token>& token, ForceOutcome outcome);

  // Everything the engine knows about one (app, kind).
  struct Slot {
    const AppConfig* app = nullptr;
    TokenKind kind = TokenKind::kAccessToken;

    std::optional<TokenValue> current;
    // Earliest send time of a fetch that may have made WeChat issue a newer
    // value we never received: `current` is revoked `overlap` after it.
    std::optional<absl::Time> revocation_clock;

    bool in_flight = false;
    bool in_flight_started_clock = false;  // this fetch set revocation_clock
    bool in_flight_force = false;          // stable force_refresh: true
    std::vector<Waiter> joined;   // answered when the in-flight fetch ends
    std::vector<Waiter> pending;  // waiting for the next fetch to start

    absl::Time next_attempt = absl::InfinitePast();
    std::optional<absl::Time> last_sent;
    std::optional<absl::Time> last_force_sent;  // stable force_refresh only
    bool use_force_next = false;                // stable only

    // Tickets only: fetched once the app's access token is valid again.
    bool waiting_for_access_token = false;
    std::string access_token_used;  // by the last ticket fetch

    bool settled = false;  // first attempt done, or stored value loaded
    int failures = 0;
    FailureClass last_failure = FailureClass::kNone;
    int last_errcode = 0;
    std::string last_detail;
  };

  struct Budget {
    int64_t day = -1;
    int used = 0;
  };

  Slot* FindSlot(const std::string& app_id, TokenKind kind);
  static std::vector<TokenKind> KindsOf(const AppConfig& app);
  static FetchApi ApiOf(const Slot& slot);
  bool Revokes(const Slot& slot, bool force) const;
  absl::Time ValidUntil(const Slot& slot) const;
  absl::Status UnavailableStatus(const Slot& slot, absl::Time now) const;
  // What GetToken may serve of `slot` at `now`.
  PublishedToken StateOf(const Slot& slot, absl::Time now) const;
  absl::StatusOr<Token> Serve(const Slot& slot, absl::Time now) const;
  void Publish(const Slot& slot);
  bool SpendBudget(const std::string& app_id, absl::Time now);
  int BudgetLeft(const std::string& app_id, absl::Time now);

  void StartFetch(Slot& slot, absl::Time now);
  void OnFetchDone(Slot& slot, FetchResult result);
  void OnFetchSucceeded(Slot& slot, const FetchResult& result, absl::Time sent,
                        absl::Time now);
  void OnFetchFailed(Slot& slot, const FetchResult& result, absl::Time now);
  // ForceRefresh without starting fetches.
  void RequestRefresh(ForceRefreshCommand command);
  void WakeTickets(const std::string& app_id, absl::Time now);
  void RefreshAccessTokenForTicket(Slot& ticket);
  void ReplyToWaiters(const std::string& app_id, std::vector<Waiter> waiters,
                      const absl::StatusOr<Token>& token);
  void UpdateHealth(absl::Time now);

  // Constant after construction.
  const Config& config_;
  const Clock& clock_;
  UpstreamClient& upstream_;
  TokenTable& table_;
  TokenStore& store_;
  HealthSink& health_;
  std::function<double()> random01_;
  RefreshObserver default_observer_;
  RefreshObserver* observer_ = &default_observer_;

  // Slots never move once created (the upstream callbacks hold pointers).
  std::vector<std::unique_ptr<Slot>> slots_;
  absl::flat_hash_map<std::string, Budget> budgets_;
  absl::flat_hash_map<std::string, bool> app_serving_;
  std::optional<bool> all_serving_;
  bool startup_reported_ = false;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_REFRESH_ENGINE_H_
