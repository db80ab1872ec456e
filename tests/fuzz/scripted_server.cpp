#include "scripted_server.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "protocol/builders.h"
#include "protocol/errors.h"
#include "protocol/wire.h"

namespace pgtenant::fuzz {

namespace asio = boost::asio;
namespace build = protocol::build;
using proxy::awaitable;
using proxy::tcp;
using proxy::use_tuple;

namespace {

constexpr uint32_t kMaxMessage = 1u << 20;
constexpr int32_t kSslRequest = 80877103;
constexpr int32_t kCancelRequest = 80877102;

// What one choice byte asks for: its low nibble the outcome, its high bits an unasked-for
// message sent first.
enum class Outcome { ordinary, error, fatal, hang_up };
Outcome outcome_of(uint8_t c) {
    switch (c & 0x0f) {
        case 1:
            return Outcome::error;
        case 2:
            return Outcome::fatal;
        case 3:
            return Outcome::hang_up;
        default:
            return Outcome::ordinary;
    }
}

void error(std::string& out, const char* sqlstate, const char* message, bool fatal = false) {
    protocol::encode_error(out, protocol::Error{fatal ? "FATAL" : "ERROR", sqlstate, message});
}

void unasked(std::string& out, uint8_t c) {
    switch (c >> 5) {
        case 1:
            protocol::encode_error(out, protocol::Error{"NOTICE", "01000", "scripted notice"},
                                   true);
            break;
        case 2:
            build::parameter_status(out, "TimeZone", "Fuzz/Zone");
            break;
        case 3:
            protocol::MessageWriter(out).begin('A').int32(7).cstring("chan").cstring("x").end();
            break;
        default:
            break;
    }
}

void row_description(std::string& out) {
    protocol::MessageWriter(out)
        .begin('T')
        .int16(1)
        .cstring("x")
        .int32(0)
        .int16(0)
        .int32(25)
        .int16(-1)
        .int32(-1)
        .int16(0)
        .end();
}

void data_row(std::string& out, std::string_view value) {
    protocol::MessageWriter(out)
        .begin('D')
        .int16(1)
        .int32(static_cast<int32_t>(value.size()))
        .bytes(value)
        .end();
}

void simple(std::string& out, char tag) { protocol::MessageWriter(out).begin(tag).end(); }

std::string first_word(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::string w;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i])))
        w += static_cast<char>(std::toupper(static_cast<unsigned char>(s[i++])));
    return w;
}

bool contains(std::string_view s, std::string_view word) {
    std::string upper(s);
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return upper.find(word) != std::string::npos;
}

// One server session's protocol state.
struct Backend {
    bool block = false;     // an explicit transaction block is open
    bool failed = false;    // ... and has failed
    bool skipping = false;  // an extended-protocol error: skip to Sync
    bool copy = false;      // COPY FROM STDIN under way

    char status() const { return !block ? 'I' : failed ? 'E' : 'T'; }
    void fail() {
        if (block) failed = true;
    }

    // A simple Query's statements, answered roughly as PostgreSQL would. False: COPY began.
    bool query(std::string_view text, std::string& out) {
        std::size_t start = 0;
        while (start <= text.size()) {
            auto end = text.find(';', start);
            if (end == std::string_view::npos) end = text.size();
            const std::string_view stmt = text.substr(start, end - start);
            start = end + 1;
            const std::string w = first_word(stmt);
            if (w.empty()) continue;
            const bool ends = w == "COMMIT" || w == "END" || w == "ABORT" ||
                              (w == "ROLLBACK" && !contains(stmt, " TO "));
            if (failed && !ends && w != "ROLLBACK") {
                error(out, "25P02", "current transaction is aborted");
                return true;
            }
            if (w == "BEGIN" || w == "START") {
                block = true;
                build::command_complete(out, "BEGIN");
            } else if (ends) {
                build::command_complete(out, failed || w != "COMMIT" ? "ROLLBACK" : "COMMIT");
                block = failed = false;
            } else if (w == "ROLLBACK") {
                failed = false;
                build::command_complete(out, "ROLLBACK");
            } else if (w == "COPY" && contains(stmt, "FROM STDIN")) {
                protocol::MessageWriter(out).begin('G').byte(0).int16(1).int16(0).end();
                copy = true;
                return false;
            } else if (w == "SELECT" || w == "SHOW" || w == "VALUES" || w == "EXECUTE") {
                row_description(out);
                data_row(out, stmt.substr(0, 64));
                build::command_complete(out, "SELECT 1");
            } else {
                build::command_complete(out, w);
            }
            if (end == text.size()) break;
        }
        return true;
    }
};

}  // namespace

ScriptedServer::ScriptedServer(asio::io_context& io) : io_(io), acceptor_(io) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
}

uint8_t ScriptedServer::next_choice() {
    if (script_.empty()) return 0;
    const auto c = static_cast<uint8_t>(script_.front());
    script_.pop_front();
    return c;
}

awaitable<void> ScriptedServer::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
        if (ec) co_return;
        asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
}

awaitable<void> ScriptedServer::serve(tcp::socket socket) {
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    ++open_;
    struct Count {
        int& n;
        ~Count() { --n; }
    } count{open_};
    auto read_exact = [&](std::string& into, std::size_t n) -> awaitable<bool> {
        into.resize(n);
        auto [ec, got] = co_await asio::async_read(socket, asio::buffer(into), use_tuple);
        co_return !ec;
    };
    auto send = [&](const std::string& bytes) -> awaitable<bool> {
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(bytes), use_tuple);
        co_return !ec;
    };
    std::string head, body, out;
    // Startup: SSLRequest is declined; a cancel request is taken and the connection closed.
    for (;;) {
        if (!co_await read_exact(head, 4)) co_return;
        protocol::MessageReader r(head);
        const auto len = static_cast<uint32_t>(r.int32());
        if (len < 8 || len > 10000 || !co_await read_exact(body, len - 4)) co_return;
        const int32_t code = protocol::MessageReader(body).int32();
        if (code == kCancelRequest) co_return;
        if (code != kSslRequest) break;
        if (!co_await send("N")) co_return;
    }
    build::auth_ok(out);
    build::parameter_status(out, "server_version", "15.0");
    build::parameter_status(out, "client_encoding", "UTF8");
    build::parameter_status(out, "DateStyle", "ISO, MDY");
    build::parameter_status(out, "TimeZone", "UTC");
    build::parameter_status(out, "integer_datetimes", "on");
    build::parameter_status(out, "standard_conforming_strings", "on");
    build::backend_key_data(out, next_pid_++, 42);
    build::ready_for_query(out, 'I');
    if (!co_await send(out)) co_return;

    Backend b;
    for (;;) {
        if (!co_await read_exact(head, 5)) co_return;
        const char tag = head[0];
        const auto len = static_cast<uint32_t>(protocol::MessageReader(head.substr(1)).int32());
        if (len < 4 || len > kMaxMessage || !co_await read_exact(body, len - 4)) co_return;
        const uint8_t choice = next_choice();
        out.clear();
        unasked(out, choice);
        const Outcome o = outcome_of(choice);
        if (o == Outcome::hang_up) co_return;
        if (o == Outcome::fatal) {
            error(out, "57P01", "terminating connection due to administrator command", true);
            co_await send(out);
            co_return;
        }
        const bool fails = o == Outcome::error;
        if (tag == 'X') co_return;
        if (b.copy) {
            if (tag == 'c' || tag == 'f' || (tag != 'd' && tag != 'H' && tag != 'S')) {
                b.copy = false;
                if (tag == 'c' && !fails) {
                    build::command_complete(out, "COPY 1");
                } else {
                    error(out, "57014", "COPY from stdin failed");
                    b.fail();
                }
                build::ready_for_query(out, b.status());
            }
        } else if (b.skipping) {
            if (tag == 'S') {
                b.skipping = false;
                build::ready_for_query(out, b.status());
            }
        } else if (tag == 'Q' || tag == 'F') {
            if (fails || tag == 'F') {
                error(out, "42000", "scripted failure");
                b.fail();
            } else if (!b.query(protocol::MessageReader(body).cstring(), out)) {
                if (!co_await send(out)) co_return;
                continue;  // COPY: ReadyForQuery comes after its end
            }
            build::ready_for_query(out, b.status());
        } else if (std::string_view("PBDECH").find(tag) != std::string_view::npos) {
            if (fails) {
                error(out, "42601", "scripted failure");
                b.fail();
                b.skipping = true;
            } else if (tag == 'P') {
                simple(out, '1');
            } else if (tag == 'B') {
                simple(out, '2');
            } else if (tag == 'D') {
                if (!body.empty() && body[0] == 'S')
                    protocol::MessageWriter(out).begin('t').int16(0).end();
                choice & 0x10 ? simple(out, 'n') : row_description(out);
            } else if (tag == 'E') {
                if (choice & 0x10) data_row(out, "1");
                build::command_complete(out, "SELECT 1");
            } else if (tag == 'C') {
                simple(out, '3');
            }
        } else if (tag == 'S') {
            build::ready_for_query(out, b.status());
        } else if (tag != 'd' && tag != 'c' && tag != 'f') {
            error(out, "08P01", "invalid frontend message type", true);
            co_await send(out);
            co_return;
        }
        if (!out.empty() && !co_await send(out)) co_return;
    }
}

}  // namespace pgtenant::fuzz
