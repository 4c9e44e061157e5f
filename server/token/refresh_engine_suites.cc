// WeCom suites (DESIGN.md "WeCom"): a suite is a platform whose pushed
// credential is the suite_ticket and whose authorizers are the corps that
// installed it. What differs is how a corp arrives: create_auth carries an
// auth code but no corp id, so the code is kept (sealed) in the suite's own
// record until get_permanent_code exchanges it for the corp id and its
// permanent code, which is then kept (sealed) in the corp's record as an
// authorizer's refresh token is. A permanent code never rotates, and no
// API gives it again: a lost one means the corp must install again.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/base/log.h"
#include "server/token/refresh_engine.h"
#include "server/token/refresh_engine_internal.h"
#include "server/wechat/limits.h"

namespace wxtoken::server {

using refresh_engine_internal::AnswerWhenStored;
using refresh_engine_internal::NotTheLeader;
using refresh_engine_internal::ShuttingDown;

namespace {

// AppRecord::owner's name for a suite's codes not yet exchanged.
constexpr char kAuthCodes[] = "auth_codes";

// Codes waiting at once, per suite: more are refused (UNAVAILABLE, so WeCom
// pushes them again) rather than grow a record without bound.
constexpr size_t kMaxPendingCodes = 64;

// The backoff of a failed exchange: doubling from retry_initial.
absl::Duration ExchangeBackoff(const RefreshConfig& refresh, int failures) {
  absl::Duration wait = refresh.retry_initial;
  for (int i = 1; i < failures && wait < refresh.retry_max; ++i) wait *= 2;
  return std::min(wait, refresh.retry_max);
}

}  // namespace

void RefreshEngine::SubmitAuthCode(const PlatformEvent& event,
                                   std::function<void(absl::Status)> done) {
  auto it = platforms_.find(event.component_app_id);
  if (it == platforms_.end() || !it->second.config->wecom_suite) {
    done(absl::NotFoundError(absl::StrCat("component_app_id: no suite \"",
                                          event.component_app_id,
                                          "\" is configured")));
    return;
  }
  if (shutting_down_) return done(ShuttingDown());
  if (!leader_) return done(NotTheLeader());
  Platform& suite = it->second;
  std::vector<std::string>& codes = suite.exchange.codes;
  if (std::find(codes.begin(), codes.end(), event.authorization_code) ==
      codes.end()) {
    if (codes.size() >= kMaxPendingCodes) {
      done(absl::UnavailableError(
          absl::StrCat("suite ", event.component_app_id, ": ", kMaxPendingCodes,
                       " auth codes already wait for get_permanent_code")));
      return;
    }
    codes.push_back(event.authorization_code);
    Log(LogLevel::kInfo, "a corp installed the suite; exchanging its auth code",
        {{"app_id", event.component_app_id},
         {"info_type", event.info_type},
         {"auth_code", Fingerprint(event.authorization_code)}});
  }
  // Answered once the code is durable; exchanged at once, whatever the
  // write's fate (a code lives minutes: waiting for a retry wastes it).
  WriteApp(*apps_.at(event.component_app_id),
           AnswerWhenStored(std::move(done), "auth code"));
  RunCodeExchanges(clock_.InstantNow());
}

void RefreshEngine::RunCodeExchanges(Instant now) {
  if (!leader_ || shutting_down_ || now.steady < first_request_at_) return;
  for (auto& [suite_id, suite] : platforms_) {
    Platform::CodeExchange& exchange = suite.exchange;
    if (exchange.codes.empty() || exchange.in_flight ||
        now.steady < exchange.next) {
      continue;
    }
    const Slot& token = AccessSlot(*apps_.at(suite_id));
    // Waits for a suite token (OnComponentToken runs this again), and
    // never uses one WeCom refused for it.
    if (!Servable(token, now) || token.state.value == exchange.refused_token) {
      continue;
    }
    if (!store_.MaySend(now.steady, config_.upstream.timeout)) continue;
    exchange.in_flight = true;
    FetchRequest request;
    request.app_id = suite_id;
    request.api = FetchApi::kWeComPermanentCode;
    request.access_token = token.state.value;
    request.authorization_code = exchange.codes.front();
    Log(LogLevel::kInfo, "sending a request to WeCom",
        {{"app_id", suite_id}, {"api", "get_permanent_code"}});
    ++busy_;
    upstream_.Start(std::move(request),
                    [this, suite_id = suite_id, code = exchange.codes.front(),
                     term = term_](FetchResult result) {
                      OnPermanentCode(suite_id, code, term, std::move(result));
                    });
  }
}

void RefreshEngine::OnPermanentCode(const std::string& suite_id,
                                    const std::string& code, uint64_t term,
                                    FetchResult result) {
  --busy_;
  Platform& suite = platforms_.at(suite_id);
  Platform::CodeExchange& exchange = suite.exchange;
  exchange.in_flight = false;
  const Instant now = clock_.InstantNow();
  observer_->OnRequestDone(suite_id, FetchApi::kWeComPermanentCode, result);
  auto drop_code = [&] {
    std::erase(exchange.codes, code);
    exchange.failures = 0;
    exchange.next = SteadyTime::InfinitePast();
    WriteApp(*apps_.at(suite_id));
  };
  const std::string key = absl::StrCat(suite_id, "/", result.auth_corp_id);
  if (result.failure == FailureClass::kNone && !IsWellFormedOwnerKey(key)) {
    result.failure = FailureClass::kPermanent;
    result.detail =
        "get_permanent_code answered a corp id that makes no "
        "owner key";
  }
  switch (result.failure) {
    case FailureClass::kNone:
      break;
    case FailureClass::kPermanent:
      // 40029: used or expired. No retry can bring it back.
      Log(LogLevel::kError,
          "WeCom refused a corp's auth code; the corp must install the "
          "suite again",
          {{"app_id", suite_id},
           {"auth_code", Fingerprint(code)},
           {"errcode", absl::StrCat(result.errcode)},
           {"detail", result.detail}});
      drop_code();
      return;
    case FailureClass::kTokenRejected: {
      // The suite token: refreshed, and the exchange waits for the new one.
      exchange.refused_token = AccessSlot(*apps_.at(suite_id)).state.value;
      Slot& token = AccessSlot(*apps_.at(suite_id));
      Log(LogLevel::kWarning,
          "WeCom rejected the suite token an exchange was sent with; "
          "refreshing it first",
          {{"app_id", suite_id}, {"errcode", absl::StrCat(result.errcode)}});
      ScheduleRequest(token, EarliestSend(now), Spend::kForce);
      return;
    }
    default:
      ++exchange.failures;
      exchange.next = now.steady + ExchangeBackoff(refresh_, exchange.failures);
      Log(LogLevel::kWarning, "get_permanent_code failed; retrying",
          {{"app_id", suite_id},
           {"detail", result.detail},
           {"failures", absl::StrCat(exchange.failures)}});
      return;
  }
  if (!leader_ || term != term_) {
    // Not this replica's to store any more (fenced). WeCom gives a
    // permanent code once: the corp must install again.
    Log(LogLevel::kError,
        "a permanent code arrived after losing the leader lease and cannot "
        "be stored; the corp must install the suite again",
        {{"app_id", key}});
    return;
  }
  App* corp = DiscoverAuthorizer(key);
  if (corp == nullptr) return;  // removed meanwhile: nothing is kept
  App::Authorizer& authorizer = *corp->authorizer;
  // Installed again: WeCom may have ended what the old installation was
  // given, so nothing held is served.
  for (Slot* slot : corp->slots) {
    if (slot != nullptr) slot->state.value.clear();
  }
  authorizer.refresh_token = result.refresh_token;
  authorizer.previous_refresh_token.clear();
  authorizer.refused.clear();
  authorizer.revoked = false;
  authorizer.just_installed = true;
  Touch(*corp);
  Log(LogLevel::kInfo, "a corp's permanent code is held",
      {{"app_id", key},
       {"permanent_code", Fingerprint(authorizer.refresh_token)}});
  // Used: never sent again (WeCom would refuse it). The suite's record
  // drops it once the corp's holds the permanent code, so that a crash
  // between the two leaves a trace (its exchange is refused and logged).
  std::erase(exchange.codes, code);
  exchange.failures = 0;
  exchange.next = SteadyTime::InfinitePast();
  WriteApp(*corp, [this, suite_id](absl::Status status) {
    if (status.ok()) WriteApp(*apps_.at(suite_id));
  });
  ScheduleRequest(AccessSlot(*corp), EarliestSend(now));
  PublishApp(*corp);
  ReportPlatform(suite_id);
}

bool RefreshEngine::PermanentCodeRefused(const App& app) const {
  return app.config.api == AppConfig::Api::kSuiteCorp &&
         !app.authorizer->refused.empty() &&
         app.authorizer->refused == app.authorizer->refresh_token;
}

void RefreshEngine::PutAuthCodes(const Platform& suite,
                                 const std::string& suite_id,
                                 AppRecord& record) const {
  if (suite.exchange.codes.empty()) return;
  // Bound to the suite's key, as an authorizer's credentials are to its.
  record.owner[kAuthCodes] =
      suite.vault.Seal(absl::StrJoin(suite.exchange.codes, "\n"), suite_id);
}

void RefreshEngine::TakeAuthCodes(Platform& suite, const std::string& suite_id,
                                  const AppRecord& record, bool mirror) {
  std::vector<std::string>& codes = suite.exchange.codes;
  auto it = record.owner.find(kAuthCodes);
  if (it == record.owner.end()) {
    if (mirror) codes.clear();
    return;
  }
  absl::StatusOr<std::string> text = suite.vault.Open(it->second, suite_id);
  if (!text.ok()) {
    Log(LogLevel::kError, "cannot open a sealed credential; not used",
        {{"app_id", suite_id},
         {"field", kAuthCodes},
         {"error", std::string(text.status().message())}});
    return;
  }
  if (mirror) codes.clear();
  for (absl::string_view code : absl::StrSplit(*text, '\n')) {
    if (std::find(codes.begin(), codes.end(), code) == codes.end()) {
      codes.emplace_back(code);
    }
  }
}

}  // namespace wxtoken::server
