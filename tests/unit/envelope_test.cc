#include "server/wechat/envelope.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/wechat/limits.h"
#include "tests/unit/wechat_vectors.h"

namespace wxtoken::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using ::testing::StartsWith;

using ::wxtoken::wechat_vectors::kNonce;
using ::wxtoken::wechat_vectors::kReplyEncrypt;
using ::wxtoken::wechat_vectors::kReplyMsgSignature;
using ::wxtoken::wechat_vectors::kReplyTimestamp;

// The reason of a rejected body, or "ok".
std::string Reason(absl::string_view body) {
  absl::StatusOr<PushEnvelope> envelope = ParsePushEnvelope(body);
  if (envelope.ok()) return "ok";
  EXPECT_EQ(envelope.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(envelope.status().message()),
              StartsWith("envelope: "));
  return std::string(envelope.status().message());
}

TEST(ParsePushEnvelopeTest, XmlAsWeChatSendsIt) {
  absl::StatusOr<PushEnvelope> envelope = ParsePushEnvelope(
      "<xml>\n    <ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n"
      "    <Encrypt><![CDATA[+qdx1OKC/y=]]></Encrypt>\n</xml>\n");
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->encrypt, "+qdx1OKC/y=");
  EXPECT_THAT(envelope->to_user_name, Optional(std::string("gh_97417a04a28d")));
}

TEST(ParsePushEnvelopeTest, XmlPlainTextWithoutToUserNameAndOtherElements) {
  absl::StatusOr<PushEnvelope> envelope = ParsePushEnvelope(
      "<xml><AppId><![CDATA[wx0123]]></AppId><Encrypt>abc=</Encrypt>"
      "<Empty></Empty></xml>");
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->encrypt, "abc=");
  EXPECT_EQ(envelope->to_user_name, std::nullopt);
}

TEST(ParsePushEnvelopeTest, CdataKeepsMarkupCharactersVerbatim) {
  absl::StatusOr<PushEnvelope> envelope =
      ParsePushEnvelope("<xml><Encrypt><![CDATA[a<b>&amp;]]></Encrypt></xml>");
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->encrypt, "a<b>&amp;");
}

TEST(ParsePushEnvelopeTest, JsonAsWeChatSendsIt) {
  absl::StatusOr<PushEnvelope> envelope = ParsePushEnvelope(
      R"( {"ToUserName":"gh_97417a04a28d","Encrypt":"+qdx\/1OKC="} )");
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->encrypt, "+qdx/1OKC=");
  EXPECT_THAT(envelope->to_user_name, Optional(std::string("gh_97417a04a28d")));

  absl::StatusOr<PushEnvelope> minimal =
      ParsePushEnvelope(R"({"Encrypt":"abc","Other":[1,{"x":null}]})");
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_EQ(minimal->encrypt, "abc");
  EXPECT_EQ(minimal->to_user_name, std::nullopt);
}

TEST(ParsePushEnvelopeTest, RejectsWithAClearReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty body"},
      {" \n\t", "empty body"},
      {"Encrypt=abc", "neither XML nor JSON"},
      {"\xEF\xBB\xBF<xml></xml>", "neither XML nor JSON"},
      {"<xml><Encrypt>a\xFF</Encrypt></xml>", "XML body is not UTF-8 text"},
      {"<xml><Encrypt>\xC0\xAF</Encrypt></xml>",  // overlong '/'
       "XML body is not UTF-8 text"},
      {std::string("<xml><Encrypt>a") + '\0' + "</Encrypt></xml>",
       "XML body is not UTF-8 text"},
      {"<xml><Encrypt>a\x1B</Encrypt></xml>", "XML body is not UTF-8 text"},
      // XML shape.
      {"<?xml version=\"1.0\"?><xml><Encrypt>a</Encrypt></xml>",
       "XML must start with <xml>"},
      {"<xmlx><Encrypt>a</Encrypt></xmlx>", "XML must start with <xml>"},
      {"<xml><Encrypt>a</Encrypt>", "XML ends before </xml>"},
      {"<xml><Encrypt>a</Encrypt></xml><xml></xml>", "content after </xml>"},
      {"<xml>text<Encrypt>a</Encrypt></xml>", "text between XML elements"},
      {"<xml><!DOCTYPE x [<!ENTITY e \"a\">]><Encrypt>&e;</Encrypt></xml>",
       "not supported"},
      {"<xml><!-- c --><Encrypt>a</Encrypt></xml>", "not supported"},
      {"<xml><![CDATA[x]]><Encrypt>a</Encrypt></xml>", "not supported"},
      {"<xml><Encrypt>&lt;</Encrypt></xml>", "references"},
      {"<xml><Encrypt>&#65;</Encrypt></xml>", "references"},
      {"<xml><Encrypt a=\"1\">x</Encrypt></xml>", "attributes"},
      {"<xml><Encrypt/></xml>", "attributes and self-closing"},
      {"<xml><Encrypt><b>x</b></Encrypt></xml>", "nested"},
      {"<xml><Encrypt>a</Encrypted></xml>", "not closed by its own end tag"},
      {"<xml><Encrypt><![CDATA[a]]>b</Encrypt></xml>",
       "not closed by its own end tag"},
      {"<xml><Encrypt><![CDATA[a]]</Encrypt></xml>", "unterminated CDATA"},
      {"<xml><Encrypt>abc", "XML ends in an element"},
      {"<xml>< Encrypt>a</Encrypt></xml>", "malformed XML element name"},
      {"<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>",
       "Encrypt appears more than once"},
      {"<xml><Encrypt><![CDATA[a]]></Encrypt><Encrypt>a</Encrypt></xml>",
       "Encrypt appears more than once"},
      {"<xml><ToUserName>a</ToUserName><ToUserName>b</ToUserName>"
       "<Encrypt>a</Encrypt></xml>",
       "ToUserName appears more than once"},
      {"<xml><ToUserName>a</ToUserName></xml>", "Encrypt is missing"},
      {"<xml><encrypt>a</encrypt></xml>", "Encrypt is missing"},
      {"<xml><Encrypt><![CDATA[]]></Encrypt></xml>", "Encrypt is empty"},
      // JSON.
      {R"({"Encrypt":"a","Encrypt":"b"})", "repeated key"},
      {R"({"Encrypt":"a","\u0045ncrypt":"b"})", "repeated key"},
      {R"({"Encrypt":"a")", "not one object"},
      {R"({"Encrypt":"a"} {})", "not one object"},
      {"{\"Encrypt\":\"\xFF\"}", "not one object"},
      {R"({"Encrypt":1})", "Encrypt is not a string"},
      {R"({"Encrypt":null})", "Encrypt is not a string"},
      {R"({"Encrypt":"a","ToUserName":["x"]})", "ToUserName is not a string"},
      {R"({"ToUserName":"x"})", "Encrypt is missing"},
      {R"({"Encrypt":""})", "Encrypt is empty"},
  };
  for (const auto& [body, reason] : cases) {
    EXPECT_THAT(Reason(body), HasSubstr(reason)) << body;
  }
}

TEST(ParsePushEnvelopeTest, BodySizeIsBounded) {
  const std::string open = "<xml><Encrypt>";
  const std::string close = "</Encrypt></xml>";
  std::string at_limit =
      open + std::string(kMaxEnvelopeSize - open.size() - close.size(), 'A') +
      close;
  ASSERT_EQ(at_limit.size(), kMaxEnvelopeSize);
  EXPECT_EQ(Reason(at_limit), "ok");
  EXPECT_EQ(Reason(at_limit + " "), "envelope: body larger than 1 MiB");
}

// Protobuf's JSON parser needs seconds for arrays nested a few thousand
// deep; without the bracket bound this body would take hours.
TEST(ParsePushEnvelopeTest, DeepJsonNestingIsRejectedBeforeParsing) {
  const auto nested = [](size_t depth) {
    return absl::StrCat(R"({"Encrypt":"a","x":)", std::string(depth, '['),
                        std::string(depth, ']'), "}");
  };
  EXPECT_EQ(Reason(nested(kMaxEnvelopeSize / 2 - 20)),
            "envelope: JSON body has more than 64 '{' and '['");
  EXPECT_EQ(Reason(nested(64)),
            "envelope: JSON body has more than 64 '{' and '['");
  // 63 arrays and the object: at the bound, and handed to the parser (which
  // refuses lists this deep inside a Struct).
  EXPECT_THAT(Reason(nested(63)), HasSubstr("not one object"));
  EXPECT_EQ(Reason(nested(3)), "ok");
  // Counted inside strings too: quoting cannot hide a bracket.
  EXPECT_EQ(Reason(absl::StrCat(R"({"Encrypt":"a","x":")", std::string(64, '{'),
                                "\"}")),
            "envelope: JSON body has more than 64 '{' and '['");
}

TEST(ParsePushEnvelopeTest, ErrorsDoNotQuoteTheBody) {
  for (const char* body :
       {"{\"Encrypt\":\"SECRETSECRET\"", "<xml><Encrypt>SECRETSECRET&",
        "<xml><Encrypt>SECRETSECRET</Encrypt><Encrypt>SECRETSECRET</Encrypt>"
        "</xml>"}) {
    EXPECT_THAT(Reason(body), Not(HasSubstr("SECRET"))) << body;
  }
}

TEST(BuildReplyEnvelopeTest, WeChatReplyVector) {
  absl::StatusOr<std::string> xml = BuildReplyEnvelope(
      kReplyEncrypt, kReplyMsgSignature, kReplyTimestamp, kNonce);
  ASSERT_TRUE(xml.ok()) << xml.status();
  EXPECT_EQ(*xml, absl::StrCat("<xml><Encrypt><![CDATA[", kReplyEncrypt,
                               "]]></Encrypt><MsgSignature><![CDATA[",
                               kReplyMsgSignature,
                               "]]></MsgSignature><TimeStamp>1713424427"
                               "</TimeStamp><Nonce><![CDATA[415670741]]>"
                               "</Nonce></xml>"));
  // Our own parser reads the Encrypt back out of it.
  absl::StatusOr<PushEnvelope> parsed = ParsePushEnvelope(*xml);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->encrypt, kReplyEncrypt);
}

TEST(BuildReplyEnvelopeTest, JsonVariant) {
  absl::StatusOr<std::string> json = BuildJsonReplyEnvelope(
      kReplyEncrypt, kReplyMsgSignature, kReplyTimestamp, kNonce);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, absl::StrCat(R"({"Encrypt":")", kReplyEncrypt,
                                R"(","MsgSignature":")", kReplyMsgSignature,
                                R"(","TimeStamp":1713424427,)"
                                R"("Nonce":"415670741"})"));
  absl::StatusOr<PushEnvelope> parsed = ParsePushEnvelope(*json);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->encrypt, kReplyEncrypt);
}

TEST(BuildReplyEnvelopeTest, RejectsValuesThatCouldBreakOut) {
  struct Case {
    std::string encrypt, signature, timestamp, nonce, field;
  };
  const std::string e = kReplyEncrypt;
  const std::string s = kReplyMsgSignature;
  const std::string t = kReplyTimestamp;
  const std::string n = kNonce;
  const std::vector<Case> cases = {
      {"", s, t, n, "encrypt"},
      {e + "]]>", s, t, n, "encrypt"},
      {e + "\"", s, t, n, "encrypt"},
      {std::string(kMaxEncryptLength + 1, 'A'), s, t, n, "encrypt"},
      {e, s + "0", t, n, "msg_signature"},
      {e, s.substr(1) + "g", t, n, "msg_signature"},
      {e, s, "", n, "timestamp"},
      {e, s, "0123", n, "timestamp"},
      {e, s, "12a", n, "timestamp"},
      {e, s, std::string(kMaxTimestampLength + 1, '1'), n, "timestamp"},
      {e, s, t, "", "nonce"},
      {e, s, t, "a]]>", "nonce"},
      {e, s, t, "a\"b", "nonce"},
      {e, s, t, std::string(kMaxPushNonceLength + 1, 'a'), "nonce"},
  };
  for (const Case& c : cases) {
    for (const auto& result :
         {BuildReplyEnvelope(c.encrypt, c.signature, c.timestamp, c.nonce),
          BuildJsonReplyEnvelope(c.encrypt, c.signature, c.timestamp,
                                 c.nonce)}) {
      ASSERT_FALSE(result.ok()) << c.field;
      EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(result.status().message()),
                  StartsWith(c.field + ":"));
    }
  }
  EXPECT_TRUE(BuildReplyEnvelope(e, s, "0", "Ab9_-").ok());
}

}  // namespace
}  // namespace wxtoken::server
