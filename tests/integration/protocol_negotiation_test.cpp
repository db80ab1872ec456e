// Protocol minor versions and "_pq_." options, at the wire level: pgtenant answers as
// PostgreSQL does, with NegotiateProtocolVersion ('v': 3.0 and the options it does not know)
// before the authentication request, and the session goes on with protocol 3.0. "_pq_." names
// are protocol options, never settings: they reach neither the server nor the session.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "auth/scram.h"
#include "protocol/wire.h"
#include "tests/support/integration_env.h"
#include "tests/support/net.h"
#include "tests/support/wire.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using Params = std::vector<std::pair<std::string, std::string>>;

const auto* const kEnv = register_integration_env();

class ProtocolNegotiationTest : public ProxyTest {
  protected:
    // What NegotiateProtocolVersion said: the version code and the option names.
    struct Negotiation {
        int32_t version = 0;
        std::vector<std::string> options;
    };
    static Negotiation decode_negotiation(const std::string& msg) {
        protocol::MessageReader r(std::string_view(msg).substr(5));
        Negotiation n;
        n.version = r.int32();
        const int32_t count = r.int32();
        for (int32_t i = 0; i < count && r.ok(); ++i) n.options.emplace_back(r.cstring());
        EXPECT_TRUE(r.ok() && r.at_end()) << "malformed NegotiateProtocolVersion";
        return n;
    }

    // Sends a StartupMessage and logs in as alice with SCRAM by hand. Returns every message
    // the proxy sent up to and including the first ReadyForQuery (empty on failure).
    std::vector<std::string> login(RawSocket& s, uint32_t version, Params params) {
        params.insert(params.begin(), {{"user", demo::kAlice}, {"database", "postgres"}});
        EXPECT_TRUE(s.send_all(wire::startup_message(params, version)));
        std::vector<std::string> seen;
        auth::ScramClient scram(env().proxy().login(demo::kAlice).password);
        for (;;) {
            auto msg = s.read_message(10s);
            if (msg.empty()) {
                ADD_FAILURE() << "connection closed during login after " << seen.size()
                              << " messages";
                return {};
            }
            seen.push_back(msg);
            if (msg[0] == 'E') {
                ADD_FAILURE() << "login refused: " << wire::error_fields(msg)['M'];
                return {};
            }
            if (msg[0] == 'Z') return seen;
            if (msg[0] != 'R') continue;
            const int code = wire::auth_request_code(msg);
            const std::string data = msg.substr(9);
            if (code == 10) {
                const auto first = scram.first_message();
                s.send_all(wire::message('p', std::string("SCRAM-SHA-256\0", 14) +
                                                  wire::be32(static_cast<uint32_t>(first.size())) +
                                                  first));
            } else if (code == 11 || code == 12) {
                auto step = scram.step(data);
                if (step.kind == auth::AuthStep::Kind::failed) {
                    ADD_FAILURE() << "SCRAM failed: " << step.message;
                    return {};
                }
                if (code == 11) s.send_all(wire::message('p', step.message));
            } else if (code != 0) {
                ADD_FAILURE() << "unexpected authentication request " << code;
                return {};
            }
        }
    }

    // One simple query's DataRow values (the first row).
    static std::vector<std::string> first_row(RawSocket& s, const std::string& sql) {
        EXPECT_TRUE(s.send_all(wire::query(sql)));
        std::vector<std::string> row;
        for (;;) {
            auto msg = s.read_message(10s);
            if (msg.empty()) {
                ADD_FAILURE() << "no ReadyForQuery after " << sql;
                return row;
            }
            if (msg[0] == 'E') ADD_FAILURE() << sql << ": " << wire::error_fields(msg)['M'];
            if (msg[0] == 'D' && row.empty()) row = wire::data_row_values(msg);
            if (msg[0] == 'Z') return row;
        }
    }
};

TEST_F(ProtocolNegotiationTest, MinorVersionAndProtocolOptionGetNegotiationThenNormalLogin) {
    auto s = RawSocket::connect(env().proxy().port());
    auto seen = login(s, 0x00030002 /* 3.2 */,
                      {{"_pq_.foo", "on"}, {"application_name", "negotiation-test"}});
    ASSERT_FALSE(seen.empty());
    // 'v' comes first, before the authentication request, as from PostgreSQL.
    ASSERT_EQ(seen[0][0], 'v');
    auto n = decode_negotiation(seen[0]);
    EXPECT_EQ(n.version, 0x00030000);
    EXPECT_EQ(n.options, std::vector<std::string>{"_pq_.foo"});
    EXPECT_EQ(wire::auth_request_code(seen[1]), 10);
    int negotiations = 0;
    for (const auto& msg : seen) {
        negotiations += msg[0] == 'v';
        // No ParameterStatus names the option.
        if (msg[0] == 'S') {
            EXPECT_EQ(msg.find("_pq_"), std::string::npos);
        }
    }
    EXPECT_EQ(negotiations, 1);

    // The session speaks 3.0: queries run, the ordinary startup parameter is applied, and the
    // option was neither sent to the server nor made a setting of the session.
    auto row = first_row(s,
                         "SELECT current_setting('_pq_.foo', true), "
                         "current_setting('application_name'), count(*) FROM patients");
    ASSERT_EQ(row.size(), 3u);
    EXPECT_EQ(row[0], "<NULL>");
    EXPECT_EQ(row[1], "negotiation-test");
    EXPECT_EQ(row[2], std::to_string(demo::kPatientsA));
    // Inside an explicit transaction too (the client's settings are applied on each lease).
    first_row(s, "BEGIN");
    row = first_row(s, "SELECT current_setting('_pq_.foo', true)");
    ASSERT_EQ(row.size(), 1u);
    EXPECT_EQ(row[0], "<NULL>");
    first_row(s, "COMMIT");
    s.send_all(wire::message('X', ""));
}

TEST_F(ProtocolNegotiationTest, NewerMinorVersionAloneListsNoOptions) {
    auto s = RawSocket::connect(env().proxy().port());
    auto seen = login(s, 0x00030001 /* 3.1 */, {});
    ASSERT_FALSE(seen.empty());
    ASSERT_EQ(seen[0][0], 'v');
    auto n = decode_negotiation(seen[0]);
    EXPECT_EQ(n.version, 0x00030000);
    EXPECT_TRUE(n.options.empty());
    auto row = first_row(s, "SELECT 1");
    EXPECT_EQ(row, std::vector<std::string>{"1"});
}

TEST_F(ProtocolNegotiationTest, OptionsAloneOnProtocol30AreNegotiatedToo) {
    auto s = RawSocket::connect(env().proxy().port());
    auto seen = login(s, 0x00030000, {{"_pq_.a", "1"}, {"_pq_.b", ""}});
    ASSERT_FALSE(seen.empty());
    ASSERT_EQ(seen[0][0], 'v');
    auto n = decode_negotiation(seen[0]);
    EXPECT_EQ(n.version, 0x00030000);
    EXPECT_EQ(n.options, (std::vector<std::string>{"_pq_.a", "_pq_.b"}));
    EXPECT_EQ(first_row(s, "SELECT 2"), std::vector<std::string>{"2"});
}

TEST_F(ProtocolNegotiationTest, PlainProtocol30GetsNoNegotiation) {
    auto s = RawSocket::connect(env().proxy().port());
    auto seen = login(s, 0x00030000, {});
    ASSERT_FALSE(seen.empty());
    for (const auto& msg : seen) EXPECT_NE(msg[0], 'v');
    EXPECT_EQ(wire::auth_request_code(seen[0]), 10);
}

TEST_F(ProtocolNegotiationTest, OtherMajorVersionsStayErrors) {
    for (uint32_t version : {0x00040000u, 0x00020001u}) {
        auto s = RawSocket::connect(env().proxy().port());
        s.send_all(wire::startup_message(
            {{"user", demo::kAlice}, {"database", "postgres"}, {"_pq_.foo", "1"}}, version));
        auto msg = s.read_message(5s);
        ASSERT_FALSE(msg.empty());
        ASSERT_EQ(msg[0], 'E') << "version " << version;
        auto fields = wire::error_fields(msg);
        EXPECT_EQ(fields['C'], "0A000");
        EXPECT_NE(fields['M'].find("unsupported frontend protocol"), std::string::npos)
            << fields['M'];
    }
}

}  // namespace
}  // namespace pgtenant::testing
