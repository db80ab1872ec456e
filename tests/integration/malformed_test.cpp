// Malformed and hostile bytes on the wire: pgtenant answers with an ErrorResponse or closes
// the connection, promptly, and keeps serving well-behaved clients afterwards.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "tests/support/integration_env.h"
#include "tests/support/net.h"
#include "tests/support/tenant_checks.h"
#include "tests/support/wire.h"
#include "tests/support/wire_client.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using wire::be32;

const auto* const kEnv = register_integration_env();

constexpr uint32_t kProtocol3 = 196608;

class MalformedTest : public ProxyTest {
  protected:
    // Sends bytes on a fresh connection; the reply must be an ErrorResponse or a close,
    // within a few seconds. Returns the reply for further checks.
    std::string expect_rejected(const std::string& bytes, const std::string& what) {
        auto s = RawSocket::connect(env().proxy().port());
        s.send_all(bytes);
        return expect_rejected_on(s, what);
    }

    std::string expect_rejected_on(RawSocket& s, const std::string& what) {
        bool closed = false;
        auto reply = s.read_until_close(4s, &closed);
        EXPECT_TRUE(closed || !reply.empty()) << what << ": no reply and still open after 4 s";
        if (!reply.empty()) {
            EXPECT_EQ(reply[0], 'E')
                << what << ": expected ErrorResponse, got tag '" << reply[0] << "'";
        }
        return reply;
    }

    void expect_serving() {
        auto conn = env().connect_as(demo::kBob);
        EXPECT_EQ(query(conn.get(), "SELECT count(*) FROM patients").at(0).at(0),
                  std::to_string(demo::kPatientsB));
    }
};

TEST_F(MalformedTest, StartupLengthTooShort) {
    for (uint32_t len : {0u, 1u, 4u, 7u}) {
        expect_rejected(be32(len) + be32(kProtocol3), "length " + std::to_string(len));
    }
    expect_serving();
}

TEST_F(MalformedTest, StartupLengthTooLong) {
    // Rejected on the length alone: the server must not wait for 20 kB or 4 GB to arrive.
    for (uint32_t len : {20000u, 0x7fffffffu, 0xffffffffu}) {
        expect_rejected(be32(len) + be32(kProtocol3) + "user", "length " + std::to_string(len));
    }
    expect_serving();
}

TEST_F(MalformedTest, UnknownProtocolVersion) {
    for (uint32_t version : {0x00020000u /* 2.0 */, 0x00040000u /* 4.0 */, 0x12345678u}) {
        auto reply = expect_rejected(
            wire::startup_message({{"user", demo::kAlice}, {"database", "postgres"}}, version),
            "version " + std::to_string(version));
        if (!reply.empty()) {
            EXPECT_FALSE(wire::error_fields(reply)['C'].empty());
        }
    }
    expect_serving();
}

TEST_F(MalformedTest, MissingUser) {
    auto reply = expect_rejected(wire::startup_message({{"database", "postgres"}}), "no user");
    if (!reply.empty()) {
        EXPECT_FALSE(wire::error_fields(reply)['C'].empty());
    }
    expect_rejected(wire::startup_message({{"user", ""}, {"database", "postgres"}}), "empty user");
    expect_serving();
}

TEST_F(MalformedTest, UnterminatedParameters) {
    std::string body =
        be32(kProtocol3) + std::string("user\0alice\0database", 19);  // no value, no final 0
    expect_rejected(be32(static_cast<uint32_t>(body.size() + 4)) + body, "unterminated");
    expect_serving();
}

TEST_F(MalformedTest, GarbageBytes) {
    expect_rejected("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "http request");
    std::mt19937 rng(20211108);  // fixed seed: the same garbage every run
    for (int i = 0; i < 20; ++i) {
        std::string junk(64, '\0');
        for (auto& ch : junk) {
            ch = static_cast<char>(rng() & 0xff);
        }
        expect_rejected(junk, "random bytes #" + std::to_string(i));
    }
    expect_serving();
}

TEST_F(MalformedTest, SslRequestWithPipelinedDataIsRejected) {
    // CVE-2021-23214 class: bytes sent along with the SSLRequest were never protected by the
    // TLS handshake that follows, so they must not be processed as the client's startup.
    auto s = RawSocket::connect(env().proxy().port());
    s.send_all(wire::ssl_request() +
               wire::startup_message({{"user", demo::kAlice}, {"database", "postgres"}}));
    bool closed = false;
    auto reply = s.read_until_close(4s, &closed);
    if (!reply.empty() && (reply[0] == 'N' || reply[0] == 'S')) {
        reply.erase(0, 1);
    }
    EXPECT_TRUE(closed) << "connection still open after pipelined SSLRequest";
    if (!reply.empty()) {
        EXPECT_EQ(reply[0], 'E') << "pipelined startup was processed: got tag '" << reply[0]
                                 << "' (auth request " << wire::auth_request_code(reply) << ")";
    }
    expect_serving();
}

TEST_F(MalformedTest, PlainSslRequestIsAnsweredThenStartupWorks) {
    // The well-behaved counterpart: SSLRequest alone gets a one-byte answer.
    auto s = RawSocket::connect(env().proxy().port());
    s.send_all(wire::ssl_request());
    auto answer = s.read_exact(1, 4s);
    ASSERT_EQ(answer.size(), 1u);
    EXPECT_TRUE(answer[0] == 'N' || answer[0] == 'S');
    if (answer[0] == 'N') {
        s.send_all(wire::startup_message({{"user", demo::kAlice}, {"database", "postgres"}}));
        EXPECT_EQ(wire::auth_request_code(s.read_message(4s)), 10);
    }
}

TEST_F(MalformedTest, HugeMessageLengthAfterLogin) {
    for (uint32_t len : {0x7ffffff0u, 0xffffffffu, 2u}) {
        SCOPED_TRACE(len);
        auto conn = env().connect_as(demo::kAlice);
        ASSERT_EQ(query(conn.get(), "SELECT 1").at(0).at(0), "1");
        auto s = RawSocket::borrow(PQsocket(conn.get()));
        s.send_all(wire::message_with_length('Q', len, "SELECT 1"));
        expect_rejected_on(s, "Q with length " + std::to_string(len));
    }
    expect_serving();
}

TEST_F(MalformedTest, UnknownMessageTypeAfterLogin) {
    auto conn = env().connect_as(demo::kAlice);
    auto s = RawSocket::borrow(PQsocket(conn.get()));
    s.send_all(wire::message('z', "whatever"));
    expect_rejected_on(s, "tag z");
    expect_serving();
}

// A Query (or any message but COPY data, Flush and Sync) in the middle of COPY FROM STDIN: as
// PostgreSQL, the client gets 08P01 naming the message, then a FATAL, and is disconnected; a
// Sync there is ignored. pgtenant used to wait for the COPY to end before sending the Query, the
// client for the Query's answer: both hung, and the server connection stayed leased for good
// (found by session_fuzz).
TEST_F(MalformedTest, MessagesInTheMiddleOfCopyEndItAsOnPostgres) {
    auto su = env().superuser();
    query(su.get(), "CREATE TABLE IF NOT EXISTS copy_probe (a int)");
    query(su.get(), "GRANT INSERT ON copy_probe TO PUBLIC");
    auto tag_of = [](const std::string& m) { return m.empty() ? '?' : m[0]; };
    for (bool direct : {true, false}) {
        SCOPED_TRACE(direct ? "PostgreSQL" : "pgtenant");
        auto connect = [&] {
            return take_socket(direct ? env().superuser() : env().connect_as(demo::kAlice));
        };
        auto s = connect();
        s.send_all(wire::query("COPY copy_probe FROM STDIN"));
        ASSERT_EQ(tag_of(s.read_message(5s)), 'G');
        s.send_all(wire::message('d', "1\n") + wire::query("SELECT 1"));
        auto e = wire::error_fields(s.read_message(5s));
        EXPECT_EQ(e['S'], "ERROR");
        EXPECT_EQ(e['C'], "08P01");
        EXPECT_EQ(e['M'], "unexpected message type 0x51 during COPY from stdin");
        e = wire::error_fields(s.read_message(5s));
        EXPECT_EQ(e['S'], "FATAL");
        EXPECT_EQ(e['C'], "08P01");
        bool closed = false;
        s.read_until_close(5s, &closed);
        EXPECT_TRUE(closed);

        auto t = connect();
        t.send_all(wire::query("COPY copy_probe FROM STDIN"));
        ASSERT_EQ(tag_of(t.read_message(5s)), 'G');
        t.send_all(wire::message('d', "2\n") + wire::sync() + wire::message('c', ""));
        EXPECT_EQ(tag_of(t.read_message(5s)), 'C');
        EXPECT_EQ(tag_of(t.read_message(5s)), 'Z');
        // Pipelined: the Query after the CopyDone is no interruption (pgtenant took it for one).
        t.send_all(wire::query("COPY copy_probe FROM STDIN") + wire::message('d', "3\n") +
                   wire::message('c', "") + wire::query("SELECT 1"));
        std::string tags;
        for (int i = 0; i < 7; ++i) tags += tag_of(t.read_message(5s));
        EXPECT_EQ(tags, "GCZTDCZ");
    }
    expect_serving();
}

// A Query without its terminating NUL, or a Parse cut short, ends that session with 08P01
// naming the message; other clients go on. So do long ones (over 8 KiB, in one receive buffer
// or not), which pgtenant looks at before parsing them aside.
TEST_F(MalformedTest, MalformedQueryAndParseAfterLogin) {
    std::vector<std::pair<std::string, std::string>> cases = {
        {wire::message('Q', "SELECT 1"), "malformed Query message"},
        {wire::message('P', std::string("s1\0SELECT 1", 11)), "malformed Parse message"},
    };
    for (std::size_t size : {12u * 1024, 40u * 1024}) {
        std::string text = "SELECT 1 -- reset";
        text.resize(size, 'x');
        cases.push_back({wire::message('Q', text), "malformed Query message"});
        cases.push_back(
            {wire::message('P', "s1" + std::string(1, '\0') + text), "malformed Parse message"});
    }
    for (const auto& [bytes, expected] : cases) {
        SCOPED_TRACE(expected);
        auto conn = env().connect_as(demo::kAlice);
        auto s = RawSocket::borrow(PQsocket(conn.get()));
        s.send_all(bytes);
        auto reply = expect_rejected_on(s, expected);
        EXPECT_NE(reply.find("08P01"), std::string::npos) << reply;
        EXPECT_NE(reply.find(expected), std::string::npos) << reply;
    }
    expect_serving();
}

// A logged-in client that announces a big message and never finishes it: it may hold that
// memory only for server.message_timeout_ms, and all such clients together only
// server.message_memory_bytes.
TEST_F(MalformedTest, UnfinishedLargeMessagesAreBoundedInTimeAndMemory) {
    PgtenantOptions options;
    options.extra_toml["server"] = {"max_message_bytes = 4194304", "message_memory_bytes = 8388608",
                                    "message_timeout_ms = 1500"};
    // compat: a second sealed pgtenant would give the cluster a new key, under the suite's own.
    options.tenant_mode = "compat";
    Pgtenant own(env().cluster(), options);
    const long rss_before = rss_kib(own.pid());
    // Two clients each announce 4 MiB (the most allowed) and send 3 MiB of it: the whole
    // 8 MiB budget taken.
    std::vector<PgConn> conns;
    std::vector<RawSocket> socks;
    const std::string part(3u << 20, 'x');
    for (int i = 0; i < 2; ++i) {
        conns.push_back(own.connect_as(demo::kAlice));
        socks.push_back(RawSocket::borrow(PQsocket(conns.back().get())));
        ASSERT_TRUE(socks.back().send_all("Q" + be32((4u << 20) - 1) + part));
    }
    std::this_thread::sleep_for(300ms);
    EXPECT_LT(rss_kib(own.pid()) - rss_before, 64 * 1024) << "more than the budget held";
    // A third one over the budget is refused at once with 53200.
    auto third = own.connect_as(demo::kBob);
    auto third_sock = RawSocket::borrow(PQsocket(third.get()));
    third_sock.send_all("Q" + be32(1u << 20) + "SELECT ");
    auto reply = expect_rejected_on(third_sock, "over the message budget");
    EXPECT_NE(reply.find("53200"), std::string::npos) << reply;
    // The two slow ones are cut off at their deadline with 08P01.
    for (auto& sock : socks) {
        auto r = expect_rejected_on(sock, "unfinished large message");
        EXPECT_NE(r.find("08P01"), std::string::npos) << r;
        EXPECT_NE(r.find("did not arrive in full"), std::string::npos) << r;
    }
    // The budget is free again: a large message that arrives whole is served.
    auto ok = own.connect_as(demo::kBob);
    const std::string big = "SELECT length('" + std::string(2u << 20, 'y') + "')";
    EXPECT_EQ(query(ok.get(), big).at(0).at(0), std::to_string(2u << 20));
    EXPECT_TRUE(own.running());
}

TEST_F(MalformedTest, IdleHalfOpenConnectionsDoNotBlockOthers) {
    std::vector<RawSocket> idle;
    for (int i = 0; i < 50; ++i) {
        idle.push_back(RawSocket::connect(env().proxy().port()));
        if (i % 2 == 0) {
            idle.back().send_all(be32(100));  // a length, then silence
        }
    }
    expect_serving();
}

}  // namespace
}  // namespace pgtenant::testing
