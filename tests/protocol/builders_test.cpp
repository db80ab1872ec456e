// Exact bytes, spelled out from the "Message Formats" section of the PostgreSQL protocol docs.
#include "protocol/builders.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/test_bytes.h"

namespace pgtenant::protocol {
namespace {

using test::raw;

std::string built(void (*f)(std::string&)) {
    std::string out;
    f(out);
    return out;
}

TEST(Builders, SyncFlushAndTerminate) {
    EXPECT_EQ(built(build::sync), raw({'S', 0, 0, 0, 4}));
    EXPECT_EQ(built(build::flush), raw({'H', 0, 0, 0, 4}));
    EXPECT_EQ(built(build::terminate), raw({'X', 0, 0, 0, 4}));
}

TEST(Builders, AppendWithoutDisturbingWhatIsThere) {
    std::string out = "prefix";
    build::sync(out);
    build::sync(out);
    EXPECT_EQ(out, "prefix" + raw({'S', 0, 0, 0, 4, 'S', 0, 0, 0, 4}));
}

TEST(Builders, ReadyForQuery) {
    for (char status : {'I', 'T', 'E'}) {
        std::string out;
        build::ready_for_query(out, status);
        EXPECT_EQ(out, raw({'Z', 0, 0, 0, 5, status}));
    }
}

TEST(Builders, Query) {
    std::string out;
    build::query(out, "SELECT 1");
    EXPECT_EQ(out, raw({'Q', 0, 0, 0, 13}) + "SELECT 1" + raw({0}));
}

TEST(Builders, ParseWithNoParameterTypes) {
    std::string out;
    build::parse(out, "s1", "SELECT $1");
    // 4 + "s1\0" (3) + "SELECT $1\0" (10) + int16 count (2) = 19
    EXPECT_EQ(out, raw({'P', 0, 0, 0, 19}) + "s1" + raw({0}) + "SELECT $1" + raw({0, 0, 0}));
}

TEST(Builders, BindWithNullParameter) {
    std::string out;
    build::bind(out, "s1", {"42", std::nullopt});
    const std::string expected = raw({'B', 0, 0, 0, 24}) + raw({0}) +  // unnamed portal
                                 "s1" + raw({0}) +                     // statement
                                 raw({0, 0}) +  // no parameter format codes: all text
                                 raw({0, 2}) +  // two parameters
                                 raw({0, 0, 0, 2}) + "42" +
                                 raw({0xff, 0xff, 0xff, 0xff}) +  // -1: NULL, no value bytes
                                 raw({0, 0});  // no result format codes: all text
    EXPECT_EQ(out, expected);
}

TEST(Builders, BindWithEmptyStringIsNotNull) {
    std::string out;
    build::bind(out, "", {std::string_view("")});
    EXPECT_EQ(out, raw({'B', 0, 0, 0, 16, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(Builders, Execute) {
    std::string out;
    build::execute(out);
    EXPECT_EQ(out, raw({'E', 0, 0, 0, 9, 0, 0, 0, 0, 0}));
    out.clear();
    build::execute(out, "p", 100);
    EXPECT_EQ(out, raw({'E', 0, 0, 0, 10, 'p', 0, 0, 0, 0, 100}));
}

TEST(Builders, StartupMessage) {
    std::string out;
    build::startup(out, {{"user", "alice"}, {"database", "db"}});
    // 4 (length) + 4 (196608 = 0x00030000) + "user\0alice\0" (11) + "database\0db\0" (12) + 1 = 32
    const std::string expected = raw({0, 0, 0, 32, 0, 3, 0, 0}) + "user" + raw({0}) + "alice" +
                                 raw({0}) + "database" + raw({0}) + "db" + raw({0, 0});
    EXPECT_EQ(out, expected);
}

TEST(Builders, CancelRequest) {
    std::string out;
    build::cancel_request(out, 0x01020304, -2);
    // 80877102 = 0x04D2162E
    EXPECT_EQ(out, raw({0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe}));
}

TEST(Builders, SslRequest) {
    std::string out;
    build::ssl_request(out);
    // 80877103 = 0x04D2162F
    EXPECT_EQ(out, raw({0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}));
}

TEST(Builders, PasswordAndSaslMessages) {
    std::string out;
    build::password(out, "secret");
    EXPECT_EQ(out, raw({'p', 0, 0, 0, 11}) + "secret" + raw({0}));

    out.clear();
    build::sasl_initial(out, "SCRAM-SHA-256", "abc");
    EXPECT_EQ(out, raw({'p', 0, 0, 0, 25}) + "SCRAM-SHA-256" + raw({0, 0, 0, 0, 3}) + "abc");

    out.clear();
    build::sasl_response(out, "abc");
    EXPECT_EQ(out, raw({'p', 0, 0, 0, 7}) + "abc");
}

TEST(Builders, AuthenticationRequests) {
    std::string out;
    build::auth_ok(out);
    EXPECT_EQ(out, raw({'R', 0, 0, 0, 8, 0, 0, 0, 0}));

    out.clear();
    build::auth_md5(out, "salt");
    EXPECT_EQ(out, raw({'R', 0, 0, 0, 12, 0, 0, 0, 5}) + "salt");

    out.clear();
    build::auth_sasl(out, "SCRAM-SHA-256");
    // The mechanism list ends with an empty name.
    EXPECT_EQ(out, raw({'R', 0, 0, 0, 23, 0, 0, 0, 10}) + "SCRAM-SHA-256" + raw({0, 0}));

    out.clear();
    build::auth_sasl_continue(out, "r=x");
    EXPECT_EQ(out, raw({'R', 0, 0, 0, 11, 0, 0, 0, 11}) + "r=x");

    out.clear();
    build::auth_sasl_final(out, "v=y");
    EXPECT_EQ(out, raw({'R', 0, 0, 0, 11, 0, 0, 0, 12}) + "v=y");
}

TEST(Builders, SessionMessages) {
    std::string out;
    build::parameter_status(out, "TimeZone", "UTC");
    EXPECT_EQ(out, raw({'S', 0, 0, 0, 17}) + "TimeZone" + raw({0}) + "UTC" + raw({0}));

    out.clear();
    build::backend_key_data(out, 1234, 0x7fffffff);
    EXPECT_EQ(out, raw({'K', 0, 0, 0, 12, 0, 0, 0x04, 0xd2, 0x7f, 0xff, 0xff, 0xff}));

    out.clear();
    build::command_complete(out, "SELECT 1");
    EXPECT_EQ(out, raw({'C', 0, 0, 0, 13}) + "SELECT 1" + raw({0}));
}

TEST(Builders, NegotiateProtocolVersion) {
    // 'v', length, newest supported version (3.0 as the whole code 0x00030000, as PostgreSQL
    // sends it), the number of unrecognised options, their names.
    std::string out;
    build::negotiate_protocol_version(out, 0x00030000, {"_pq_.foo", "_pq_.b"});
    EXPECT_EQ(out, raw({'v', 0, 0, 0, 28, 0, 3, 0, 0, 0, 0, 0, 2}) + "_pq_.foo" + raw({0}) +
                       "_pq_.b" + raw({0}));

    out.clear();
    build::negotiate_protocol_version(out, 0x00030000, {});
    EXPECT_EQ(out, raw({'v', 0, 0, 0, 12, 0, 3, 0, 0, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace pgtenant::protocol
