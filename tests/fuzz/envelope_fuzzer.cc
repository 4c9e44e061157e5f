// Fuzzes the safe-mode push envelope parser with arbitrary bodies. Besides
// never crashing: a parsed Encrypt is non-empty, no longer than the body and
// UTF-8 (ToUserName too), and when it could appear in a reply, the reply
// envelopes we build around it (XML and JSON) parse back to the same Encrypt.
#include <google/protobuf/stubs/common.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "server/wechat/envelope.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/unit/wechat_vectors.h"

namespace {

using wxtoken::wechat_vectors::kNonce;
using wxtoken::wechat_vectors::kReplyMsgSignature;
using wxtoken::wechat_vectors::kReplyTimestamp;

void CheckReplyRoundTrip(const std::string& encrypt) {
  for (bool xml : {true, false}) {
    absl::StatusOr<std::string> reply =
        xml ? wxtoken::server::BuildReplyEnvelope(encrypt, kReplyMsgSignature,
                                                  kReplyTimestamp, kNonce)
            : wxtoken::server::BuildJsonReplyEnvelope(
                  encrypt, kReplyMsgSignature, kReplyTimestamp, kNonce);
    if (!reply.ok()) return;  // not base64: never a reply's Encrypt
    absl::StatusOr<wxtoken::server::PushEnvelope> parsed =
        wxtoken::server::ParsePushEnvelope(*reply);
    WXTOKEN_FUZZ_CHECK(parsed.ok() && parsed->encrypt == encrypt &&
                       !parsed->to_user_name.has_value());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<wxtoken::server::PushEnvelope> envelope =
      wxtoken::server::ParsePushEnvelope(body);
  if (!envelope.ok()) {
    WXTOKEN_FUZZ_CHECK(envelope.status().code() ==
                       absl::StatusCode::kInvalidArgument);
    return 0;
  }
  WXTOKEN_FUZZ_CHECK(!envelope->encrypt.empty());
  WXTOKEN_FUZZ_CHECK(envelope->encrypt.size() <= size);
  // Both go into protobuf string fields, which must hold UTF-8.
  WXTOKEN_FUZZ_CHECK(google::protobuf::internal::IsStructurallyValidUTF8(
      envelope->encrypt.data(), envelope->encrypt.size()));
  WXTOKEN_FUZZ_CHECK(
      !envelope->to_user_name.has_value() ||
      google::protobuf::internal::IsStructurallyValidUTF8(
          envelope->to_user_name->data(), envelope->to_user_name->size()));
  CheckReplyRoundTrip(envelope->encrypt);
  return 0;
}
