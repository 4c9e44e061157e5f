#ifndef WXTOKEN_SERVER_MESSAGES_PLATFORM_PUSH_H_
#define WXTOKEN_SERVER_MESSAGES_PLATFORM_PUSH_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/base/swappable.h"
#include "server/messages/push_messages.h"
#include "server/wechat/platform_event.h"

namespace wxtoken::server {

// One push WeChat sent to a platform's 授权事件接收URL, or WeCom to a
// suite's 指令回调URL, as it arrived.
struct PlatformPush {
  // Which URL it came to; kAny for SubmitPlatformPush (and a push another
  // replica passed on), which takes either family by its id.
  enum class Path { kAny, kWeChatPlatform, kWeComSuite };
  Path path = Path::kAny;
  std::string component_app_id;  // from the URL path; a suite's suite_id
  std::string msg_signature;
  std::string timestamp;
  std::string nonce;
  std::string body;  // the encrypted envelope
};

// Takes a platform's pushes (DESIGN.md "Third-party platforms", "Push
// intake") and a WeCom suite's (DESIGN.md "WeCom", "Suites"): the signature
// checked and the body decrypted (PushMessages, whose receive id is the
// platform's component_app_id or the suite's suite_id), the event parsed
// (ParsePlatformEvent or ParseSuiteEvent, by the id's family), and what it
// carries handed to the refresh worker. `done` gets OK only once that is
// durable: the caller answers "success". Otherwise nothing changed, and the
// status says why:
//   NOT_FOUND          no such platform or suite, or not one of the family
//                      of the URL it came to (HTTP 404)
//   INVALID_ARGUMENT   a bad signature, envelope, ciphertext or event; a
//                      timestamp outside max_timestamp_skew (HTTP 400)
//   ALREADY_EXISTS     a replay of a push already taken (HTTP 409)
//   UNAVAILABLE        not stored (no leader, a failed write): WeChat
//                      pushes again (HTTP 503)
// Thread-safe; `done` may run on the refresh worker's thread.
class PlatformPushIntake {
 public:
  using Done = std::function<void(absl::Status)>;
  // Hands an event to the refresh worker (RefreshEngine::
  // SubmitPlatformEvent on its thread).
  using EventSink = std::function<void(PlatformEvent event, Done done)>;
  // Replicas: whether this one passes pushes on to the leader, and how.
  struct Forwarding {
    std::function<bool()> should_forward;
    std::function<void(const PlatformPush&, Done)> forward;
  };

  // How many accepted pushes are remembered to refuse their replays.
  static constexpr size_t kRememberedPushes = 4096;
  // The largest body taken (DESIGN.md: 64 KiB).
  static constexpr size_t kMaxBodyBytes = 64 * 1024;

  // Whose pushes are taken: each platform's component_app_id, each suite's
  // suite_id (Config::platforms).
  struct Owner {
    std::string id;
    bool wecom_suite = false;
  };

  PlatformPushIntake(std::vector<Owner> owners,
                     const Swappable<PushMessages>& messages,
                     EventSink event_sink, Forwarding forwarding = {});

  // OK when `id` is an owner `path` takes; else NOT_FOUND naming what is not
  // configured.
  absl::Status CheckOwner(const std::string& id, PlatformPush::Path path) const;
  // `may_forward`: false for a push another replica passed on, which is
  // never passed on again.
  void Submit(PlatformPush push, Done done, bool may_forward = true);
  // WeCom's check of a suite's callback URL (a GET with an encrypted
  // `echostr`): its plaintext, what the GET answers, once msg_signature
  // holds. Nothing else is done. NOT_FOUND for an id that is no suite;
  // INVALID_ARGUMENT for a missing field, a bad signature or ciphertext, a
  // timestamp outside max_timestamp_skew.
  absl::StatusOr<std::string> AnswerUrlCheck(const std::string& suite_id,
                                             absl::string_view msg_signature,
                                             absl::string_view timestamp,
                                             absl::string_view nonce,
                                             absl::string_view echostr) const;

 private:
  // An accepted push's (platform, msg_signature): a replay is refused.
  bool Remembered(const std::string& key) const ABSL_LOCKS_EXCLUDED(mu_);
  void Remember(std::string key) ABSL_LOCKS_EXCLUDED(mu_);

  // id -> whether it is a WeCom suite.
  const absl::flat_hash_map<std::string, bool> owners_;
  const Swappable<PushMessages>& messages_;
  const EventSink event_sink_;
  const Forwarding forwarding_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> accepted_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> accepted_order_ ABSL_GUARDED_BY(mu_);
};

// The HTTP status a push's answer maps to: 200 for OK ("success").
int PushHttpStatus(const absl::Status& status);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_MESSAGES_PLATFORM_PUSH_H_
