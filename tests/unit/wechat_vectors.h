#ifndef WXTOKEN_TESTS_UNIT_WECHAT_VECTORS_H_
#define WXTOKEN_TESTS_UNIT_WECHAT_VECTORS_H_

// WECHAT.md's safe-mode message encryption vectors, shared by the unit tests
// and the fuzz targets.
namespace wxtoken::wechat_vectors {

// A push: EncodingAESKey of zero bytes, its Encrypt and msg_signature.
inline constexpr char kToken[] = "AAAAA";
inline constexpr char kZeroKey[] =
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
inline constexpr char kAppId[] = "wxba5fad812f8e6fb9";
inline constexpr char kPushTimestamp[] = "1714112445";
inline constexpr char kNonce[] = "415670741";
inline constexpr char kPushEncrypt[] =
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4Rv"
    "QMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyj"
    "Py7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAs"
    "jLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9m"
    "FUPAJGj04=";
inline constexpr char kPushMsgSignature[] =
    "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3";
inline constexpr char kPushMessage[] =
    R"({"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"})";

// The reply to it, with the same key, app_id and nonce.
inline constexpr char kReplyRandom[] = "707722b803182950";
inline constexpr char kReplyMessage[] = R"({"demo_resp":"good luck"})";
inline constexpr char kReplyEncrypt[] =
    "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbt"
    "zve1L32tmxSQ==";
inline constexpr char kReplyTimestamp[] = "1713424427";
inline constexpr char kReplyMsgSignature[] =
    "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1";

// A second key, whose last character carries nonzero spare bits, and a
// UTF-8 message.
inline constexpr char kLetterKey[] =
    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
inline constexpr char kLetterAppId[] = "wxb11529c136998cb6";
inline constexpr char kLetterRandom[] = "aaaabbbbccccdddd";
inline constexpr char kLetterMessage[] = "我是中文abcd123";
inline constexpr char kLetterEncrypt[] =
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZ"
    "GMhkP72vVOfg==";

}  // namespace wxtoken::wechat_vectors

#endif  // WXTOKEN_TESTS_UNIT_WECHAT_VECTORS_H_
