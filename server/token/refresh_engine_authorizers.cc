// A platform's authorizers (DESIGN.md "Third-party platforms"): owners
// discovered from WeChat's pushes and the store rather than configured.
// Each is an app whose access token is a recipe with the platform's
// component token as input and, as a credential of its own, a refresh
// token that no secret can regenerate: sealed at rest, a rotated one
// durable before the token it came with is served.
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_engine_internal.h"

namespace wxtoken::server {

using refresh_engine_internal::AnswerWhenStored;
using refresh_engine_internal::NotTheLeader;
using refresh_engine_internal::ShuttingDown;
using refresh_engine_internal::TimeText;

namespace {

// AppRecord::owner's names.
constexpr char kRefreshToken[] = "refresh_token";
constexpr char kPreviousRefreshToken[] = "previous_refresh_token";
constexpr char kCode[] = "code";
constexpr char kRevoked[] = "revoked";
constexpr char kInstalledAt[] = "installed_at";  // unix microseconds
constexpr char kListed[] = "listed";             // a platform's: taken over

}  // namespace

RefreshEngine::App* RefreshEngine::DiscoverAuthorizer(
    const std::string& app_id) {
  if (auto it = apps_.find(app_id); it != apps_.end()) {
    return it->second->authorizer ? it->second.get() : nullptr;
  }
  const size_t slash = app_id.find('/');
  if (slash == std::string::npos) return nullptr;
  auto platform = platforms_.find(app_id.substr(0, slash));
  if (platform == platforms_.end() || removed_.contains(app_id)) {
    return nullptr;
  }
  AppConfig config;
  config.app_id = app_id;
  config.api = platform->second.config->wecom_suite
                   ? AppConfig::Api::kSuiteCorp
                   : AppConfig::Api::kAuthorizer;
  config.tickets = platform->second.config->authorizer_tickets;
  App& app = CreateApp(config);
  if (shared_) app.confirmed = last_confirmed_;
  app.authorizer.emplace();
  app.authorizer->platform = platform->first;
  app.authorizer->born_pass = platform->second.pass.number;
  app.authorizer->authorizer_app_id = app_id.substr(slash + 1);
  ++authorizers_;
  // Not what startup waits for: it is served once it has a token.
  Slot& access = AccessSlot(app);
  access.settled = true;
  --access_unsettled_;
  table_.AddApp(app_id, ServedKinds(config), /*discovered=*/true);
  return &app;
}

void RefreshEngine::SubmitPlatformEvent(
    PlatformEvent event, std::function<void(absl::Status)> done) {
  switch (event.type) {
    case PlatformEvent::Type::kVerifyTicket:
      SubmitVerifyTicket(event.component_app_id, std::move(event.ticket),
                         event.create_time, std::move(done));
      return;
    case PlatformEvent::Type::kAuthorized:
    case PlatformEvent::Type::kUpdateAuthorized:
      // A suite's create_auth names no corp until its code is exchanged.
      if (event.authorizer_app_id.empty()) {
        SubmitAuthCode(event, std::move(done));
      } else {
        SubmitAuthorization(event, std::move(done));
      }
      return;
    case PlatformEvent::Type::kUnauthorized:
      SubmitUnauthorization(event, std::move(done));
      return;
    case PlatformEvent::Type::kOther:
      done(absl::OkStatus());  // nothing to keep
      return;
  }
}

RefreshEngine::App* RefreshEngine::AuthorizerOf(
    const PlatformEvent& event, std::function<void(absl::Status)>& done) {
  if (shutting_down_) {
    done(ShuttingDown());
    return nullptr;
  }
  if (!leader_) {
    done(NotTheLeader());
    return nullptr;
  }
  App* app = DiscoverAuthorizer(
      absl::StrCat(event.component_app_id, "/", event.authorizer_app_id));
  if (app == nullptr) {
    done(absl::NotFoundError(
        absl::StrCat("component_app_id: no platform or suite \"",
                     event.component_app_id, "\" is configured")));
    return nullptr;
  }
  Touch(*app);
  return app;
}

void RefreshEngine::SubmitAuthorization(
    const PlatformEvent& event, std::function<void(absl::Status)> done) {
  App* app = AuthorizerOf(event, done);
  if (app == nullptr) return;
  const bool was_revoked = app->authorizer->revoked;
  app->authorizer->code = event.authorization_code;
  app->authorizer->revoked = false;
  Log(LogLevel::kInfo,
      was_revoked ? "an authorizer authorized the platform again"
                  : "an authorizer authorized the platform",
      {{"app_id", app->config.app_id}, {"info_type", event.info_type}});
  // Answered once the code is durable; exchanged at once, whatever the
  // write's fate (a code lives minutes: waiting for a retry wastes it).
  WriteApp(*app, AnswerWhenStored(std::move(done), "authorization"));
  ReportPlatform(app->authorizer->platform);
  const Instant now = clock_.InstantNow();
  for (Slot* slot : app->slots) {
    if (slot == nullptr) continue;
    // The access token first; its tickets follow it (WakeDependents).
    if (slot->kind == TokenKind::kAccessToken) {
      ScheduleRequest(*slot, EarliestSend(now));
    }
  }
  PublishApp(*app);
}

void RefreshEngine::SubmitUnauthorization(
    const PlatformEvent& event, std::function<void(absl::Status)> done) {
  App* app = AuthorizerOf(event, done);
  if (app == nullptr) return;
  if (app->config.api == AppConfig::Api::kSuiteCorp &&
      event.create_time + absl::Seconds(1) <= app->authorizer->installed_at) {
    // Stamped (whole seconds, WeCom's clock) before the corp's latest
    // installation: WeCom retrying a cancel_auth we did not take in time,
    // about the installation since replaced. Taking it would revoke the
    // new one, whose permanent code WeCom gives only once.
    Log(LogLevel::kWarning,
        "a cancel_auth from before the corp's latest installation; ignored",
        {{"app_id", app->config.app_id},
         {"cancelled_at", TimeText(event.create_time)},
         {"installed_at", TimeText(app->authorizer->installed_at)}});
    done(absl::OkStatus());
    return;
  }
  Log(LogLevel::kWarning,
      "an authorizer revoked its authorization; its tokens are no longer "
      "served",
      {{"app_id", app->config.app_id}});
  Revoke(*app, AnswerWhenStored(std::move(done), "revocation"));
  ReportPlatform(app->authorizer->platform);
}

void RefreshEngine::Revoke(App& app, std::function<void(absl::Status)> then) {
  App::Authorizer& authorizer = *app.authorizer;
  authorizer.revoked = true;
  authorizer.code.clear();
  const absl::Status refusal = AuthorizerRefusal(app);
  const Instant now = clock_.InstantNow();
  for (Slot* slot : app.slots) {
    if (slot == nullptr) continue;
    due_.Clear(slot);
    slot->awaited = nullptr;
    // WeChat revoked its values at once: none is ever served again, even
    // once it authorizes anew.
    EndValue(*slot, now);
    AnswerWaiters(*slot, refusal, false);
  }
  WriteApp(app, std::move(then));
  // GetToken refuses at once, and watch streams end with that status.
  PublishApp(app);
}

void RefreshEngine::EndValue(Slot& slot, Instant now) {
  // Ended, not dropped: a store that keeps a value its write lacks (Redis
  // never clears one) would bring a dropped value back, and a follower
  // would serve it. An end is written like any other and merges as the
  // earlier one.
  TokenState& state = slot.state;
  if (state.has_value()) state.expires = std::min(state.expires, now);
}

void RefreshEngine::Touch(App& app) {
  const Platform& platform = platforms_.at(app.authorizer->platform);
  if (platform.pass.running) {
    app.authorizer->touched_pass = platform.pass.number;
  }
}

absl::Status RefreshEngine::AuthorizerRefusal(const App& app) const {
  if (!app.authorizer) return absl::OkStatus();
  const App::Authorizer& authorizer = *app.authorizer;
  const bool suite = app.config.api == AppConfig::Api::kSuiteCorp;
  if (authorizer.revoked && suite) {
    return absl::FailedPreconditionError(absl::StrCat(
        "app \"", app.config.app_id, "\": the corp ",
        authorizer.authorizer_app_id, " uninstalled suite ",
        authorizer.platform, " (cancel_auth); it must install it again"));
  }
  if (PermanentCodeRefused(app)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "app \"", app.config.app_id,
        "\": needs_reauth: WeCom refused its permanent code (40084); the "
        "corp must install suite ",
        authorizer.platform, " again"));
  }
  if (authorizer.revoked) {
    return absl::FailedPreconditionError(absl::StrCat(
        "app \"", app.config.app_id, "\": the account ",
        authorizer.authorizer_app_id, " revoked its authorization of platform ",
        authorizer.platform, " (unauthorized); it must authorize again"));
  }
  if (authorizer.recovery == App::Authorizer::Recovery::kList &&
      authorizer.refresh_token.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "app \"", app.config.app_id,
        "\": WeChat refused its refresh token (61023); waiting for the "
        "authorizer list pass to recover it"));
  }
  if (authorizer.code.empty() && authorizer.refresh_token.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "app \"", app.config.app_id,
        "\": needs_reauth: no refresh token is held for it (",
        authorizer.refused.empty() ? "none was ever given"
                                   : "WeChat refused the last one: 61023",
        "); the account must authorize the platform again"));
  }
  return absl::OkStatus();
}

void RefreshEngine::FillAuthorizerRequest(App& app, FetchRequest& request) {
  App::Authorizer& authorizer = *app.authorizer;
  request.app_id = authorizer.platform;
  request.authorizer_app_id = authorizer.authorizer_app_id;
  if (app.config.api == AppConfig::Api::kSuiteCorp) {
    request.api = FetchApi::kWeComCorpToken;
    request.refresh_token = authorizer.refresh_token;  // the permanent code
  } else if (!authorizer.code.empty()) {
    request.api = FetchApi::kQueryAuth;
    request.authorization_code = authorizer.code;
  } else {
    request.api = FetchApi::kAuthorizerToken;
    request.refresh_token = authorizer.refresh_token;
  }
}

void RefreshEngine::OnAuthorizerAnswer(App& app, const FetchResult& result,
                                       Instant now) {
  App::Authorizer& authorizer = *app.authorizer;
  const Slot::Request& request = AccessSlot(app).request;
  if (request.api == FetchApi::kAuthorizerToken && result.errcode == 61023) {
    RecoverRefreshToken(app, request.refresh_token, now);
    return;
  }
  if (request.api == FetchApi::kWeComCorpToken) {
    // (An answer for a permanent code since replaced never gets here.)
    authorizer.just_installed = false;
    if (result.errcode == 40084) {
      // Kept, sealed, never dropped: only a new create_auth replaces it.
      // A restart tries it once more.
      authorizer.refused = request.refresh_token;
      Log(LogLevel::kError,
          "WeCom refused a corp's permanent code (40084); nothing more is "
          "sent for it until the corp installs the suite again",
          {{"app_id", app.config.app_id},
           {"permanent_code", Fingerprint(request.refresh_token)}});
      AnswerWaiters(AccessSlot(app), AuthorizerRefusal(app), false);
      ReportPlatform(authorizer.platform);
    } else if (result.failure == FailureClass::kNone) {
      authorizer.refused.clear();
    }
    return;
  }
  if (result.failure == FailureClass::kNone) {
    const bool recovering =
        authorizer.recovery != App::Authorizer::Recovery::kNone ||
        !authorizer.recovered_via.empty();
    authorizer.recovery = App::Authorizer::Recovery::kNone;
    authorizer.refused.clear();
    if (!authorizer.recovered_via.empty()) {
      observer_->OnRefreshTokenRecovered(authorizer.platform,
                                         authorizer.recovered_via);
      authorizer.recovered_via.clear();
    }
    if (recovering) ReportPlatform(authorizer.platform);
  }
  if (request.api == FetchApi::kQueryAuth && authorizer.code == request.code &&
      (result.failure == FailureClass::kNone ||
       result.failure == FailureClass::kPermanent)) {
    // Exchanged, or refused for good (61009: used or expired).
    authorizer.code.clear();
  }
  // Never replaced by an empty one; a different one is the newest.
  if (result.failure != FailureClass::kNone || result.refresh_token.empty() ||
      result.refresh_token == authorizer.refresh_token) {
    return;
  }
  if (!authorizer.refresh_token.empty()) {
    authorizer.previous_refresh_token = std::move(authorizer.refresh_token);
  }
  authorizer.refresh_token = result.refresh_token;
  if (!authorizer.previous_refresh_token.empty()) {
    observer_->OnRefreshTokenRotated(authorizer.platform);
  }
  Log(LogLevel::kInfo,
      authorizer.previous_refresh_token.empty()
          ? "an authorizer's refresh token is held"
          : "WeChat rotated an authorizer's refresh token; the new one is "
            "stored before the token it came with is served",
      {{"app_id", app.config.app_id},
       {"refresh_token", Fingerprint(authorizer.refresh_token)}});
}

void RefreshEngine::PutOwner(const App& app, AppRecord& record) const {
  if (const Platform* suite = SuiteOf(app.config.app_id)) {
    PutAuthCodes(*suite, app.config.app_id, record);
    return;
  }
  if (app.takeover_done) record.owner.emplace(kListed, std::string(1, '1'));
  if (!app.authorizer) return;
  const App::Authorizer& authorizer = *app.authorizer;
  const Vault& vault = platforms_.at(authorizer.platform).vault;
  // Bound to the owner key: a sealed value moved to another record does
  // not open there.
  const std::string& context = app.config.app_id;
  auto seal = [&](const char* name, const std::string& value) {
    if (!value.empty()) record.owner[name] = vault.Seal(value, context);
  };
  seal(kRefreshToken, authorizer.refresh_token);
  seal(kPreviousRefreshToken, authorizer.previous_refresh_token);
  seal(kCode, authorizer.code);
  if (authorizer.revoked) record.owner.emplace(kRevoked, std::string(1, '1'));
  if (authorizer.installed_at != absl::InfinitePast()) {
    record.owner.emplace(
        kInstalledAt,
        absl::StrCat(absl::ToUnixMicros(authorizer.installed_at)));
  }
}

bool RefreshEngine::TakeOwner(App& app, const AppRecord& record, bool mirror,
                              bool* installed_again) {
  if (Platform* suite = SuiteOf(app.config.app_id)) {
    return TakeAuthCodes(*suite, app.config.app_id, record, mirror);
  }
  if (platforms_.contains(app.config.app_id) && !app.takeover_done &&
      record.owner.contains(kListed)) {
    app.takeover_done = true;
    table_.SetTakeoverPending(app.config.app_id, false);
  }
  if (!app.authorizer) return false;
  App::Authorizer& authorizer = *app.authorizer;
  // A suite's corp: the later installation wins, whoever holds it.
  bool same_installation = false;
  bool replaced = false;  // a later installation than the one held
  if (app.config.api == AppConfig::Api::kSuiteCorp) {
    const absl::Time stored = StoredInstallation(record);
    if (authorizer.installed_at > stored) {
      // The store holds an earlier one (this replica's write of the later
      // was lost, or refused when the lease changed): kept, written back.
      return true;
    }
    if (authorizer.installed_at < stored) {
      mirror = true;  // the stored installation, whole
      replaced = !authorizer.refresh_token.empty();
      authorizer.installed_at = stored;
    }
    same_installation = !mirror && stored != absl::InfinitePast();
  }
  const Vault& vault = platforms_.at(authorizer.platform).vault;
  auto open = [&](const char* name, std::string* out) {
    auto it = record.owner.find(name);
    if (it == record.owner.end()) {
      // The leader's writes replace every field: one it dropped (a code
      // exchanged, a previous token past its overlap) is gone. Anything
      // else merges, so a write the store lost cannot erase what is held.
      if (mirror) out->clear();
      return;
    }
    absl::StatusOr<std::string> value =
        vault.Open(it->second, app.config.app_id);
    if (!value.ok()) {
      // A key rolled out too early, or a damaged record: what is held
      // stays; the error names the key id, never a value.
      Log(LogLevel::kError, "cannot open a sealed credential; not used",
          {{"app_id", app.config.app_id},
           {"field", name},
           {"error", std::string(value.status().message())}});
      return;
    }
    *out = *std::move(value);
  };
  open(kRefreshToken, &authorizer.refresh_token);
  open(kPreviousRefreshToken, &authorizer.previous_refresh_token);
  open(kCode, &authorizer.code);
  const bool stored_revoked = record.owner.contains(kRevoked);
  // Within one installation a revocation is final: one the store lost is
  // kept, and written back.
  const bool store_lacks =
      same_installation && authorizer.revoked && !stored_revoked;
  authorizer.revoked = stored_revoked || store_lacks;
  // What the store holds is durable.
  authorizer.durable_refresh_token = authorizer.refresh_token;
  if (replaced) {
    // Installed again, by way of another replica: as OnPermanentCode does,
    // nothing held from the installation replaced is served (the record's
    // own tokens, if later, replace them as they merge).
    const Instant now = clock_.InstantNow();
    for (Slot* slot : app.slots) {
      if (slot != nullptr) EndValue(*slot, now);
    }
    authorizer.just_installed = true;
    if (installed_again != nullptr) *installed_again = true;
  }
  return store_lacks;
}

absl::Time RefreshEngine::StoredInstallation(const AppRecord& record) {
  int64_t micros = 0;
  auto it = record.owner.find(kInstalledAt);
  if (it == record.owner.end() || !absl::SimpleAtoi(it->second, &micros)) {
    return absl::InfinitePast();
  }
  return absl::FromUnixMicros(micros);
}

void RefreshEngine::RecoverRefreshToken(App& app, const std::string& refused,
                                        Instant now) {
  App::Authorizer& authorizer = *app.authorizer;
  Slot& slot = AccessSlot(app);
  authorizer.refused = refused;
  if (authorizer.refresh_token != refused) {
    // Another one came meanwhile (a push, a list pass): try that.
    ScheduleRequest(slot, now);
    return;
  }
  if (!authorizer.previous_refresh_token.empty() &&
      authorizer.previous_refresh_token != refused) {
    // A request whose answer (and rotation) was lost: the one it replaced
    // still works inside WeChat's grace.
    Log(LogLevel::kWarning,
        "WeChat refused an authorizer's refresh token (61023); trying the "
        "one it replaced",
        {{"app_id", app.config.app_id},
         {"refresh_token", Fingerprint(refused)}});
    authorizer.refresh_token = std::move(authorizer.previous_refresh_token);
    authorizer.previous_refresh_token.clear();
    authorizer.recovered_via = "previous";
    ScheduleRequest(slot, now);
    return;
  }
  using Recovery = App::Authorizer::Recovery;
  if (authorizer.recovery == Recovery::kNone) {
    // Once: WeChat may tell it again (and may answer an empty one).
    authorizer.recovery = Recovery::kInfo;
    auto owner = apps_.find(authorizer.platform);
    const Slot* component =
        owner == apps_.end() ? nullptr : &AccessSlot(*owner->second);
    if (component != nullptr && Servable(*component, now) && leader_) {
      Log(LogLevel::kWarning,
          "WeChat refused an authorizer's refresh token (61023); asking "
          "api_get_authorizer_info for it",
          {{"app_id", app.config.app_id}});
      FetchRequest request;
      request.app_id = authorizer.platform;
      request.api = FetchApi::kAuthorizerInfo;
      request.access_token = component->state.value;
      request.authorizer_app_id = authorizer.authorizer_app_id;
      ++busy_;
      upstream_.Start(std::move(request),
                      [this, app_id = app.config.app_id](FetchResult result) {
                        OnAuthorizerInfo(app_id, std::move(result));
                      });
      due_.Clear(&slot);
      return;
    }
  }
  if (authorizer.recovery != Recovery::kList) {
    AwaitListPass(app, now);
    return;
  }
  // Refused after the list pass too: only the account can fix it.
  authorizer.refresh_token.clear();
  authorizer.recovery = Recovery::kNone;
  Log(LogLevel::kError,
      "an authorizer's refresh token is refused and none could be recovered; "
      "it needs_reauth: nothing more is sent for it",
      {{"app_id", app.config.app_id}});
  AnswerWaiters(slot, AuthorizerRefusal(app), false);
  ReportPlatform(authorizer.platform);
}

void RefreshEngine::OnAuthorizerInfo(const std::string& app_id,
                                     FetchResult result) {
  --busy_;
  auto it = apps_.find(app_id);
  if (it == apps_.end() || !it->second->authorizer) return;
  App& app = *it->second;
  App::Authorizer& authorizer = *app.authorizer;
  const Instant now = clock_.InstantNow();
  observer_->OnRequestDone(authorizer.platform, FetchApi::kAuthorizerInfo,
                           result);
  if (result.failure == FailureClass::kNone && !result.refresh_token.empty() &&
      result.refresh_token != authorizer.refused) {
    Log(LogLevel::kInfo,
        "api_get_authorizer_info gave an authorizer's refresh token back",
        {{"app_id", app_id},
         {"refresh_token", Fingerprint(result.refresh_token)}});
    authorizer.previous_refresh_token.clear();
    authorizer.refresh_token = std::move(result.refresh_token);
    authorizer.recovered_via = "info";
    WriteApp(app);
    ScheduleRequest(AccessSlot(app), now);
    return;
  }
  AwaitListPass(app, now);
}

void RefreshEngine::AwaitListPass(App& app, Instant now) {
  App::Authorizer& authorizer = *app.authorizer;
  Platform& platform = platforms_.at(authorizer.platform);
  authorizer.recovery = App::Authorizer::Recovery::kList;
  // The next pass to start: one that began before the refusal may have
  // read the list before WeChat changed it.
  authorizer.recovery_pass = platform.pass.number + 1;
  authorizer.previous_refresh_token.clear();
  authorizer.refresh_token.clear();  // TakeListed() fills it
  due_.Clear(&AccessSlot(app));
  if (!platform.pass.running && !platform.pass.waiting_for_token) {
    platform.pass.next = std::min(platform.pass.next, now.steady);
  }
  Log(LogLevel::kWarning,
      "an authorizer's refresh token is refused; waiting for the list pass "
      "to recover it",
      {{"app_id", app.config.app_id},
       {"pass", absl::StrCat(authorizer.recovery_pass)}});
  WriteApp(app);
  PublishApp(app);
  ReportPlatform(authorizer.platform);
}

void RefreshEngine::ReportPlatform(const std::string& platform_id) {
  observer_->OnPlatformChanged(platform_id, ViewOfPlatform(platform_id));
}

PlatformView RefreshEngine::ViewOfPlatform(
    const std::string& platform_id) const {
  PlatformView view;
  const Slot* ticket = PushedTicket(platform_id);
  if (ticket != nullptr) view.ticket_kind = ticket->kind;
  if (ticket != nullptr && ticket->state.generation > 0) {
    view.ticket_created = ticket->state.fetched.wall;
  }
  for (const auto& [app_id, app] : apps_) {
    if (!app->authorizer || app->authorizer->platform != platform_id) continue;
    const App::Authorizer& authorizer = *app->authorizer;
    if (authorizer.revoked) {
      ++view.revoked;
    } else if (!authorizer.refresh_token.empty() || !authorizer.code.empty()) {
      ++view.active;
    } else if (authorizer.recovery == App::Authorizer::Recovery::kList) {
      ++view.recovering;
    } else {
      ++view.needs_reauth;
    }
  }
  return view;
}

}  // namespace wxtoken::server
