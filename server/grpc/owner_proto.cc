#include "server/grpc/owner_proto.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "server/grpc/token_proto.h"

namespace wxtoken::server {
namespace {

// OwnerState's values are the proto's, one higher (0 is UNSPECIFIED).
wxtoken::v1::OwnerState ToProtoOwnerState(OwnerState state) {
  return static_cast<wxtoken::v1::OwnerState>(static_cast<int>(state) + 1);
}

void SetTimeIfKnown(absl::Time time, google::protobuf::Timestamp* out) {
  if (time != absl::InfinitePast() && time != absl::InfiniteFuture()) {
    SetProtoTimestamp(time, out);
  }
}

}  // namespace

void FillOwnerStatus(const OwnerView& view, wxtoken::v1::OwnerStatus* proto) {
  proto->set_app_id(view.app_id);
  proto->set_state(ToProtoOwnerState(view.state));
  for (const KindView& kind : view.kinds) {
    wxtoken::v1::KindStatus* out = proto->add_kinds();
    out->set_kind(ToProtoKind(kind.kind));
    out->set_state(ToProtoOwnerState(kind.state));
    out->set_generation(kind.generation);
    out->set_fingerprint(kind.fingerprint);
    SetTimeIfKnown(kind.fetched_at, out->mutable_fetched_at());
    SetTimeIfKnown(kind.expires_at, out->mutable_expires_at());
    SetTimeIfKnown(kind.servable_until, out->mutable_servable_until());
    SetTimeIfKnown(kind.next_request, out->mutable_next_request());
    out->set_reason(kind.why);
    if (kind.last_error) {
      wxtoken::v1::WeChatError* error = out->mutable_last_error();
      error->set_errcode(kind.last_error->errcode);
      error->set_errmsg(kind.last_error->errmsg);
      error->set_rid(kind.last_error->rid);
      error->set_egress_ip(kind.last_error->egress_ip);
      SetTimeIfKnown(kind.last_error->at, error->mutable_at());
    }
  }
  proto->set_fetches_today(view.fetches_today);
  proto->set_force_fetches_today(view.force_fetches_today);
  proto->set_daily_budget(view.daily_budget);
  proto->set_force_budget(view.force_budget);
  if (view.platform) {
    wxtoken::v1::PlatformStatus* platform = proto->mutable_platform();
    if (view.platform->ticket_created) {
      SetProtoTimestamp(*view.platform->ticket_created,
                        platform->mutable_ticket_created());
    }
    platform->set_authorizers_active(view.platform->active);
    platform->set_authorizers_recovering(view.platform->recovering);
    platform->set_authorizers_needs_reauth(view.platform->needs_reauth);
    platform->set_authorizers_revoked(view.platform->revoked);
  }
}

absl::StatusOr<std::optional<OwnerState>> FromProtoOwnerState(
    wxtoken::v1::OwnerState state) {
  if (state == wxtoken::v1::OWNER_STATE_UNSPECIFIED) return std::nullopt;
  const int value = static_cast<int>(state) - 1;
  if (value < 0 || value >= kOwnerStateCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("state: unknown OwnerState ", static_cast<int>(state)));
  }
  return static_cast<OwnerState>(value);
}

std::string PageTokenAfter(const std::string& last_key) {
  return absl::WebSafeBase64Escape(last_key);
}

absl::StatusOr<std::string> KeyOfPageToken(const std::string& page_token) {
  std::string key;
  if (!absl::WebSafeBase64Unescape(page_token, &key) || key.empty()) {
    return absl::InvalidArgumentError(
        "page_token: not one a ListOwners page gave");
  }
  return key;
}

}  // namespace wxtoken::server
