// The authorizer list pass (DESIGN.md "Third-party platforms"): the leader
// pages through api_get_authorizer_list once a platform's component token
// exists and every reconcile_interval, so a platform that already has
// authorizers is taken over by configuring it, with no import step; an
// authorizer missing from a complete pass is revoked.
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_engine_internal.h"

namespace wxtoken::server {
namespace {

// WeChat's largest page.
constexpr int64_t kListPageSize = 500;
// How soon a pass waiting for the component token looks again.
constexpr absl::Duration kListRecheck = absl::Seconds(1);

}  // namespace

bool RefreshEngine::UsedRecently(const App& app, Instant now) const {
  if (!app.authorizer) return true;
  // An authorization just pushed (a suite just installed) is about to be
  // used.
  if (!app.authorizer->code.empty() || app.authorizer->just_installed) {
    return true;
  }
  const Platform& platform = platforms_.at(app.authorizer->platform);
  return table_.LastUsed(app.config.app_id) >=
         now.steady - platform.config->idle_after;
}

void RefreshEngine::OnComponentToken(const std::string& platform_id,
                                     Instant now) {
  auto it = platforms_.find(platform_id);
  if (it == platforms_.end()) return;
  if (it->second.config->wecom_suite) {
    // Auth codes waiting for a suite token go now.
    RunCodeExchanges(now);
    return;
  }
  if (!it->second.pass.waiting_for_token) return;
  it->second.pass.waiting_for_token = false;
  it->second.pass.next = now.steady;
}

void RefreshEngine::RunListPasses(Instant now) {
  if (!leader_ || shutting_down_) return;
  for (auto& [id, platform] : platforms_) {
    Platform::ListPass& pass = platform.pass;
    if (pass.in_flight || now.steady < pass.next) continue;
    if (busy_ >= config_.upstream.max_concurrency) return;
    SendListPage(id, platform, now);
  }
}

void RefreshEngine::SendListPage(const std::string& platform_id,
                                 Platform& platform, Instant now) {
  Platform::ListPass& pass = platform.pass;
  auto owner = apps_.find(platform_id);
  if (owner == apps_.end()) return;
  const Slot& component = AccessSlot(*owner->second);
  if (!Servable(component, now)) {
    // OnComponentToken() wakes it.
    pass.waiting_for_token = true;
    pass.next = SteadyTime::InfiniteFuture();
    return;
  }
  if (now.steady < first_request_at_ ||
      !store_.MaySend(now.steady, config_.upstream.timeout)) {
    pass.next = now.steady + kListRecheck;
    return;
  }
  if (!pass.running) {
    pass.running = true;
    ++pass.number;
    pass.offset = 0;
    pass.first_total = -1;
    pass.listed = 0;
    pass.added = 0;
    pass.started = now;
    Log(LogLevel::kInfo, "authorizer list pass started",
        {{"app_id", platform_id}, {"pass", absl::StrCat(pass.number)}});
  }
  FetchRequest request;
  request.app_id = platform_id;
  request.api = FetchApi::kAuthorizerList;
  request.access_token = component.state.value;
  request.offset = pass.offset;
  request.count = kListPageSize;
  pass.in_flight = true;
  pass.term = term_;
  ++busy_;
  upstream_.Start(std::move(request), [this, platform_id](FetchResult result) {
    OnListPage(platform_id, std::move(result));
  });
}

void RefreshEngine::OnListPage(const std::string& platform_id,
                               FetchResult result) {
  --busy_;
  Platform& platform = platforms_.at(platform_id);
  Platform::ListPass& pass = platform.pass;
  pass.in_flight = false;
  const Instant now = clock_.InstantNow();
  observer_->OnRequestDone(platform_id, FetchApi::kAuthorizerList, result);
  if (!leader_ || pass.term != term_) {
    // Another replica may have led meanwhile: start over when leading.
    pass.running = false;
    pass.next = now.steady;
    return;
  }
  if (result.failure != FailureClass::kNone) {
    ++pass.failures;
    const absl::Duration delay = BackoffDelay(
        pass.failures, refresh_.retry_initial, refresh_.retry_max, random01_());
    pass.next = now.steady + delay;
    Log(LogLevel::kWarning, "authorizer list page failed; retrying it",
        {{"app_id", platform_id},
         {"offset", absl::StrCat(pass.offset)},
         {"detail", result.detail},
         {"retry_in", absl::FormatDuration(delay)}});
    return;
  }
  pass.failures = 0;
  if (pass.first_total < 0) pass.first_total = result.total_count;
  for (const ListedAuthorizer& listed : result.listed) {
    TakeListed(platform, platform_id, listed);
  }
  pass.listed += static_cast<int64_t>(result.listed.size());
  pass.offset += static_cast<int64_t>(result.listed.size());
  if (result.listed.empty() || pass.offset >= result.total_count) {
    // The pass is complete only if the list held still while it paged:
    // an entry removed meanwhile shifts the pages, and one not seen is
    // then not one that is gone.
    if (result.total_count != pass.first_total) {
      Log(LogLevel::kWarning,
          "the authorizer list changed during the pass; revoking nothing, "
          "passing again",
          {{"app_id", platform_id}});
      pass.running = false;
      pass.next = now.steady + kListRecheck;
      return;
    }
    EndListPass(platform_id, platform, now);
    return;
  }
  pass.next = now.steady;  // the next page at once
}

void RefreshEngine::TakeListed(Platform& platform,
                               const std::string& platform_id,
                               const ListedAuthorizer& listed) {
  const std::string key =
      absl::StrCat(platform_id, "/", listed.authorizer_app_id);
  const bool known = apps_.contains(key);
  App* app = DiscoverAuthorizer(key);
  if (app == nullptr) return;
  App::Authorizer& authorizer = *app->authorizer;
  authorizer.listed_pass = platform.pass.number;
  // A push during this pass is newer than this page may be.
  if (authorizer.touched_pass == platform.pass.number) return;
  // Only an authorized push brings a revoked one back: a list may lag.
  if (authorizer.revoked || listed.refresh_token.empty()) return;
  if (!authorizer.refresh_token.empty() || !authorizer.code.empty()) return;
  // The one WeChat refused (61023) is no recovery.
  if (listed.refresh_token == authorizer.refused) return;
  // New, or without a credential (needs_reauth, 61023): the listed one is
  // WeChat's.
  authorizer.refresh_token = listed.refresh_token;
  if (authorizer.recovery == App::Authorizer::Recovery::kList) {
    authorizer.recovered_via = "list";
    // Recovered: its next refresh goes with it (a refusal again is final).
    ScheduleRequest(AccessSlot(*app), clock_.InstantNow());
  }
  if (!known) ++platform.pass.added;
  WriteApp(*app);
  // Fetched on first use (idle_after), not now.
  PublishApp(*app);
}

void RefreshEngine::EndListPass(const std::string& platform_id,
                                Platform& platform, Instant now) {
  Platform::ListPass& pass = platform.pass;
  pass.running = false;
  pass.next = now.steady + platform.config->reconcile_interval;
  int revoked = 0;
  for (auto& [app_id, app] : apps_) {
    if (!app->authorizer || app->authorizer->platform != platform_id) continue;
    App::Authorizer& authorizer = *app->authorizer;
    if (authorizer.recovery == App::Authorizer::Recovery::kList &&
        authorizer.recovery_pass <= pass.number &&
        authorizer.refresh_token.empty()) {
      // The pass did not give it back: needs_reauth.
      authorizer.recovery = App::Authorizer::Recovery::kNone;
      Log(LogLevel::kError,
          "the list pass did not recover an authorizer's refresh token; it "
          "needs_reauth: nothing more is sent for it",
          {{"app_id", app_id}});
      for (Slot* slot : app->slots) {
        if (slot != nullptr)
          AnswerWaiters(*slot, AuthorizerRefusal(*app), false);
      }
      PublishApp(*app);
    }
    if (authorizer.revoked || authorizer.born_pass >= pass.number ||
        authorizer.listed_pass == pass.number ||
        authorizer.touched_pass == pass.number) {
      continue;
    }
    ++revoked;
    Revoke(*app);
  }
  App& owner = *apps_.at(platform_id);
  if (!owner.takeover_done) {
    owner.takeover_done = true;
    table_.SetTakeoverPending(platform_id, false);
    WriteApp(owner);
  }
  ReportPlatform(platform_id);
  Log(LogLevel::kInfo, "authorizer list pass complete",
      {{"app_id", platform_id},
       {"pass", absl::StrCat(pass.number)},
       {"listed", absl::StrCat(pass.listed)},
       {"added", absl::StrCat(pass.added)},
       {"revoked", absl::StrCat(revoked)},
       {"took", absl::FormatDuration(now - pass.started)},
       {"next_pass_in",
        absl::FormatDuration(platform.config->reconcile_interval)}});
}

}  // namespace wxtoken::server
