#ifndef WXTOKEN_SERVER_TOKEN_REFRESH_ENGINE_H_
#define WXTOKEN_SERVER_TOKEN_REFRESH_ENGINE_H_

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/base/clock.h"
#include "server/base/vault.h"
#include "server/config/config.h"
#include "server/token/force_refresh.h"
#include "server/token/hour_window.h"
#include "server/token/observers.h"
#include "server/token/owner_view.h"
#include "server/token/refresh_policy.h"
#include "server/token/schedule.h"
#include "server/token/state_store.h"
#include "server/token/token_table.h"
#include "server/wechat/platform_event.h"
#include "server/wechat/upstream.h"

namespace wxtoken::server {

// The refresh worker's brain: owns every (app, kind)'s state, schedule,
// failures and ForceRefresh waiters, applies refresh_policy.h, and publishes
// what GetToken may serve into the TokenTable.
//
// Each request follows one path: its intent and spend are recorded in the
// StateStore, only then is it sent, and its answer is recorded again. So
// after a crash, a restart finds every unanswered request and never serves
// a value past what WeChat may have done meanwhile.
//
// With a shared store (replicas) only the lease holder sends requests; the
// others mirror the leader's records, and every replica serves a value only
// while its last confirming read says it may (ReplicaValidUntil).
//
// Single-threaded and never blocks: the worker thread calls it, and upstream
// answers and store completions come back on that same thread. Tests drive
// it directly with a fake clock, a fake upstream and a fake store.
class RefreshEngine final : public ReplicaListener {
 public:
  // Most ForceRefresh calls that may wait on one (app, kind); past it they
  // are answered RESOURCE_EXHAUSTED at once.
  static constexpr size_t kMaxWaitersPerToken = 1000;

  // `random01` returns values in [0, 1] for jitter. All references must
  // outlive the engine.
  RefreshEngine(const Config& config, const Clock& clock,
                UpstreamClient& upstream, TokenTable& table, StateStore& store,
                HealthSink& health, std::function<double()> random01 = {});
  RefreshEngine(const RefreshEngine&) = delete;
  RefreshEngine& operator=(const RefreshEngine&) = delete;

  // Not owned; must outlive the engine. Set before Start().
  void SetObserver(RefreshObserver* observer) { observer_ = observer; }

  // The (app, kind) entries the TokenTable must have for this config.
  static std::vector<TokenTable::Entry> TableEntries(const Config& config);
  // The kinds one app has: its access token, its tickets, and a platform's
  // pushed verify ticket.
  static std::vector<TokenKind> Kinds(const AppConfig& app);
  // Those GetToken serves: all but pushed ones.
  static std::vector<TokenKind> ServedKinds(const AppConfig& app);

  // Loads the stored state, publishes what is still servable and schedules
  // the first requests.
  void Start();

  // Starts every request that is due, as far as upstream.max_concurrency
  // allows, and updates health for values whose validity ended.
  void RunDue();

  // When RunDue() next has something to do.
  SteadyTime NextWakeup() const;

  // DESIGN.md "ForceRefresh": answers through command.done, at once or when
  // the request it waits for ends.
  void ForceRefresh(ForceRefreshCommand command);

  // Shutdown: no request starts any more, waiting ForceRefresh calls are
  // answered UNAVAILABLE; requests in flight finish and are recorded.
  void BeginShutdown();

  // Nothing is being recorded, in flight or written.
  bool Quiescent() const;

  // A config reload rotated the app's AppSecret: the next fetch uses
  // `secret`, and a credential error (of a request sent with the old one,
  // or answered meanwhile) is retried at once instead of after
  // permanent_retry.
  void UpdateSecret(const std::string& app_id, const std::string& secret);

  // A config reload added an app: it is served and fetched as an app of the
  // config at Start() is, from the stored record read earlier (at Start(),
  // or a replica's reads) when there is one: its day's spend, unanswered
  // requests and a value still valid come back with it.
  void AddApp(const AppConfig& app);

  // A config reload removed an app: GetToken and WatchToken answer
  // NOT_FOUND from now on, and so do ForceRefresh calls waiting on it.
  // Nothing more is sent for it; a request already sent is answered and
  // recorded (WeChat counted it) but never served. Its stored record stays,
  // so adding the app again keeps its day's spend and any unanswered
  // request: a removal never frees budget or forgets a revocation.
  void RemoveApp(const std::string& app_id);

  // A platform's component_verify_ticket that WeChat pushed, created at
  // `created` (DESIGN.md "Third-party platforms"). A newer one than the
  // stored replaces it, and the component token waiting for it is fetched.
  // `done` runs once what the push carries is durable (OK: a ticket not
  // newer changes nothing and is OK once the stored one is durable), or
  // with why not: NOT_FOUND for an unknown platform, INVALID_ARGUMENT for
  // a CreateTime too far ahead, UNAVAILABLE when not stored (not the
  // leader, a failed write: WeChat pushes again).
  void SubmitVerifyTicket(const std::string& component_app_id,
                          std::string ticket, absl::Time created,
                          std::function<void(absl::Status)> done);
  // An event WeChat pushed to a platform: a verify ticket (as above), an
  // authorization (its code kept durably, then `done`, then exchanged at
  // once through api_query_auth), or its revocation (kept durably, then
  // `done`; GetToken answers FAILED_PRECONDITION from then on).
  void SubmitPlatformEvent(PlatformEvent event,
                           std::function<void(absl::Status)> done);

  // Operations (DESIGN.md "Operations", refresh_engine_owners.cc): a page
  // of owners in key order, and one owner (nullopt: not known here).
  OwnerPage ListOwners(const OwnerQuery& query) const;
  std::optional<OwnerView> DescribeOwner(const std::string& app_id) const;

  // ReplicaListener: what a shared store learns (called on this thread).
  void OnLeader(std::vector<AppRecord> records, uint64_t epoch,
                SteadyTime confirmed, SteadyTime first_request_at) override;
  void OnFollower() override;
  void OnRecords(std::vector<AppRecord> records, ReadKind kind,
                 SteadyTime read_start, SteadyTime confirmed) override;
  void OnConfirmed(SteadyTime confirmed) override;
  void OnUnservedApps(std::vector<std::string> app_ids) override;

 private:
  struct App;

  // One ForceRefresh caller waiting for a new value.
  struct Waiter {
    ForceRefreshCommand command;
    std::string bad_value;  // any other value answers it
    ForceOutcome outcome = ForceOutcome::kCoalesced;
  };

  // Everything the engine knows about one (app, kind).
  struct Slot {
    enum class Phase {
      kIdle,       // nothing in progress
      kRecording,  // intent and spend being made durable; nothing sent yet
      kInFlight,   // sent; waiting for WeChat's answer
    };
    // The request being recorded or in flight.
    struct Request {
      Spend spend = Spend::kScheduled;
      bool stable_force = false;  // stable_token force_refresh: true
      // The unanswered send times it recorded (a possibly-revoking one).
      std::optional<IntentRecord> intent;
      size_t base = 0;   // which base URL
      Instant recorded;  // when recording began (and its intent, if it set one)
      Instant sent;
      std::vector<std::string> inputs;  // the input values it is sent with
      std::optional<Instant> previous_stable_force;  // to undo Charge()
      int64_t day = 0;                               // likewise
      uint64_t term = 0;            // the lease term it was recorded in (term_)
      uint64_t epoch = 0;           // that term's fencing epoch
      std::string base_value;       // the value it would replace
      uint64_t secret_version = 0;  // the app's when it was sent
      FetchApi api = FetchApi::kClassic;  // as sent (an authorizer: which)
      std::string code;                   // kQueryAuth: the code it sent
      std::string refresh_token;          // kAuthorizerToken: the one it sent
      bool hour_charged = false;          // counted in the hourly windows
    };

    // Constant after construction.
    App* app = nullptr;
    TokenKind kind = TokenKind::kAccessToken;
    FetchApi api = FetchApi::kClassic;
    // A credential's recipe: its request is sent with the values of these
    // slots (a ticket: its app's access token), each servable at the time,
    // and `dependents` are the slots that take this one's value so.
    std::vector<Slot*> inputs;
    std::vector<Slot*> dependents;

    TokenState state;
    // The generation callers were last handed (PublishSlot).
    uint64_t published_generation = 0;
    // A pushed kind: the value the newest push replaced, while it lasts,
    // which a refusal of the newest falls back to (in memory only).
    std::string previous_pushed;
    Instant previous_expires;
    // A shared store: the intents it may hold as far as this replica knows
    // (the last one read, and those written since), which the next leader
    // write names as seen (TokenRecord::seen_intents).
    std::vector<SeenIntent> seen_intents;
    Phase phase = Phase::kIdle;
    Request request;
    std::optional<Instant> last_sent;

    // The next request: who wants it and how it is sent. When it is due
    // lives in the engine's schedule.
    Spend next_spend = Spend::kScheduled;
    bool next_stable_force = false;
    size_t next_base = 0;  // failover moves along the base URLs

    // The last failure, until a request succeeds.
    FetchResult failure;   // failure.failure == kNone: none
    absl::Time failed_at;  // when `failure` came
    int failures = 0;      // consecutive failed rounds
    bool settled = false;  // first request answered, or stored value loaded
    // The input it waits for: not servable, or being refreshed because
    // WeChat rejected it (WakeDependents and RefreshInput end the wait).
    Slot* awaited = nullptr;
    // A pushed credential: the value the store is known to hold (loaded,
    // or written since), so a repeated push is answered only once durable.
    std::string durable_value;

    std::vector<Waiter> waiters;
  };

  struct App {
    // A copy: apps come and go with reloads. Its secret is the one at
    // start; `secret` below is the current one.
    AppConfig config;
    // config.secret until a reload rotates it; counted by version.
    std::string secret;
    uint64_t secret_version = 0;
    AppCounters counters;
    // A WeCom app's ticket requests over the sliding hour: all of them, and
    // of the corp's ticket (its first app only). Durable in
    // AppRecord::owner, like `counters`.
    HourWindow ticket_hour;
    HourWindow corp_ticket_hour;
    std::array<Slot*, kTokenKindCount> slots{};  // null: kind not configured
    // When the last read that confirmed this replica's copy started
    // (ReplicaValidUntil); InfiniteFuture() with a store of one.
    SteadyTime confirmed = SteadyTime::InfiniteFuture();
    int writes_in_flight = 0;
    SteadyTime last_write_done = SteadyTime::InfinitePast();
    int write_failures = 0;  // consecutive: the rewrite's backoff
    bool serving = false;
    // Removed by a reload: nothing is scheduled or published any more.
    bool removed = false;
    // A follower: the leader does not have it configured, so nothing
    // refreshes it (ReplicaListener::OnUnservedApps).
    bool unserved = false;

    // A platform's authorizer (Api::kAuthorizer), discovered rather than
    // configured. Its credentials live here in plaintext and are stored
    // only sealed (AppRecord::owner); they are never logged.
    struct Authorizer {
      // User-provided: clang cannot default-construct a nested class with
      // member initializers inside std::optional of the enclosing class.
      Authorizer() {}
      std::string platform;  // its component_app_id
      std::string authorizer_app_id;
      // What its next api_authorizer_token is sent with, and the one WeChat
      // rotated away from (kept for the overlap).
      std::string refresh_token;
      std::string previous_refresh_token;
      // The refresh token the store is known to hold: a rotated one is
      // durable before the token it came with is served.
      std::string durable_refresh_token;
      // An authorized push's code, until api_query_auth exchanged it.
      std::string code;
      bool revoked = false;  // an unauthorized push
      // List passes (Platform::ListPass::number): how many had started
      // when it became known, and the last that listed it or during which
      // an event touched it. A pass revokes only what it should have seen.
      uint64_t born_pass = 0;
      uint64_t listed_pass = 0;
      uint64_t touched_pass = 0;
      // 61023 (DESIGN.md): the refresh token WeChat refused, and how far
      // its recovery went: api_get_authorizer_info asked, then the list
      // pass numbered `recovery_pass` awaited; after it, needs_reauth.
      enum class Recovery { kNone, kInfo, kList };
      Recovery recovery = Recovery::kNone;
      std::string refused;
      uint64_t recovery_pass = 0;
      // Where the refresh token held came from when it was recovered
      // ("previous", "info", "list"), until a request succeeds with it.
      std::string recovered_via;
      // A suite's corp (Api::kSuiteCorp): `refresh_token` is its permanent
      // code, which never rotates. Just installed: its first token is
      // fetched at once, used or not.
      bool just_installed = false;
      // A suite's corp: when its permanent code arrived (get_permanent_
      // code's answer; InfinitePast: before this was kept). Orders its
      // installations: a copy of an earlier one (a stale replica, a store
      // restored from an older snapshot, a cancel_auth WeCom retries from
      // before it) never replaces or revokes a later one.
      absl::Time installed_at = absl::InfinitePast();
    };
    std::optional<Authorizer> authorizer;
    // A platform's owner: its first complete list pass is done (stored), so
    // an authorizer not known is NOT_FOUND rather than "takeover in
    // progress".
    bool takeover_done = false;
  };

  // An app removed while its last request or write may be out.
  struct Removed {
    std::unique_ptr<App> app;
    std::vector<std::unique_ptr<Slot>> slots;
  };

  // Creates an app's state and slots; nothing is scheduled or published.
  App& CreateApp(const AppConfig& config);

  // A configured platform: its owner's slots and the vault its authorizers'
  // credentials are sealed with.
  struct Platform {
    Platform(const PlatformConfig* config, Vault vault)
        : config(config), vault(std::move(vault)) {}
    const PlatformConfig* config = nullptr;
    Vault vault;
    // The api_get_authorizer_list pass (DESIGN.md "Third-party platforms").
    struct ListPass {
      uint64_t number = 0;  // passes started
      bool running = false;
      bool in_flight = false;
      uint64_t term = 0;  // the lease term its page was sent in
      int64_t offset = 0;
      int64_t first_total = -1;  // total_count of its first page
      int64_t listed = 0;
      int64_t added = 0;
      int failures = 0;
      bool waiting_for_token = false;  // due, but no component token yet
      Instant started;
      SteadyTime next = SteadyTime::InfinitePast();  // when one is due
    } pass;
    // "platforms[i].daily_budget" ("wecom.suites[i]."): named when an
    // owner's day is spent.
    std::string budget_name;
    // A suite's create_auth codes, durable (sealed in its owner's record)
    // until get_permanent_code exchanged them (refresh_engine_suites.cc).
    struct CodeExchange {
      std::vector<std::string> codes;  // oldest first; never logged
      // The TimeStamp WeCom gave each code's create_auth (in memory only:
      // a code read back from the store has none).
      absl::flat_hash_map<std::string, absl::Time> stamped;
      // The last codes exchanged or refused (in memory only): a read of a
      // record written before one ended, or WeCom pushing it again, never
      // brings it back.
      std::deque<std::string> finished;
      bool in_flight = false;
      int failures = 0;  // consecutive: the retry's backoff
      SteadyTime next = SteadyTime::InfinitePast();
      // The suite token WeCom refused for an exchange: not used again.
      std::string refused_token;
    } exchange;
    // Its authorizers' requests on Beijing day `day`, summed: what
    // platform_daily_budget caps. Each authorizer's own count is durable
    // with its intent, so the sum survives restarts without a record.
    int64_t spend_day = 0;
    int64_t authorizer_fetches = 0;
  };
  // The authorizer `app_id` ("<platform>/<authorizer>") of a configured
  // platform: created (served, scheduled) when it is not known yet; null
  // for any other key.
  App* DiscoverAuthorizer(const std::string& app_id);
  // The authorizer `event` names (created when new), or null with `done`
  // answered when this replica may not take it.
  App* AuthorizerOf(const PlatformEvent& event,
                    std::function<void(absl::Status)>& done);
  void SubmitAuthorization(const PlatformEvent& event,
                           std::function<void(absl::Status)> done);
  void SubmitUnauthorization(const PlatformEvent& event,
                             std::function<void(absl::Status)> done);
  // The sealed AppRecord::owner fields of an authorizer, and back:
  // `mirror` (a follower reading the leader's latest) clears a field the
  // record lacks, else the record only adds.
  void PutOwner(const App& app, AppRecord& record) const;
  // Returns whether the store lacks what is held (a later installation);
  // `installed_again`: the record brought a later installation of a suite's
  // corp than the one held, whose values are ended.
  bool TakeOwner(App& app, const AppRecord& record, bool mirror,
                 bool* installed_again = nullptr);
  // A suite corp's AppRecord::owner installed_at; InfinitePast() if none.
  static absl::Time StoredInstallation(const AppRecord& record);
  // Fills an authorizer's request: the code, else its refresh token.
  void FillAuthorizerRequest(App& app, FetchRequest& request);
  // A rotated refresh token, an exchanged code, a refused refresh token.
  void OnAuthorizerAnswer(App& app, const FetchResult& result, Instant now);
  // WeChat refused `refused` (61023): the previous one, then
  // api_get_authorizer_info, then a list pass; then needs_reauth.
  void RecoverRefreshToken(App& app, const std::string& refused, Instant now);
  void OnAuthorizerInfo(const std::string& app_id, FetchResult result);
  // An authorizer awaits the next list pass for its refresh token.
  void AwaitListPass(App& app, Instant now);
  // WeCom suites (refresh_engine_suites.cc). The suite `app_id` names, or
  // null.
  Platform* SuiteOf(const std::string& app_id);
  const Platform* SuiteOf(const std::string& app_id) const;
  // A create_auth's code: kept
  // durably in the suite's record, then `done`, then exchanged at once.
  void SubmitAuthCode(const PlatformEvent& event,
                      std::function<void(absl::Status)> done);
  // Leader: sends each suite's oldest code once its suite token is
  // servable, one at a time per suite.
  void RunCodeExchanges(Instant now);
  // `sent_with`: the suite token the exchange was sent with.
  void OnPermanentCode(const std::string& suite_id, const std::string& code,
                       const std::string& sent_with, uint64_t term,
                       FetchResult result);
  // A code is exchanged or refused: never sent again.
  static void FinishCode(Platform::CodeExchange& exchange,
                         const std::string& code);
  // A corp's get_corp_token refused its permanent code (40084).
  bool PermanentCodeRefused(const App& app) const;
  // A suite's codes in its AppRecord::owner (sealed), and back: `mirror`
  // (a follower reading the leader's latest) takes the record's, else the
  // union.
  void PutAuthCodes(const Platform& suite, const std::string& suite_id,
                    AppRecord& record) const;
  // True when the store lacks a code held here.
  bool TakeAuthCodes(Platform& suite, const std::string& suite_id,
                     const AppRecord& record, bool mirror);
  // Tells the observer the platform's view (its ticket, its authorizers by
  // state): after a push, an event or a list pass, never per request.
  void ReportPlatform(const std::string& platform_id);
  // A platform's or suite's pushed ticket: its owner's token's input.
  Slot* PushedTicket(const std::string& platform_id) const;
  PlatformView ViewOfPlatform(const std::string& platform_id) const;
  OwnerView ViewOf(const App& app, Instant now) const;
  OwnerState StateOf(const Slot& slot, Instant now) const;
  // Revokes an authorizer (unauthorized, or gone from a complete list):
  // nothing served or sent for it any more; `then` once stored.
  void Revoke(App& app, std::function<void(absl::Status)> then = {});
  // An event about it arrived during a list pass, which then leaves it be.
  void Touch(App& app);
  // WeChat (WeCom) ended the slot's value at once: never served again, here
  // or, once written, by any replica.
  void EndValue(Slot& slot, Instant now);
  // Why an authorizer's token cannot be served, or OK.
  absl::Status AuthorizerRefusal(const App& app) const;
  // Whether an authorizer was used (GetToken, WatchToken, ForceRefresh)
  // within its platform's idle_after: only then is it refreshed ahead.
  bool UsedRecently(const App& app, Instant now) const;
  // Leader: starts list pages that are due (a pass at start, once the
  // component token is servable, then every reconcile_interval).
  void RunListPasses(Instant now);
  // A platform's component token became servable: a pass waiting for it
  // goes now.
  void OnComponentToken(const std::string& platform_id, Instant now);
  void SendListPage(const std::string& platform_id, Platform& platform,
                    Instant now);
  void OnListPage(const std::string& platform_id, FetchResult result);
  void TakeListed(Platform& platform, const std::string& platform_id,
                  const ListedAuthorizer& listed);
  void EndListPass(const std::string& platform_id, Platform& platform,
                   Instant now);
  // Quota polls (refresh_engine_quota.cc): the leader asks
  // openapi/quota/get about each configured owner's token endpoints every
  // quota.poll_interval, one request at a time.
  void RunQuotaPolls(Instant now);
  void OnQuotaAnswer(const std::string& app_id, const std::string& cgi_path,
                     const FetchResult& result);
  struct QuotaRound {
    std::deque<std::pair<std::string, std::string>> queue;  // app, cgi_path
    bool in_flight = false;
    // When the next round starts; InfinitePast: none planned yet.
    SteadyTime next = SteadyTime::InfinitePast();
  } quota_;
  // The label an owner's metrics go by: an authorizer's is its platform's
  // (DESIGN.md "Owners": never a series per authorizer).
  std::string MetricOwner(const std::string& app_id) const;
  // WeCom (refresh_engine_wecom.cc). The corp's jsapi ticket: a slot of
  // its first app, published under every app of the corp.
  static bool IsCorpTicket(const Slot& slot);
  void PublishSlot(Slot& slot, const PublishedToken& published);
  // Why a WeCom ticket request of `spend` may not go now for the hourly
  // budgets (ForceRefresh may spend only part of them), with when it may
  // in `*resume`; OK otherwise, and for any other request.
  absl::Status HourRefusal(const Slot& slot, Spend spend, Instant now,
                           Instant* resume = nullptr) const;
  // Counts the request being recorded in the windows, and takes it back.
  void ChargeHour(Slot& slot, Instant now);
  void UndoHour(Slot& slot);
  // The windows in AppRecord::owner, and back: `mirror` (a follower
  // reading the leader's latest) takes the record's, else the union. True
  // when the store lacks a send held here.
  void PutTicketHours(const App& app, AppRecord& record) const;
  bool TakeTicketHours(App& app, const AppRecord& record, bool mirror);
  // Tells the store which apps are configured here.
  void AnnounceApps();
  // Whether the slot shows nothing sent since its request in flight: the
  // value it would replace stands, and no unanswered send is later than its
  // own (its own intent still among them).
  bool NothingSentSince(const Slot& slot) const;
  // Removed apps whose last request and write ended become stored records
  // (unconfigured_), and an app added again meanwhile starts.
  void ForgetFinishedRemovals();
  // Records of apps not configured here (or removed), as a read found
  // them: merged into what is kept unless `latest` (a follower's read of
  // a store that lost nothing).
  void KeepUnconfigured(const std::vector<AppRecord>& records, bool latest);
  void Keep(const AppRecord& record, bool latest);
  Slot* FindSlot(const std::string& app_id, TokenKind kind);
  Slot& AccessSlot(const App& app) const { return *app.slots[0]; }
  // Until when the slot's value may be handed out here.
  Instant ServableUntil(const Slot& slot, Instant now) const;
  bool Servable(const Slot& slot, Instant now) const;

  // What GetToken serves, and its answer when nothing is servable.
  PublishedToken MakePublished(const Slot& slot, Instant now) const;
  absl::Status UnavailableStatus(const Slot& slot) const;
  // A pushed credential's: none yet, or how old the newest is.
  absl::Status PushedUnavailable(const Slot& slot) const;
  absl::StatusOr<Token> Serve(const Slot& slot, Instant now) const;
  void PublishApp(App& app);

  void ScheduleRequest(Slot& slot, Instant at, Spend spend = Spend::kScheduled);
  void StartRequest(Slot& slot, Instant now);
  void Refuse(Slot& slot, const absl::Status& refusal, Instant now);
  void OnRecorded(Slot& slot, const absl::Status& status);
  void UndoRecording(Slot& slot);
  void Send(Slot& slot);
  void OnAnswer(Slot& slot, FetchResult result);
  void OnSuccess(Slot& slot, const FetchResult& result, Instant now);
  // api_start_push_ticket was accepted: the ticket comes by push; the next
  // probe no sooner than kVerifyTicketProbeAge from now.
  void OnPushRequested(Slot& slot, Instant now);
  // WeChat refused the pushed value `input` held when `slot` was sent: it
  // is dropped, and `slot` waits for the next push (asked for at once).
  void DropPushedInput(Slot& slot, Slot& input, const std::string& refused,
                       Instant now);
  void ApplySuccess(Slot& slot, const FetchResult& result, Instant now);
  void OnTransientFailure(Slot& slot, const FetchResult& result, Instant now);
  void OnCleanFailure(Slot& slot, const FetchResult& result, Instant now);
  // WeChat rejected the value of `slot`'s input `index` that it was sent
  // with: refreshed as a caller's ForceRefresh would be, then `slot` again.
  void RefreshInput(Slot& slot, size_t index);
  // `input` is servable (again): the slots waiting for it go now.
  void WakeDependents(Slot& input, Instant now);
  // Why `slot` cannot be sent now for want of an input, or OK; `awaited`
  // set to the input it waits for.
  absl::Status MissingInput(const Slot& slot, Instant now,
                            Slot** awaited = nullptr) const;

  // Why a ForceRefresh may not fetch now, or OK.
  absl::Status ForceRefusal(Slot& slot, Instant now);
  // Budgets (refresh_engine_budget.cc). OK when a request of `app` may go
  // now: its own day (refresh.daily_budget, or its platform's
  // daily_budget), then for an authorizer its platform's
  // platform_daily_budget; RESOURCE_EXHAUSTED naming the limit otherwise.
  absl::Status SpendRefusal(App& app, Spend spend, bool stable_force,
                            Instant now);
  DailyBudget BudgetOf(const App& app) const;
  // An authorizer's counters changed from `before`: its platform's sum
  // follows.
  void Recount(const App& app, const AppCounters& before);
  void AnswerWaiters(Slot& slot, const absl::StatusOr<Token>& answer,
                     bool only_satisfied);
  // Answers a ForceRefresh caller, about the key it asked for.
  void Answer(ForceRefreshCommand& command, const absl::StatusOr<Token>& answer,
              ForceOutcome outcome);

  void WriteApp(App& app, std::function<void(absl::Status)> then = {});
  // What a shared store kept of a write (`sent`): a generation and epoch it
  // assigned, an intent it merged in, a token it kept instead of a heal's.
  void AdoptWritten(App& app, const AppRecord& sent, const AppRecord& stored);
  // Pushed credentials: what `stored` holds is durable.
  void NoteDurable(App& app, const AppRecord& stored);
  AppRecord ToRecord(const App& app) const;
  void Load(const AppRecord& record);
  // Takes in the store's copy of `record`'s app. When `latest` (a follower
  // reading a store that lost nothing) it is the leader's and taken as it
  // is; else merged (MergeStoredToken). True when this replica holds
  // something the store lacks (a lost write), to be written back; sets
  // `*changed` when a value or an intent changed here.
  bool Adopt(const AppRecord& record, bool latest, bool* changed = nullptr);
  // The current lease's epoch as this replica knows it (0 unknown): what it
  // fetched is later than any other token (FetchedLater).
  uint64_t CurrentTerm() const;
  // Leader: an idle slot's next request brought forward when its state
  // (changed by a read) calls for it sooner; who asked for it stays.
  void RescheduleEarlier(Slot& slot, Instant now);
  // The soonest a leader may send: not before first_request_at_.
  Instant EarliestSend(Instant now) const;
  // Leader: every idle slot's next request from its state, no sooner than
  // first_request_at_.
  void ScheduleAll(Instant now);
  void UpdateHealth(App& app, Instant now);
  // The "every app serving" view, after an app's changed or apps changed.
  void UpdateAggregateHealth();

  // Constant after construction.
  const Config& config_;
  const RefreshConfig& refresh_;
  const Clock& clock_;
  UpstreamClient& upstream_;
  TokenTable& table_;
  StateStore& store_;
  HealthSink& health_;
  std::function<double()> random01_;
  RefreshObserver default_observer_;
  RefreshObserver* observer_ = &default_observer_;

  absl::flat_hash_map<std::string, Platform> platforms_;
  // A WeCom corp's first app, to the other apps that serve its jsapi
  // ticket (AppConfig::corp_ticket_from). Fixed: `wecom` needs a restart.
  absl::flat_hash_map<std::string, std::vector<std::string>>
      corp_ticket_readers_;
  // A shared store: the last confirmation of every app's copy, which an
  // authorizer this replica creates (its record is this replica's own) has
  // from the start.
  SteadyTime last_confirmed_ = SteadyTime::InfinitePast();
  int authorizers_ = 0;  // apps_ that are authorizers (no health names)

  // Slots and apps never move once created (callbacks hold pointers).
  std::vector<std::unique_ptr<Slot>> slots_;
  absl::flat_hash_map<std::string, std::unique_ptr<App>> apps_;
  // Removed by a reload, until their last request and write end.
  absl::flat_hash_map<std::string, Removed> removed_;
  // Added again while still in removed_: started when it is forgotten.
  absl::flat_hash_map<std::string, AppConfig> readded_;
  // The stored records of apps not configured (read at Start(), by a
  // replica's reads, or left by a removal), for a reload that adds them.
  absl::flat_hash_map<std::string, AppRecord> unconfigured_;

  Schedule<Slot> due_;         // the next request of each slot
  Schedule<App> health_due_;   // when an app's access token stops serving
  Schedule<App> rewrite_due_;  // retries of failed state writes
  int busy_ = 0;               // slots recording or in flight
  int writes_in_flight_ = 0;
  int apps_serving_ = 0;
  int access_unsettled_ = 0;
  bool startup_reported_ = false;
  std::optional<bool> all_serving_;
  bool shutting_down_ = false;
  // A store of one: always the leader. Shared: as the store says.
  const bool shared_;
  bool leader_;
  SteadyTime first_request_at_ = SteadyTime::InfinitePast();
  // Counts lease terms: an answer to a request of an earlier term is not
  // this term's to store.
  uint64_t term_ = 0;
  // The current term's fencing epoch: what this replica fetches in it ranks
  // above every value fetched under an earlier lease (FetchedLater).
  uint64_t lease_epoch_ = 0;
  // Apps were added or removed since the store was last told (AnnounceApps).
  bool apps_changed_ = false;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_TOKEN_REFRESH_ENGINE_H_
