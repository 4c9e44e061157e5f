// ListOwners and DescribeOwner (DESIGN.md "Operations"): what an operator
// reads about every owner, computed on the worker thread that holds it.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/grpc/owner_proto.h"
#include "server/grpc/request_validation.h"
#include "server/grpc/token_proto.h"
#include "server/grpc/token_service.h"

namespace wxtoken::server {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr size_t kMaxKeyPrefix = 256;

// What a call the worker will not take is answered.
grpc::Status Busy() {
  return ToGrpcStatus(absl::UnavailableError(
      "wxtokend is shutting down or too busy to answer; ask again"));
}

}  // namespace

grpc::ServerUnaryReactor* TokenControllerService::ListOwners(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::ListOwnersRequest* request,
    wxtoken::v1::ListOwnersResponse* response) {
  OwnerQuery query;
  if (request->key_prefix().size() > kMaxKeyPrefix) {
    return Finish(context,
                  absl::InvalidArgumentError(absl::StrCat(
                      "key_prefix: longer than ", kMaxKeyPrefix, " bytes")));
  }
  query.prefix = request->key_prefix();
  absl::StatusOr<std::optional<OwnerState>> state =
      FromProtoOwnerState(request->state());
  if (!state.ok()) return Finish(context, state.status());
  query.state = *state;
  if (request->page_size() < 0) {
    return Finish(
        context, absl::InvalidArgumentError("page_size: must not be negative"));
  }
  query.limit = request->page_size() == 0
                    ? kDefaultPageSize
                    : std::min(request->page_size(), kMaxPageSize);
  if (!request->page_token().empty()) {
    absl::StatusOr<std::string> after = KeyOfPageToken(request->page_token());
    if (!after.ok()) return Finish(context, after.status());
    query.after = *std::move(after);
  }
  // Listed: the owners the caller's grants name for ListOwners.
  std::optional<std::vector<std::string>> granted =
      authorizer_.Get()->AppsFor(*context, "ListOwners");
  if (granted && granted->empty()) {
    // Refused (and logged) as any call outside the grants is.
    return Finish(context, Authorize(*context, "ListOwners",
                                     query.prefix.empty() ? "*" : query.prefix,
                                     /*audited=*/false));
  }
  if (granted) {
    query.visible = [apps = *std::move(granted)](const std::string& app_id) {
      return GrantNamesApp(apps, app_id);
    };
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool queued = worker_.Inspect([query = std::move(query), response,
                                       reactor](const RefreshEngine& engine) {
    const OwnerPage page = engine.ListOwners(query);
    for (const OwnerView& owner : page.owners) {
      FillOwnerStatus(owner, response->add_owners());
    }
    if (page.more && !page.owners.empty()) {
      response->set_next_page_token(PageTokenAfter(page.owners.back().app_id));
    }
    reactor->Finish(grpc::Status::OK);
  });
  if (!queued) reactor->Finish(Busy());
  return reactor;
}

grpc::ServerUnaryReactor* TokenControllerService::DescribeOwner(
    grpc::CallbackServerContext* context,
    const wxtoken::v1::DescribeOwnerRequest* request,
    wxtoken::v1::DescribeOwnerResponse* response) {
  if (absl::Status s = ValidateAppId(request->app_id()); !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s = Authorize(*context, "DescribeOwner", request->app_id(),
                                 /*audited=*/false);
      !s.ok()) {
    return Finish(context, s);
  }
  if (absl::Status s =
          table_.CheckKnown(request->app_id(), TokenKind::kAccessToken);
      !s.ok()) {
    return Finish(context, s);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool queued = worker_.Inspect([app_id = request->app_id(), response,
                                       reactor](const RefreshEngine& engine) {
    std::optional<OwnerView> owner = engine.DescribeOwner(app_id);
    if (!owner) {
      reactor->Finish(ToGrpcStatus(absl::NotFoundError(
          absl::StrCat("app_id: no owner \"", app_id, "\" is known"))));
      return;
    }
    FillOwnerStatus(*owner, response->mutable_owner());
    reactor->Finish(grpc::Status::OK);
  });
  if (!queued) reactor->Finish(Busy());
  return reactor;
}

}  // namespace wxtoken::server
