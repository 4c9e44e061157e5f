#include "client/cli/status_command.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"
#include "wxtoken/v1/token_controller.grpc.pb.h"

namespace wxtoken {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitNo = 1;
constexpr int kExitRpcError = 2;
constexpr int kExitUsage = 64;
// ListOwners pages followed at most: 1,000 owners a page, so a million.
constexpr int kMaxPages = 1000;

// "OWNER_STATE_WHITELIST_BLOCKED" -> "whitelist_blocked".
std::string StateName(v1::OwnerState state) {
  return absl::AsciiStrToLower(
      v1::OwnerState_Name(state).substr(sizeof("OWNER_STATE_") - 1));
}

std::string KindName(v1::TokenKind kind) {
  switch (kind) {
    case v1::TOKEN_KIND_JSAPI_TICKET:
      return "jsapi_ticket";
    case v1::TOKEN_KIND_WX_CARD_TICKET:
      return "wx_card_ticket";
    case v1::TOKEN_KIND_AGENT_CONFIG_TICKET:
      return "agent_config_ticket";
    default:
      return "access_token";
  }
}

absl::Time TimeOf(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixNanos(
      google::protobuf::util::TimeUtil::TimestampToNanoseconds(timestamp));
}

// "in 1h52m", "3m ago", "-" when unset: relative, as an operator reads it.
std::string Relative(bool set, const google::protobuf::Timestamp& timestamp,
                     absl::Time now) {
  if (!set) return "-";
  const absl::Duration delta =
      absl::Trunc(TimeOf(timestamp) - now, absl::Seconds(1));
  if (delta == absl::ZeroDuration()) return "now";
  if (delta > absl::ZeroDuration()) {
    return absl::StrCat("in ", absl::FormatDuration(delta));
  }
  return absl::StrCat(absl::FormatDuration(-delta), " ago");
}

// What a person must know about a kind that is not serving, or a
// platform's ticket and authorizers.
std::string Detail(const v1::OwnerStatus& owner, const v1::KindStatus& kind,
                   absl::Time now) {
  std::string detail;
  if (kind.has_last_error()) {
    const v1::WeChatError& error = kind.last_error();
    if (!error.egress_ip().empty()) {
      detail = absl::StrCat("WeChat saw this server as ", error.egress_ip(),
                            ": add it to the IP whitelist; ");
    }
    absl::StrAppend(&detail, "errcode ", error.errcode(), ": ", error.errmsg());
    if (!error.rid().empty() &&
        !absl::StrContains(error.errmsg(), error.rid())) {
      absl::StrAppend(&detail, " (rid ", error.rid(), ")");
    }
    absl::StrAppend(&detail, ", ", Relative(error.has_at(), error.at(), now));
  } else if (kind.state() != v1::OWNER_STATE_SERVING) {
    detail = kind.reason();
  }
  if (owner.has_platform() && kind.kind() == v1::TOKEN_KIND_ACCESS_TOKEN) {
    const v1::PlatformStatus& platform = owner.platform();
    const std::string ticket =
        platform.has_ticket_created()
            ? absl::StrCat("ticket pushed ",
                           Relative(true, platform.ticket_created(), now))
            : "no ticket pushed yet";
    absl::StrAppend(&detail, detail.empty() ? "" : "; ", ticket,
                    "; authorizers: ", platform.authorizers_active(),
                    " active, ", platform.authorizers_recovering(),
                    " recovering, ", platform.authorizers_needs_reauth(),
                    " needs_reauth, ", platform.authorizers_revoked(),
                    " revoked");
  }
  return detail;
}

void PrintHeader(std::ostream& out) {
  out << absl::StrFormat("%-40s %-14s %-17s %5s %-12s %-12s %-11s %s\n",
                         "OWNER", "KIND", "STATE", "GEN", "EXPIRES", "NEXT",
                         "TODAY", "DETAIL");
}

void PrintOwner(const v1::OwnerStatus& owner, absl::Time now,
                std::ostream& out) {
  for (const v1::KindStatus& kind : owner.kinds()) {
    out << absl::StrFormat(
        "%-40s %-14s %-17s %5d %-12s %-12s %-11s %s\n", owner.app_id(),
        KindName(kind.kind()), StateName(kind.state()), kind.generation(),
        Relative(kind.has_expires_at(), kind.expires_at(), now),
        Relative(kind.has_next_request(), kind.next_request(), now),
        absl::StrCat(owner.fetches_today(), "/", owner.daily_budget()),
        Detail(owner, kind, now));
  }
}

bool Healthy(const v1::OwnerStatus& owner) {
  return owner.state() == v1::OWNER_STATE_SERVING ||
         owner.state() == v1::OWNER_STATE_IDLE;
}

int RpcError(absl::string_view rpc, const grpc::Status& status,
             std::ostream& err) {
  err << "wxtoken: " << rpc << ": "
      << absl::StatusCodeToString(
             static_cast<absl::StatusCode>(status.error_code()))
      << ": " << status.error_message() << "\n";
  return kExitRpcError;
}

}  // namespace

int RunStatus(const std::shared_ptr<grpc::Channel>& channel,
              const StatusOptions& options, std::ostream& out,
              std::ostream& err) {
  auto stub = v1::TokenController::NewStub(channel);
  auto prepare = [&](grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(options.timeout));
  };
  if (!options.app_id.empty()) {
    v1::DescribeOwnerRequest request;
    request.set_app_id(options.app_id);
    v1::DescribeOwnerResponse response;
    grpc::ClientContext context;
    prepare(context);
    grpc::Status status = stub->DescribeOwner(&context, request, &response);
    if (!status.ok()) return RpcError("DescribeOwner", status, err);
    if (options.json) {
      out << options.to_json(response) << "\n";
    } else {
      PrintHeader(out);
      PrintOwner(response.owner(), options.now, out);
    }
    return Healthy(response.owner()) ? kExitOk : kExitNo;
  }

  v1::ListOwnersRequest request;
  request.set_key_prefix(options.key_prefix);
  if (!options.state.empty()) {
    v1::OwnerState state;
    if (!v1::OwnerState_Parse(
            absl::StrCat("OWNER_STATE_", absl::AsciiStrToUpper(options.state)),
            &state) ||
        state == v1::OWNER_STATE_UNSPECIFIED) {
      err << "wxtoken: --state must be one of serving, no_token, "
             "credential_error, whitelist_blocked, quota_exhausted, revoked, "
             "needs_reauth, idle, not \""
          << options.state << "\"\n";
      return kExitUsage;
    }
    request.set_state(state);
  }
  request.set_page_size(1000);
  v1::ListOwnersResponse all;
  bool healthy = true;
  if (!options.json) PrintHeader(out);
  for (int page = 0; page < kMaxPages; ++page) {
    v1::ListOwnersResponse response;
    grpc::ClientContext context;
    prepare(context);
    grpc::Status status = stub->ListOwners(&context, request, &response);
    if (!status.ok()) return RpcError("ListOwners", status, err);
    for (const v1::OwnerStatus& owner : response.owners()) {
      healthy = healthy && Healthy(owner);
      if (options.json) {
        *all.add_owners() = owner;
      } else {
        PrintOwner(owner, options.now, out);
      }
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  if (options.json) out << options.to_json(all) << "\n";
  return healthy ? kExitOk : kExitNo;
}

}  // namespace wxtoken
