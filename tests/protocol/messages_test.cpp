#include "protocol/messages.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/builders.h"
#include "protocol/test_bytes.h"

namespace pgtenant::protocol {
namespace {

using test::be16;
using test::be32;
using test::cstr;

// Every strict prefix of a well-formed body must be rejected (or, for decoders that take
// "the rest", accepted only once the fixed part is complete).
template <typename Decode>
void expect_every_prefix_rejected(const std::string& body, Decode decode) {
    for (std::size_t n = 0; n < body.size(); ++n) {
        EXPECT_FALSE(decode(std::string_view(body).substr(0, n)).has_value()) << "prefix " << n;
    }
    EXPECT_TRUE(decode(body).has_value());
}

// --- startup family ---

TEST(DecodeStartup, RoundTripsTheBuilder) {
    std::string pkt;
    build::startup(pkt, {{"user", "alice"}, {"database", "practice_7"}, {"application_name", ""}});
    auto p = decode_startup(test::untagged_body(pkt));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->kind, StartupKind::startup);
    EXPECT_EQ(p->code, kProtocolV3);
    ASSERT_EQ(p->startup.params.size(), 3u);
    EXPECT_EQ(p->startup.params[0].first, "user");
    ASSERT_NE(p->startup.find("database"), nullptr);
    EXPECT_EQ(*p->startup.find("database"), "practice_7");
    ASSERT_NE(p->startup.find("application_name"), nullptr);
    EXPECT_EQ(*p->startup.find("application_name"), "");
    EXPECT_EQ(p->startup.find("options"), nullptr);
}

TEST(DecodeStartup, NoParametersIsWellFormed) {
    auto p = decode_startup(be32(kProtocolV3) + std::string(1, '\0'));
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->startup.params.empty());
}

TEST(DecodeStartup, TruncatedAtEveryByte) {
    std::string pkt;
    build::startup(pkt, {{"user", "alice"}, {"database", "db"}});
    expect_every_prefix_rejected(std::string(test::untagged_body(pkt)), decode_startup);
}

TEST(DecodeStartup, MalformedParameterLists) {
    const std::string v3 = be32(kProtocolV3);
    // Missing the list terminator.
    EXPECT_FALSE(decode_startup(v3 + cstr("user") + cstr("alice")));
    // Value without its NUL.
    EXPECT_FALSE(decode_startup(v3 + cstr("user") + "alice"));
    // An empty value is fine, but the next name lacks its NUL.
    EXPECT_FALSE(decode_startup(v3 + cstr("user") + std::string(1, '\0') + "x"));
    // Trailing garbage after the terminator.
    EXPECT_FALSE(decode_startup(v3 + cstr("user") + cstr("alice") + cstr("") + "x"));
    EXPECT_FALSE(decode_startup(v3 + cstr("") + cstr("")));
    // Duplicate parameter name: which one would the server use?
    EXPECT_FALSE(
        decode_startup(v3 + cstr("user") + cstr("alice") + cstr("user") + cstr("bob") + cstr("")));
    // Empty body, short code.
    EXPECT_FALSE(decode_startup(""));
    EXPECT_FALSE(decode_startup(std::string("\0\3\0", 3)));
}

TEST(DecodeStartup, SslAndGssEncRequests) {
    auto ssl = decode_startup(be32(80877103));
    ASSERT_TRUE(ssl);
    EXPECT_EQ(ssl->kind, StartupKind::ssl_request);
    EXPECT_EQ(ssl->code, kSslRequestCode);
    auto gss = decode_startup(be32(80877104));
    ASSERT_TRUE(gss);
    EXPECT_EQ(gss->kind, StartupKind::gssenc_request);
    // The request is exactly 8 bytes on the wire; anything more is malformed.
    EXPECT_FALSE(decode_startup(be32(80877103) + std::string(1, '\0')));
    EXPECT_FALSE(decode_startup(be32(80877103) + be32(0)));
    EXPECT_FALSE(decode_startup(be32(80877104) + "x"));
}

TEST(DecodeStartup, CancelRequestRoundTripAndWrongLengths) {
    std::string pkt;
    build::cancel_request(pkt, 4242, -17);
    ASSERT_EQ(pkt.size(), 16u);
    auto c = decode_startup(test::untagged_body(pkt));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->kind, StartupKind::cancel);
    EXPECT_EQ(c->code, kCancelRequestCode);
    EXPECT_EQ(c->cancel.pid, 4242);
    EXPECT_EQ(c->cancel.key, -17);

    const std::string body(test::untagged_body(pkt));
    expect_every_prefix_rejected(body, decode_startup);
    EXPECT_FALSE(decode_startup(body + "x"));
    EXPECT_FALSE(decode_startup(body + be32(0)));
}

TEST(DecodeStartup, ProtocolVersions) {
    // 2.0 (and anything not 3.x) is reported, with the code, so the session can refuse it.
    auto v2 = decode_startup(be32(0x00020000) + cstr("user") + cstr("alice") + cstr(""));
    ASSERT_TRUE(v2);
    EXPECT_EQ(v2->kind, StartupKind::unsupported_version);
    EXPECT_EQ(v2->code, 0x00020000);
    for (uint32_t code : {0x00010000u, 0x00040000u, 0xffff0000u, 0x00000000u, 0x04d2162cu}) {
        auto p = decode_startup(be32(code));
        ASSERT_TRUE(p) << code;
        EXPECT_EQ(p->kind, StartupKind::unsupported_version) << code;
        EXPECT_EQ(static_cast<uint32_t>(p->code), code);
    }
    // 3.1: a newer minor version of protocol 3 is served as 3.0.
    auto v31 = decode_startup(be32(0x00030001) + cstr("user") + cstr("alice") + cstr(""));
    ASSERT_TRUE(v31);
    EXPECT_EQ(v31->kind, StartupKind::startup);
    EXPECT_EQ(v31->code, 0x00030001);
    ASSERT_NE(v31->startup.find("user"), nullptr);
    EXPECT_EQ(v31->minor_version(), 1);
    EXPECT_TRUE(v31->needs_negotiation());
    // Still malformed when the parameter list is.
    EXPECT_FALSE(decode_startup(be32(0x00030001) + cstr("user")));

    auto v30 = decode_startup(be32(kProtocolV3) + cstr("user") + cstr("alice") + cstr(""));
    ASSERT_TRUE(v30);
    EXPECT_FALSE(v30->needs_negotiation());
    auto v3max = decode_startup(be32(0x0003ffff) + cstr("user") + cstr("alice") + cstr(""));
    ASSERT_TRUE(v3max);
    EXPECT_EQ(v3max->kind, StartupKind::startup);
    EXPECT_EQ(v3max->minor_version(), 0xffff);
    EXPECT_TRUE(v3max->needs_negotiation());
    // Other kinds never negotiate.
    EXPECT_FALSE(decode_startup(be32(0x00020000))->needs_negotiation());
    EXPECT_FALSE(decode_startup(be32(kSslRequestCode))->needs_negotiation());
}

TEST(DecodeStartup, ProtocolOptionsAreNotParameters) {
    // "_pq_." names are protocol extensions: kept apart from the parameters (which become
    // session settings and go to the server), in the order sent, values dropped.
    auto p = decode_startup(be32(kProtocolV3) + cstr("user") + cstr("alice") + cstr("_pq_.foo") +
                            cstr("1") + cstr("application_name") + cstr("app") + cstr("_pq_.bar") +
                            cstr("") + cstr(""));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->kind, StartupKind::startup);
    ASSERT_EQ(p->startup.params.size(), 2u);
    EXPECT_EQ(p->startup.params[0].first, "user");
    EXPECT_EQ(p->startup.params[1].first, "application_name");
    EXPECT_EQ(p->startup.find("_pq_.foo"), nullptr);
    EXPECT_EQ(p->startup.protocol_options, (std::vector<std::string>{"_pq_.foo", "_pq_.bar"}));
    EXPECT_TRUE(p->needs_negotiation());

    // The prefix is case-sensitive, as in PostgreSQL: "_PQ_.x" is an ordinary (bad) setting.
    auto upper = decode_startup(be32(kProtocolV3) + cstr("_PQ_.x") + cstr("1") + cstr(""));
    ASSERT_TRUE(upper);
    EXPECT_TRUE(upper->startup.protocol_options.empty());
    EXPECT_NE(upper->startup.find("_PQ_.x"), nullptr);
    // "_pq_." alone is still a protocol option (PostgreSQL checks only the prefix).
    auto bare = decode_startup(be32(kProtocolV3) + cstr("_pq_.") + cstr("") + cstr(""));
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->startup.protocol_options, std::vector<std::string>{"_pq_."});

    // Duplicates are malformed among protocol options too.
    EXPECT_FALSE(decode_startup(be32(kProtocolV3) + cstr("_pq_.a") + cstr("1") + cstr("_pq_.a") +
                                cstr("2") + cstr("")));
    // A protocol option without its value or terminator is malformed.
    EXPECT_FALSE(decode_startup(be32(kProtocolV3) + cstr("_pq_.a")));
    EXPECT_FALSE(decode_startup(be32(kProtocolV3) + cstr("_pq_.a") + cstr("1")));
}

// --- frontend messages ---

TEST(DecodeQuery, RoundTripAndMalformed) {
    std::string msg;
    build::query(msg, "SELECT 1; SELECT 2");
    auto q = decode_query(test::tagged_body(msg));
    ASSERT_TRUE(q);
    EXPECT_EQ(*q, "SELECT 1; SELECT 2");
    EXPECT_EQ(decode_query(cstr("")), std::string_view());
    expect_every_prefix_rejected(std::string(test::tagged_body(msg)), decode_query);
    EXPECT_FALSE(decode_query("SELECT 1"));                               // missing NUL
    EXPECT_FALSE(decode_query(cstr("SELECT 1") + "x"));                   // trailing garbage
    EXPECT_FALSE(decode_query(cstr("SELECT 1") + cstr("DROP TABLE t")));  // smuggled second query
}

TEST(DecodeParse, RoundTripsTheBuilder) {
    std::string msg;
    build::parse(msg, "s1", "SELECT $1");
    auto p = decode_parse(test::tagged_body(msg));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->name, "s1");
    EXPECT_EQ(p->query, "SELECT $1");
    EXPECT_TRUE(p->param_types.empty());
}

TEST(DecodeParse, ParameterTypes) {
    const std::string body =
        cstr("") + cstr("SELECT $1, $2, $3") + be16(3) + be32(23) + be32(0) + be32(0xffffffff);
    auto p = decode_parse(body);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->name, "");
    ASSERT_EQ(p->param_types.size(), 3u);
    EXPECT_EQ(p->param_types[0], 23);
    EXPECT_EQ(p->param_types[1], 0);
    EXPECT_EQ(p->param_types[2], -1);
    expect_every_prefix_rejected(body, decode_parse);
}

TEST(DecodeClientMessage, ReadsWhatTheSessionActsOnOnce) {
    std::string parse, bind, describe, close, query;
    build::parse(parse, "s1", "SELECT $1", {23});
    build::bind_portal(bind, "p1", "s1", {"7"});
    build::describe(describe, 'P', "p1");
    build::close(close, 'S', "s1");
    build::query(query, "SELECT 1");
    auto p = decode_client_message(parse);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->tag, 'P');
    EXPECT_EQ(p->name, "s1");
    EXPECT_EQ(p->text, "SELECT $1");
    EXPECT_EQ(p->param_types, std::vector<int32_t>{23});
    EXPECT_EQ(p->bytes, parse);
    auto b = decode_client_message(bind);
    ASSERT_TRUE(b && b->names_read);
    EXPECT_EQ(b->name, "s1");  // the statement, not the portal
    auto d = decode_client_message(describe);
    ASSERT_TRUE(d && d->names_read);
    EXPECT_EQ(d->kind, 'P');
    EXPECT_EQ(d->name, "p1");
    auto c = decode_client_message(close);
    ASSERT_TRUE(c && c->names_read);
    EXPECT_EQ(c->kind, 'S');
    auto q = decode_client_message(query);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->text, "SELECT 1");
}

TEST(DecodeClientMessage, MalformedQueryOrParseIsRefusedOtherNamesAreLeftToTheServer) {
    std::string query, bind;
    build::query(query, "SELECT 1");
    query.pop_back();  // no NUL
    query[4] = static_cast<char>(query.size() - 1);
    EXPECT_FALSE(decode_client_message(query));
    std::string parse = "P" + std::string("\0\0\0\5", 4) + "x";
    EXPECT_FALSE(decode_client_message(parse));
    bind = "B" + std::string("\0\0\0\6", 4) + "pq";  // no terminator: names unread
    auto b = decode_client_message(bind);
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->names_read);
    auto sync = decode_client_message(std::string("S\0\0\0\4", 5));
    ASSERT_TRUE(sync);
    EXPECT_EQ(sync->tag, 'S');
}

TEST(DecodeParse, Malformed) {
    const std::string head = cstr("s") + cstr("SELECT $1");
    EXPECT_FALSE(decode_parse(head));                                  // no count
    EXPECT_FALSE(decode_parse(head + be16(0xffff)));                   // count -1
    EXPECT_FALSE(decode_parse(head + be16(0x8000) + be32(23)));        // count -32768
    EXPECT_FALSE(decode_parse(head + be16(2) + be32(23)));             // one type short
    EXPECT_FALSE(decode_parse(head + be16(1) + be32(23) + be32(25)));  // one type extra
    EXPECT_FALSE(decode_parse(head + be16(0) + "x"));                  // trailing garbage
    EXPECT_FALSE(decode_parse(cstr("s") + "SELECT 1" + be16(0)));      // query without NUL...
    EXPECT_FALSE(decode_parse("s"));                                   // ...or name without NUL
}

TEST(DecodeSaslInitial, RoundTripsTheBuilder) {
    std::string msg;
    build::sasl_initial(msg, "SCRAM-SHA-256", "n,,n=,r=abc");
    auto s = decode_sasl_initial(test::tagged_body(msg));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->mechanism, "SCRAM-SHA-256");
    ASSERT_TRUE(s->data);
    EXPECT_EQ(*s->data, "n,,n=,r=abc");
    expect_every_prefix_rejected(std::string(test::tagged_body(msg)), decode_sasl_initial);

    // Zero-length data is present, not absent.
    const std::string zero = cstr("SCRAM-SHA-256") + be32(0);
    auto empty = decode_sasl_initial(zero);
    ASSERT_TRUE(empty);
    ASSERT_TRUE(empty->data);
    EXPECT_TRUE(empty->data->empty());
}

TEST(DecodeSaslInitial, MinusOneMeansNoData) {
    auto s = decode_sasl_initial(cstr("SCRAM-SHA-256") + be32(0xffffffff));
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->data);
    EXPECT_FALSE(decode_sasl_initial(cstr("SCRAM-SHA-256") + be32(0xffffffff) + "x"));
}

TEST(DecodeSaslInitial, Malformed) {
    const std::string mech = cstr("SCRAM-SHA-256");
    EXPECT_FALSE(decode_sasl_initial(mech + be32(0xfffffffe) + "ab"));  // -2
    EXPECT_FALSE(decode_sasl_initial(mech + be32(0x80000000)));         // INT32_MIN
    EXPECT_FALSE(decode_sasl_initial(mech + be32(4) + "abc"));          // says more than sent
    EXPECT_FALSE(decode_sasl_initial(mech + be32(2) + "abc"));          // trailing garbage
    EXPECT_FALSE(decode_sasl_initial(mech + be32(0x7fffffff) + "abc"));
    EXPECT_FALSE(decode_sasl_initial("SCRAM-SHA-256"));  // no NUL, no length
}

// --- backend messages ---

TEST(DecodeAuthentication, EachBuilder) {
    std::string ok, md5, sasl, cont, fin;
    build::auth_ok(ok);
    build::auth_md5(md5, "salt");
    build::auth_sasl(sasl, "SCRAM-SHA-256");
    build::auth_sasl_continue(cont, "r=abc,s=xyz,i=4096");
    build::auth_sasl_final(fin, "v=proof");

    auto a = decode_authentication(test::tagged_body(ok));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->code, 0);
    EXPECT_TRUE(a->data.empty());

    a = decode_authentication(test::tagged_body(md5));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->code, 5);
    EXPECT_EQ(a->data, "salt");

    a = decode_authentication(test::tagged_body(sasl));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->code, 10);
    auto mechs = split_sasl_mechanisms(a->data);
    ASSERT_EQ(mechs.size(), 1u);
    EXPECT_EQ(mechs[0], "SCRAM-SHA-256");

    a = decode_authentication(test::tagged_body(cont));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->code, 11);
    EXPECT_EQ(a->data, "r=abc,s=xyz,i=4096");

    a = decode_authentication(test::tagged_body(fin));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->code, 12);
    EXPECT_EQ(a->data, "v=proof");
}

TEST(DecodeAuthentication, ShorterThanTheCode) {
    for (std::size_t n = 0; n < 4; ++n)
        EXPECT_FALSE(decode_authentication(std::string(n, '\0'))) << n;
    auto a = decode_authentication(be32(0xffffffff));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->code, -1);
}

TEST(SplitSaslMechanisms, ListsAndMalformedLists) {
    const std::string list = cstr("SCRAM-SHA-256-PLUS") + cstr("SCRAM-SHA-256") + cstr("");
    auto m = split_sasl_mechanisms(list);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0], "SCRAM-SHA-256-PLUS");
    EXPECT_EQ(m[1], "SCRAM-SHA-256");
    EXPECT_TRUE(split_sasl_mechanisms("").empty());
    EXPECT_TRUE(split_sasl_mechanisms(cstr("")).empty());
    // A last name without its NUL is not a mechanism.
    const std::string unterminated = cstr("SCRAM-SHA-256") + "SCRAM-SHA-256-PL";
    auto partial = split_sasl_mechanisms(unterminated);
    ASSERT_EQ(partial.size(), 1u);
    EXPECT_EQ(partial[0], "SCRAM-SHA-256");
    // Names after the terminator are ignored.
    EXPECT_EQ(split_sasl_mechanisms(cstr("A") + cstr("") + cstr("B")).size(), 1u);
}

TEST(DecodeDataRow, ValuesNullsAndMalformed) {
    using test::be16;
    using test::be32;
    const std::string body = be16(3) + be32(2) + "ab" + be32(0xffffffff) + be32(0);
    auto row = decode_data_row(body);
    ASSERT_TRUE(row);
    ASSERT_EQ(row->size(), 3u);
    EXPECT_EQ(*(*row)[0], "ab");
    EXPECT_FALSE((*row)[1]);
    EXPECT_EQ(*(*row)[2], "");
    expect_every_prefix_rejected(body, decode_data_row);
    EXPECT_FALSE(decode_data_row(body + "x"));
    EXPECT_FALSE(decode_data_row(be16(1) + be32(0xfffffffe)));  // -2: no such length
    EXPECT_FALSE(decode_data_row(be16(0xffff)));
    EXPECT_TRUE(decode_data_row(be16(0)));
}

// well_formed_row accepts exactly what decode_data_row decodes.
TEST(WellFormedRow, AgreesWithDecodeDataRow) {
    using test::be16;
    using test::be32;
    const std::string body = be16(3) + be32(2) + "ab" + be32(0xffffffff) + be32(0);
    EXPECT_TRUE(well_formed_row(body));
    for (std::size_t n = 0; n < body.size(); ++n)
        EXPECT_FALSE(well_formed_row(body.substr(0, n))) << n;
    for (const std::string& b :
         {body + "x", be16(1) + be32(0xfffffffe), be16(0xffff), be16(0), be16(1) + be32(5) + "abc",
          be16(1) + be32(0x7fffffff), be16(2) + be32(1) + "a", std::string("\x01")})
        EXPECT_EQ(well_formed_row(b), decode_data_row(b).has_value());
}

TEST(DecodeParameterStatus, RoundTripAndMalformed) {
    std::string msg;
    build::parameter_status(msg, "client_encoding", "UTF8");
    const std::string body(test::tagged_body(msg));
    auto p = decode_parameter_status(body);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->name, "client_encoding");
    EXPECT_EQ(p->value, "UTF8");
    expect_every_prefix_rejected(body, decode_parameter_status);
    EXPECT_FALSE(decode_parameter_status(body + "x"));
    EXPECT_FALSE(decode_parameter_status(cstr("client_encoding") + "UTF8"));
    const std::string no_value = cstr("search_path") + cstr("");
    auto empty_value = decode_parameter_status(no_value);
    ASSERT_TRUE(empty_value);
    EXPECT_EQ(empty_value->value, "");
}

TEST(DecodeBackendKeyData, RoundTripAndWrongLengths) {
    std::string msg;
    build::backend_key_data(msg, 31337, -123456789);
    const std::string body(test::tagged_body(msg));
    auto k = decode_backend_key_data(body);
    ASSERT_TRUE(k);
    EXPECT_EQ(k->pid, 31337);
    EXPECT_EQ(k->key, -123456789);
    expect_every_prefix_rejected(body, decode_backend_key_data);
    EXPECT_FALSE(decode_backend_key_data(body + "x"));
}

TEST(DecodeErrorFields, FieldsInOrder) {
    const std::string body = "S" + cstr("ERROR") + "V" + cstr("ERROR") + "C" + cstr("42P01") + "M" +
                             cstr("relation \"t\" does not exist") + "P" + cstr("15") + cstr("");
    auto e = decode_error_fields(body);
    ASSERT_TRUE(e);
    ASSERT_EQ(e->fields.size(), 5u);
    EXPECT_EQ(e->fields[4].first, 'P');
    EXPECT_EQ(e->severity(), "ERROR");
    EXPECT_EQ(e->sqlstate(), "42P01");
    EXPECT_EQ(e->message(), "relation \"t\" does not exist");
    EXPECT_EQ(e->get('D'), "");
    expect_every_prefix_rejected(body, decode_error_fields);
}

TEST(DecodeErrorFields, SeverityPrefersTheUntranslatedField) {
    auto e = decode_error_fields("S" + cstr("FEHLER") + "V" + cstr("ERROR") + cstr(""));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->severity(), "ERROR");
    auto old = decode_error_fields("S" + cstr("FATAL") + cstr(""));
    ASSERT_TRUE(old);
    EXPECT_EQ(old->severity(), "FATAL");
}

TEST(DecodeErrorFields, Malformed) {
    auto none = decode_error_fields(cstr(""));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->fields.empty());
    EXPECT_FALSE(decode_error_fields(""));
    EXPECT_FALSE(decode_error_fields("S" + cstr("ERROR")));                   // no terminator
    EXPECT_FALSE(decode_error_fields("S" + std::string("ERROR")));            // value without NUL
    EXPECT_FALSE(decode_error_fields("S" + cstr("ERROR") + cstr("") + "x"));  // trailing garbage
}

}  // namespace
}  // namespace pgtenant::protocol
