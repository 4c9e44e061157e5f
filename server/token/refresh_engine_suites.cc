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
// Ended codes remembered per suite.
constexpr size_t kMaxFinishedCodes = 256;

bool Contains(const auto& codes, const std::string& code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

}  // namespace

RefreshEngine::Platform* RefreshEngine::SuiteOf(const std::string& app_id) {
  auto it = platforms_.find(app_id);
  return it != platforms_.end() && it->second.config->wecom_suite ? &it->second
                                                                  : nullptr;
}

const RefreshEngine::Platform* RefreshEngine::SuiteOf(
    const std::string& app_id) const {
  return const_cast<RefreshEngine*>(this)->SuiteOf(app_id);
}

void RefreshEngine::SubmitAuthCode(const PlatformEvent& event,
                                   std::function<void(absl::Status)> done) {
  Platform* found = SuiteOf(event.component_app_id);
  if (found == nullptr) {
    done(absl::NotFoundError(absl::StrCat("component_app_id: no suite \"",
                                          event.component_app_id,
                                          "\" is configured")));
    return;
  }
  if (shutting_down_) return done(ShuttingDown());
  if (!leader_) return done(NotTheLeader());
  Platform& suite = *found;
  std::vector<std::string>& codes = suite.exchange.codes;
  if (Contains(suite.exchange.finished, event.authorization_code)) {
    return done(absl::OkStatus());  // exchanged (or refused) already
  }
  if (!Contains(codes, event.authorization_code)) {
    if (codes.size() >= kMaxPendingCodes) {
      done(absl::UnavailableError(
          absl::StrCat("suite ", event.component_app_id, ": ", kMaxPendingCodes,
                       " auth codes already wait for get_permanent_code")));
      return;
    }
    codes.push_back(event.authorization_code);
    suite.exchange.stamped[event.authorization_code] = event.create_time;
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
    upstream_.Start(
        std::move(request),
        [this, suite_id = suite_id, code = exchange.codes.front(),
         sent_with = token.state.value, term = term_](FetchResult result) {
          OnPermanentCode(suite_id, code, sent_with, term, std::move(result));
        });
  }
}

void RefreshEngine::OnPermanentCode(const std::string& suite_id,
                                    const std::string& code,
                                    const std::string& sent_with, uint64_t term,
                                    FetchResult result) {
  --busy_;
  Platform& suite = platforms_.at(suite_id);
  Platform::CodeExchange& exchange = suite.exchange;
  exchange.in_flight = false;
  const Instant now = clock_.InstantNow();
  observer_->OnRequestDone(suite_id, FetchApi::kWeComPermanentCode, result);
  const std::string key = absl::StrCat(suite_id, "/", result.auth_corp_id);
  const bool unusable_answer =
      result.failure == FailureClass::kNone && !IsWellFormedOwnerKey(key);
  if (result.errcode == 40029 || unusable_answer) {
    // Used or expired (or exchanged for a corp id no key can hold): no
    // retry can bring it back.
    Log(LogLevel::kError,
        "WeCom refused a corp's auth code; the corp must install the suite "
        "again",
        {{"app_id", suite_id},
         {"auth_code", Fingerprint(code)},
         {"errcode", absl::StrCat(result.errcode)},
         {"detail", unusable_answer ? "get_permanent_code answered a corp id "
                                      "that makes no owner key"
                                    : result.detail}});
    FinishCode(exchange, code);
    WriteApp(*apps_.at(suite_id));
    return;
  }
  if (result.failure != FailureClass::kNone) {
    // Anything else (a timeout, 60020, a limit) is retried with backoff
    // while the code lives, at most retry_max apart.
    ++exchange.failures;
    exchange.next =
        now.steady + BackoffDelay(exchange.failures, refresh_.retry_initial,
                                  refresh_.retry_max, random01_());
    Log(LogLevel::kWarning, "get_permanent_code failed; retrying",
        {{"app_id", suite_id},
         {"errcode", absl::StrCat(result.errcode)},
         {"detail", result.detail},
         {"failures", absl::StrCat(exchange.failures)}});
    if (result.failure == FailureClass::kTokenRejected) {
      // The suite token it was sent with: never used for an exchange
      // again, and refreshed as a caller's ForceRefresh would be
      // (coalesced, rate-limited, budgeted).
      exchange.refused_token = sent_with;
      ForceRefreshCommand refresh;
      refresh.app_id = suite_id;
      refresh.stale_value = sent_with;
      refresh.done = [this, suite_id,
                      sent_with](absl::StatusOr<ForceRefreshReply> reply) {
        auto app = apps_.find(suite_id);
        if (reply.ok() ||
            reply.status().code() != absl::StatusCode::kResourceExhausted ||
            app == apps_.end()) {
          return;
        }
        // ForceRefresh's share of the budget is spent. A code lives
        // minutes: its exchange does not wait hours for the suite token's
        // own schedule, nor retries the refused token; the suite token is
        // renewed now, as its schedule would (the daily budget still caps
        // it).
        Slot& token = AccessSlot(*app->second);
        if (token.state.value != sent_with) return;  // renewed meanwhile
        Log(LogLevel::kWarning,
            "ForceRefresh's budget refused renewing the suite token WeCom "
            "refused for an exchange; renewing it as scheduled",
            {{"app_id", suite_id},
             {"error", std::string(reply.status().message())}});
        ScheduleRequest(token, EarliestSend(clock_.InstantNow()),
                        Spend::kScheduled);
      };
      ForceRefresh(std::move(refresh));
    }
    return;
  }
  // A lease lost meanwhile does not lose the permanent code: WeCom gives
  // it once. It is kept and written (a follower's write heals the store);
  // only the leader sends the corp's requests.
  if (!leader_ || term != term_) {
    Log(LogLevel::kWarning,
        "a permanent code arrived after the leader lease changed; keeping it",
        {{"app_id", key}});
  }
  App* corp = DiscoverAuthorizer(key);
  if (corp == nullptr) return;  // removed meanwhile: nothing is kept
  App::Authorizer& authorizer = *corp->authorizer;
  // Installed again: WeCom may have ended what the old installation was
  // given, so nothing held is served.
  for (Slot* slot : corp->slots) {
    if (slot != nullptr) EndValue(*slot, now);
  }
  authorizer.refresh_token = result.refresh_token;
  authorizer.previous_refresh_token.clear();
  authorizer.refused.clear();
  authorizer.revoked = false;
  authorizer.just_installed = true;
  // WeCom's stamp of the create_auth (a cancel_auth is stamped by the same
  // clock), else the answer's time; and always after the installation it
  // replaces, whatever clock stamped that one.
  auto stamp = exchange.stamped.find(code);
  authorizer.installed_at =
      std::max(stamp != exchange.stamped.end() ? stamp->second : now.wall,
               authorizer.installed_at + absl::Microseconds(1));
  Touch(*corp);
  Log(LogLevel::kInfo, "a corp's permanent code is held",
      {{"app_id", key},
       {"permanent_code", Fingerprint(authorizer.refresh_token)}});
  // Used: never sent again (WeCom would refuse it). The suite's record
  // drops it once the corp's holds the permanent code, so that a crash
  // between the two leaves a trace (its exchange is refused and logged).
  FinishCode(exchange, code);
  WriteApp(*corp, [this, suite_id](absl::Status status) {
    if (status.ok()) WriteApp(*apps_.at(suite_id));
  });
  ScheduleRequest(AccessSlot(*corp), EarliestSend(now));
  PublishApp(*corp);
  ReportPlatform(suite_id);
}

void RefreshEngine::FinishCode(Platform::CodeExchange& exchange,
                               const std::string& code) {
  std::erase(exchange.codes, code);
  exchange.stamped.erase(code);
  exchange.finished.push_back(code);
  if (exchange.finished.size() > kMaxFinishedCodes) {
    exchange.finished.pop_front();
  }
  exchange.failures = 0;
  exchange.next = SteadyTime::InfinitePast();
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

bool RefreshEngine::TakeAuthCodes(Platform& suite, const std::string& suite_id,
                                  const AppRecord& record, bool mirror) {
  std::vector<std::string>& codes = suite.exchange.codes;
  std::vector<std::string> stored;
  if (auto it = record.owner.find(kAuthCodes); it != record.owner.end()) {
    absl::StatusOr<std::string> text = suite.vault.Open(it->second, suite_id);
    if (!text.ok()) {
      // What is held stays; the error names the key id, never a code.
      Log(LogLevel::kError, "cannot open a sealed credential; not used",
          {{"app_id", suite_id},
           {"field", kAuthCodes},
           {"error", std::string(text.status().message())}});
      return false;
    }
    stored = absl::StrSplit(*text, '\n');
  }
  if (mirror) {
    std::erase_if(stored, [&](const std::string& code) {
      return Contains(suite.exchange.finished, code);
    });
    codes = std::move(stored);
    absl::erase_if(suite.exchange.stamped, [&codes](const auto& entry) {
      return !Contains(codes, entry.first);
    });
    return false;
  }
  bool store_lacks = false;
  for (const std::string& code : codes) {
    if (!Contains(stored, code)) store_lacks = true;
  }
  for (std::string& code : stored) {
    if (!Contains(codes, code) && !Contains(suite.exchange.finished, code)) {
      codes.push_back(std::move(code));
    }
  }
  return store_lacks;
}

}  // namespace wxtoken::server
