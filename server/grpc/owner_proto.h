#ifndef WXTOKEN_SERVER_GRPC_OWNER_PROTO_H_
#define WXTOKEN_SERVER_GRPC_OWNER_PROTO_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/token/owner_view.h"
#include "wxtoken/v1/token_controller.pb.h"

namespace wxtoken::server {

// The operations view (server/token/owner_view.h) as the proto carries it.
void FillOwnerStatus(const OwnerView& view, wxtoken::v1::OwnerStatus* proto);

// A ListOwners filter's state: nullopt for OWNER_STATE_UNSPECIFIED (any).
absl::StatusOr<std::optional<OwnerState>> FromProtoOwnerState(
    wxtoken::v1::OwnerState state);

// ListOwners' page token: the last key of the page before, opaque to
// callers (base64url).
std::string PageTokenAfter(const std::string& last_key);
absl::StatusOr<std::string> KeyOfPageToken(const std::string& page_token);

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_OWNER_PROTO_H_
