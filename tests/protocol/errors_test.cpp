#include "protocol/errors.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/frame.h"
#include "protocol/test_bytes.h"

namespace pgtenant::protocol {
namespace {

using test::cstr;

struct Named {
    const char* name;
    Error error;
    const char* sqlstate;
};

std::vector<Named> every_factory() {
    return {
        {"auth_failed", errors::auth_failed("alice"), "28P01"},
        {"auth_rejected",
         errors::auth_rejected(errors::Rule{"address"}, "no pg_hba-style rule for this address"),
         "28000"},
        {"protocol_violation", errors::protocol_violation("bad length"), "08P01"},
        {"unsupported_protocol", errors::unsupported_protocol(0x00020000), "0A000"},
        {"refused_by_policy",
         errors::refused_by_policy(errors::Rule{"maintenance"}, "ALTER SYSTEM", "ask an admin"),
         "42501"},
        {"not_supported_in_pooling",
         errors::not_supported_in_pooling(errors::Rule{"listen"}, "LISTEN"), "0A000"},
        {"too_many_connections", errors::too_many_connections(100), "53300"},
        {"pool_wait_timeout", errors::pool_wait_timeout(5000), "53400"},
        {"cannot_connect_now", errors::cannot_connect_now("connection refused"), "57P03"},
        {"shutting_down", errors::shutting_down(), "57P01"},
        {"server_connection_lost", errors::server_connection_lost("EOF"), "08006"},
        {"binding_failed", errors::binding_failed("permission denied"), "08P01"},
        {"cached_plan_changed", errors::cached_plan_changed(), "0A000"},
        {"copy_interrupted", errors::copy_interrupted("unexpected message"), "08P01"},
        {"copy_sync_lost", errors::copy_sync_lost(), "08P01"},
        {"in_failed_transaction", errors::in_failed_transaction(), "25P02"},
        {"statement_missing", errors::statement_missing("s1"), "26000"},
        {"statement_exists", errors::statement_exists("s1"), "42P05"},
        {"unnamed_statement_missing", errors::unnamed_statement_missing(), "26000"},
        {"server_error", errors::server_error("server_error", "42P01", "no such table"), "42P01"},
    };
}

// Decodes the single ErrorResponse / NoticeResponse in `out`.
ErrorFields decode_one(const std::string& out, char expected_tag) {
    Frame f;
    EXPECT_EQ(peek_frame(out, 1 << 20, f), FrameStatus::complete);
    EXPECT_EQ(f.tag, expected_tag);
    EXPECT_EQ(f.total_size, out.size());
    auto fields = decode_error_fields(f.body());
    EXPECT_TRUE(fields);
    return fields.value_or(ErrorFields{});
}

TEST(ErrorFactories, DocumentedSqlstateSeverityAndMessage) {
    for (const auto& [name, e, sqlstate] : every_factory()) {
        SCOPED_TRACE(name);
        EXPECT_EQ(e.sqlstate, sqlstate);
        EXPECT_FALSE(e.message.empty());
        EXPECT_TRUE(e.severity == "ERROR" || e.severity == "FATAL") << e.severity;
        // Every error pgtenant raises names its rule in the log (a short lower-case id).
        EXPECT_FALSE(e.rule.empty());
        for (char c : e.rule) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << e.rule;
        // Five characters of [0-9A-Z], as every SQLSTATE.
        ASSERT_EQ(e.sqlstate.size(), 5u);
        for (char c : e.sqlstate) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'));
    }
}

TEST(ErrorFactories, ConnectionEndingErrorsAreFatal) {
    EXPECT_EQ(errors::auth_failed("alice").severity, "FATAL");
    EXPECT_EQ(errors::auth_rejected(errors::Rule{"x"}, "x").severity, "FATAL");
    EXPECT_EQ(errors::protocol_violation("x").severity, "FATAL");
    EXPECT_EQ(errors::unsupported_protocol(0x00020000).severity, "FATAL");
    EXPECT_EQ(errors::too_many_connections(1).severity, "FATAL");
    EXPECT_EQ(errors::shutting_down().severity, "FATAL");
}

TEST(ErrorFactories, MessagesCarryTheirArguments) {
    EXPECT_NE(errors::unsupported_protocol(0x00020000).message.find("2.0"), std::string::npos);
    EXPECT_NE(errors::too_many_connections(123).message.find("123"), std::string::npos);
    EXPECT_NE(errors::pool_wait_timeout(4567).message.find("4567"), std::string::npos);
    EXPECT_NE(errors::binding_failed("boom").message.find("boom"), std::string::npos);
    EXPECT_EQ(errors::refused_by_policy(errors::Rule{"r"}, "x", "the hint").hint, "the hint");
    EXPECT_EQ(errors::refused_by_policy(errors::Rule{"r"}, "x").hint, "");
    EXPECT_EQ(errors::refused_by_policy(errors::Rule{"explain_analyze"}, "x").rule,
              "explain_analyze");
}

// Drivers match PostgreSQL's own error: same wording, same routine field.
TEST(ErrorFactories, CachedPlanChangedIsPostgresqlsOwnError) {
    auto e = errors::cached_plan_changed();
    EXPECT_EQ(e.severity, "ERROR");
    EXPECT_EQ(e.message, "cached plan must not change result type");
    EXPECT_TRUE(e.detail.empty());
    EXPECT_TRUE(e.hint.empty());
    // pgJDBC and postgres.js re-prepare only when the routine is PostgreSQL's.
    std::string out;
    encode_error(out, e);
    auto f = decode_one(out, 'E');
    EXPECT_EQ(f.sqlstate(), "0A000");
    EXPECT_EQ(f.get('R'), "RevalidateCachedQuery");
    EXPECT_EQ(f.get('F'), "plancache.c");
}

TEST(ErrorFactories, AuthFailedSaysNothingAboutWhichPartWasWrong) {
    // The session calls auth_failed for an unknown user and for a wrong password alike; both
    // calls must produce the same bytes.
    const Error unknown_user = errors::auth_failed("mallory");
    const Error wrong_password = errors::auth_failed("mallory");
    EXPECT_EQ(unknown_user.severity, wrong_password.severity);
    EXPECT_EQ(unknown_user.sqlstate, wrong_password.sqlstate);
    EXPECT_EQ(unknown_user.message, wrong_password.message);
    EXPECT_EQ(unknown_user.detail, wrong_password.detail);
    EXPECT_EQ(unknown_user.hint, wrong_password.hint);
    EXPECT_TRUE(unknown_user.detail.empty());
    EXPECT_TRUE(unknown_user.hint.empty());
    std::string a, b;
    encode_error(a, unknown_user);
    encode_error(b, wrong_password);
    EXPECT_EQ(a, b);
    EXPECT_NE(unknown_user.message.find("mallory"), std::string::npos);
}

TEST(EncodeError, RoundTripsEveryFactory) {
    for (const auto& [name, e, sqlstate] : every_factory()) {
        SCOPED_TRACE(name);
        std::string out;
        encode_error(out, e);
        const ErrorFields f = decode_one(out, 'E');
        EXPECT_EQ(f.get('S'), e.severity);
        EXPECT_EQ(f.severity(), e.severity);
        EXPECT_EQ(f.sqlstate(), sqlstate);
        EXPECT_EQ(f.message(), e.message);
        EXPECT_EQ(f.get('H'), e.hint);
    }
}

TEST(EncodeError, DetailHintAndNotice) {
    Error e;
    e.sqlstate = "01000";
    e.severity = "WARNING";
    e.message = "m";
    e.detail = "d";
    e.hint = "h";
    std::string out;
    encode_error(out, e, /*notice=*/true);
    const ErrorFields f = decode_one(out, 'N');
    EXPECT_EQ(f.severity(), "WARNING");
    EXPECT_EQ(f.get('D'), "d");
    EXPECT_EQ(f.get('H'), "h");

    // Empty detail and hint are left out, not sent as empty fields.
    e.detail.clear();
    e.hint.clear();
    out.clear();
    encode_error(out, e);
    const ErrorFields g = decode_one(out, 'E');
    for (const auto& [code, value] : g.fields) {
        EXPECT_NE(code, 'D');
        EXPECT_NE(code, 'H');
    }
    EXPECT_EQ(g.fields.size(), 4u);
}

TEST(EncodeErrorFields, ReEncodesServerErrorsByteForByte) {
    const std::string body = "S" + cstr("ERROR") + "V" + cstr("ERROR") + "C" + cstr("23505") + "M" +
                             cstr("duplicate key") + "D" + cstr("Key (id)=(1)") + "n" +
                             cstr("t_pkey") + "F" + cstr("nbtinsert.c") + "L" + cstr("666") +
                             cstr("");
    auto fields = decode_error_fields(body);
    ASSERT_TRUE(fields);
    std::string out;
    encode_error_fields(out, *fields);
    EXPECT_EQ(out, test::tagged('E', body));
}

}  // namespace
}  // namespace pgtenant::protocol
