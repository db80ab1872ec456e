// Authentication and startup policy: failures look the same whether or not the login exists,
// half-finished handshakes do not hurt anyone else, and a client can never choose its
// practice through startup parameters or options.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/support/integration_env.h"
#include "tests/support/net.h"
#include "tests/support/tenant_checks.h"
#include "tests/support/wire.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

const auto* const kEnv = register_integration_env();

class AuthTest : public ProxyTest {
  protected:
    void expect_serving() {
        auto conn = env().connect_as(demo::kAlice);
        EXPECT_EQ(query(conn.get(), "SELECT count(*) FROM patients").at(0).at(0),
                  std::to_string(demo::kPatientsA));
    }
};

std::string without(std::string text, const std::string& word) {
    for (auto pos = text.find(word); pos != std::string::npos; pos = text.find(word)) {
        text.replace(pos, word.size(), "<user>");
    }
    return text;
}

TEST_F(AuthTest, CorrectPasswordsWork) {
    for (const auto& login : {demo::kAlice, demo::kBob, demo::kCarol}) {
        auto outcome = try_connect(env().proxy().conninfo(login));
        EXPECT_TRUE(outcome.ok()) << login << ": " << outcome.sqlstate << " " << outcome.message;
    }
}

TEST_F(AuthTest, WrongPasswordAndUnknownUserFailTheSameWay) {
    auto& proxy = env().proxy();
    auto wrong = try_connect(proxy.conninfo(demo::kAlice, "not-alices-password"));
    auto unknown = try_connect(proxy.conninfo("mallory", "not-alices-password"));
    auto other = try_connect(proxy.conninfo(demo::kBob, proxy.login(demo::kAlice).password));
    EXPECT_FALSE(wrong.ok());
    EXPECT_FALSE(unknown.ok());
    EXPECT_FALSE(other.ok());
    EXPECT_EQ(wrong.sqlstate, "28P01") << wrong.message;
    EXPECT_EQ(unknown.sqlstate, "28P01") << unknown.message;
    EXPECT_EQ(other.sqlstate, "28P01") << other.message;
    // Only the echoed user name may differ; anything else tells an attacker who exists.
    EXPECT_EQ(without(wrong.message, demo::kAlice), without(unknown.message, "mallory"));
    EXPECT_EQ(without(wrong.message, demo::kAlice), without(other.message, demo::kBob));
    expect_serving();
}

TEST_F(AuthTest, UnknownUserIsOfferedSaslLikeAKnownOne) {
    // A different first reply for unknown users would leak which logins exist.
    auto code_for = [&](const std::string& user) {
        auto s = RawSocket::connect(env().proxy().port());
        s.send_all(wire::startup_message({{"user", user}, {"database", "postgres"}}));
        return wire::auth_request_code(s.read_message(5s));
    };
    EXPECT_EQ(code_for(demo::kAlice), 10);
    EXPECT_EQ(code_for("mallory"), 10);
}

TEST_F(AuthTest, ClientsClosingMidHandshakeLeaveProxyServing) {
    for (int i = 0; i < 30; ++i) {
        auto s = RawSocket::connect(env().proxy().port());
        s.send_all(wire::startup_message({{"user", demo::kAlice}, {"database", "postgres"}}));
        if (i % 3 != 0) {
            auto msg = s.read_message(5s);
            ASSERT_EQ(wire::auth_request_code(msg), 10) << "iteration " << i;
        }
        if (i % 3 == 2) {
            // A SASLInitialResponse cut off in the middle, then gone.
            s.send_all(wire::message_with_length('p', 200, std::string("SCRAM-SHA-256\0", 14)));
        }
        s.close();
    }
    expect_serving();
}

// A client that gives up after the SASL request (e.g. it timed out waiting in a queue) did not
// fail a password check: the log must not say so (that would trip brute-force alerting).
TEST_F(AuthTest, HangingUpMidAuthenticationIsNotLoggedAsAWrongPassword) {
    {
        auto s = RawSocket::connect(env().proxy().port());
        s.send_all(wire::startup_message({{"user", "walkaway"}, {"database", "postgres"}}));
        ASSERT_EQ(wire::auth_request_code(s.read_message(5s)), 10);
    }  // closed here
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (env().proxy().log().find("walkaway") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    const std::string log = env().proxy().log();
    EXPECT_NE(log.find("closed the connection during authentication"), std::string::npos) << log;
    EXPECT_EQ(log.find("password authentication failed for user \"walkaway\""), std::string::npos)
        << log;
    expect_serving();
}

TEST_F(AuthTest, GarbageSaslResponseIsRejected) {
    auto s = RawSocket::connect(env().proxy().port());
    s.send_all(wire::startup_message({{"user", demo::kAlice}, {"database", "postgres"}}));
    ASSERT_EQ(wire::auth_request_code(s.read_message(5s)), 10);
    s.send_all(
        wire::message('p', std::string("SCRAM-SHA-256\0", 14) + wire::be32(9) + "garbage!!"));
    bool closed = false;
    auto reply = s.read_until_close(5s, &closed);
    EXPECT_TRUE(closed || !reply.empty());
    if (!reply.empty()) {
        EXPECT_EQ(reply[0], 'E') << "expected an ErrorResponse, got tag " << reply[0];
    }
    expect_serving();
}

// A client that stops answering mid-authentication is told, as by PostgreSQL's
// authentication_timeout, after server.login_timeout_ms: 57014, FATAL, then the connection
// closes.
TEST_F(AuthTest, LoginTimeoutIsConfigurableAndAnswered57014) {
    PgtenantOptions options;
    options.tenant_mode = "compat";  // a sealed one would replace the shared proxy's key
    options.extra_toml["server"].push_back("login_timeout_ms = 700");
    Pgtenant proxy(env().cluster(), options);
    auto s = RawSocket::connect(proxy.port());
    const auto started = std::chrono::steady_clock::now();
    s.send_all(wire::startup_message({{"user", demo::kAlice}, {"database", "postgres"}}));
    ASSERT_EQ(wire::auth_request_code(s.read_message(5s)), 10);
    auto reply = s.read_message(5s);  // nothing sent: the deadline passes
    const auto waited = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(reply.empty());
    ASSERT_EQ(reply[0], 'E');
    auto fields = wire::error_fields(reply);
    EXPECT_EQ(fields['C'], "57014");
    EXPECT_EQ(fields['S'], "FATAL");
    EXPECT_EQ(fields['M'], "canceling authentication due to timeout");
    EXPECT_GE(waited, 650ms);
    EXPECT_LT(waited, 3s);
    bool closed = false;
    s.read_until_close(5s, &closed);
    EXPECT_TRUE(closed);
    // Logins that answer in time are unaffected.
    auto conn = proxy.connect_as(demo::kAlice);
    EXPECT_EQ(query(conn.get(), "SELECT 1").at(0).at(0), "1");
}

// ---- reserved startup parameters and options ----

class ReservedOptionTest : public AuthTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ReservedOptionTest, OptionsSettingTheTenantAreRefused) {
    auto outcome = try_connect(env().proxy().conninfo(
        demo::kAlice, env().proxy().login(demo::kAlice).password, "options='" + GetParam() + "'"));
    EXPECT_FALSE(outcome.ok()) << "connected with options " << GetParam();
    EXPECT_EQ(outcome.sqlstate, "42501") << outcome.message;
    expect_serving();
}

INSTANTIATE_TEST_SUITE_P(
    Variants, ReservedOptionTest,
    ::testing::Values(
        "-c app.current_practice_id=22222222-2222-2222-2222-222222222222",
        "-capp.current_practice_id=22222222-2222-2222-2222-222222222222",
        "--app.current_practice_id=22222222-2222-2222-2222-222222222222",
        // GUC names are case-insensitive to the server.
        "-c APP.Current_Practice_ID=22222222-2222-2222-2222-222222222222",
        "-c statement_timeout=0 -c app.current_practice_id=22222222-2222-2222-2222-222222222222",
        "-c pgtenant.context=v1.forged"));

TEST_F(AuthTest, ReservedStartupParameterIsRefused) {
    for (const auto& name :
         {std::string("app.current_practice_id"), std::string("pgtenant.context"),
          std::string("App.Current_Practice_Id")}) {
        SCOPED_TRACE(name);
        auto s = RawSocket::connect(env().proxy().port());
        s.send_all(wire::startup_message(
            {{"user", demo::kAlice}, {"database", "postgres"}, {name, demo::kPracticeB}}));
        auto msg = s.read_message(5s);
        ASSERT_FALSE(msg.empty()) << "no reply";
        ASSERT_EQ(msg[0], 'E') << "expected an ErrorResponse before authentication, got tag '"
                               << msg[0] << "' (auth request " << wire::auth_request_code(msg)
                               << ")";
        EXPECT_EQ(wire::error_fields(msg)['C'], "42501") << wire::error_fields(msg)['M'];
    }
    expect_serving();
}

TEST_F(AuthTest, HarmlessOptionsAreAccepted) {
    // The guard must not be a blanket ban: ordinary settings still pass.
    auto outcome =
        try_connect(env().proxy().conninfo(demo::kAlice, env().proxy().login(demo::kAlice).password,
                                           "options='-c statement_timeout=5000'"));
    ASSERT_TRUE(outcome.ok()) << outcome.sqlstate << " " << outcome.message;
    EXPECT_EQ(query(outcome.conn.get(), "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsA));
}

}  // namespace
}  // namespace pgtenant::testing
