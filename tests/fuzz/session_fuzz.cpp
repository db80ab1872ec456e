// The session logic under random client message sequences and a scripted server (issue 14):
// pgtenant's real Session, Pool and relay, in process on one io_context, a client logged in
// over loopback, and a ScriptedServer in PostgreSQL's place whose replies the input steers
// (errors, FATALs, hang-ups, unasked-for notices and ParameterStatus at any point).
//
// The input is a program: a flags byte, then operations (a client message from a small
// grammar of what drivers send, raw bytes, a write boundary, choices for the server's next
// replies). Besides crashes and sanitizer reports it checks that every byte pgtenant sends the
// client is a well-formed backend message, that the pool never opens more than pool.size
// connections, and that once the client is gone its session ends and its server connection is
// returned or closed within a second (nothing stays leased).
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "auth/crypto.h"
#include "auth/directory.h"
#include "config/config.h"
#include "fuzz_support.h"
#include "protocol/builders.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/wire.h"
#include "proxy/app.h"
#include "proxy/session/session.h"
#include "scripted_server.h"

namespace pgtenant::fuzz {
namespace {

namespace asio = boost::asio;
namespace build = protocol::build;
using proxy::awaitable;
using proxy::tcp;
using proxy::use_tuple;
using Clock = std::chrono::steady_clock;
using namespace boost::asio::experimental::awaitable_operators;

constexpr std::string_view kUser = "fz";
constexpr std::string_view kPassword = "fuzz-secret";
constexpr int kPoolSize = 2;

const char* const kSql[] = {
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SELECT 1",
    "SET TimeZone = 'UTC'",
    "SET LOCAL statement_timeout = 5",
    "RESET ALL",
    "SAVEPOINT a",
    "ROLLBACK TO a",
    "PREPARE q AS SELECT 1",
    "EXECUTE q",
    "DEALLOCATE q",
    "DEALLOCATE ALL",
    "DISCARD ALL",
    "COPY t FROM STDIN",
    "SELECT set_config('TimeZone', 'UTC', false)",
    "SHOW TimeZone",
    "VACUUM",
    "BEGIN ISOLATION LEVEL SERIALIZABLE",
    "SELECT 1; SELECT 2",
    "",
    "SET app.current_practice_id = 'x'",
};
const char* const kNames[] = {"", "s1", "s2", "q"};

struct Harness {
    asio::io_context io{1};
    ScriptedServer server{io};
    proxy::App app;
    tcp::acceptor acceptor{io};
    uint16_t port = 0;

    Harness() {
        // PGTENANT_FUZZ_LOG=debug (or another level) shows pgtenant's log, to study a finding.
        const char* level = std::getenv("PGTENANT_FUZZ_LOG");
        spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::off);
        const std::string config =
            "[backend]\nhost = \"127.0.0.1\"\nport = " + std::to_string(server.port()) +
            "\nuser = \"pool\"\nconnect_timeout_ms = 1000\n"
            "[pool]\nsize = " +
            std::to_string(kPoolSize) +
            "\nwait_timeout_ms = 300\n"
            "[tenant]\nusers_file = \"users.toml\"\nsetting = \"app.current_practice_id\"\n";
        app.config = config::parse_config(config, "/nonexistent");
        const std::string md5 =
            "md5" + auth::crypto::md5_hex(std::string(kPassword) + std::string(kUser));
        app.set_directory(auth::PracticeDirectory::parse(
            "[[login]]\nname = \"fz\"\npractice = \"11111111-1111-4111-8111-111111111111\"\n"
            "md5 = \"" +
            md5 + "\"\n"));
        app.workers = {io.get_executor()};
        app.stats = std::make_unique<proxy::admin::Stats>(1);
        app.registry.resize(1);
        app.pool = std::make_unique<proxy::Pool>(
            app.config, std::vector<asio::any_io_executor>{io.get_executor()});
        tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
        acceptor.open(ep.protocol());
        acceptor.bind(ep);
        acceptor.listen();
        port = acceptor.local_endpoint().port();
        asio::co_spawn(io, accept_loop(), asio::detached);
    }

    awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
            if (ec) co_return;
            socket.set_option(tcp::no_delay(true));
            auto session = std::make_shared<proxy::Session>(app, std::move(socket), 0);
            asio::co_spawn(io, proxy::Session::run(std::move(session)), asio::detached);
        }
    }

    // Runs the io_context until `done` or the deadline; false on the deadline.
    template <typename Done>
    bool run_until(Done done, std::chrono::milliseconds limit) {
        const auto deadline = Clock::now() + limit;
        while (!done()) {
            if (Clock::now() >= deadline) return false;
            io.run_one_for(std::chrono::milliseconds(5));
        }
        return true;
    }
};

Harness& harness() {
    static Harness* h = new Harness;  // lives as long as the process: sessions outlive inputs
    return *h;
}

// The input, read as the program it encodes.
struct Program {
    bool reset = false;                // the client leaves with RST, not FIN
    std::vector<std::string> writes;   // what the client writes, one write each
    std::vector<std::string> scripts;  // server choices, handed over before each write
};

Program compile(std::string_view in) {
    Program p;
    if (in.empty()) return p;
    p.reset = in[0] & 1;
    in.remove_prefix(1);
    std::string w, script;
    auto next = [&]() -> uint8_t {
        if (in.empty()) return 0;
        const auto b = static_cast<uint8_t>(in[0]);
        in.remove_prefix(1);
        return b;
    };
    auto sql = [&] { return kSql[next() % std::size(kSql)]; };
    auto name = [&] { return kNames[next() % std::size(kNames)]; };
    while (!in.empty()) {
        switch (next() % 16) {
            case 1:
                build::parse(w, name(), sql());
                break;
            case 2:
                build::bind(w, name(), {});
                break;
            case 3:
                build::describe(w, next() & 1 ? 'S' : 'P', name());
                break;
            case 4:
                build::execute(w, {}, next() % 3);
                break;
            case 5:
                build::sync(w);
                break;
            case 6:
                build::close(w, 'S', name());
                break;
            case 7:
                build::flush(w);
                break;
            case 8:
                protocol::MessageWriter(w).begin('d').bytes("1\n").end();
                break;
            case 9:
                protocol::MessageWriter(w).begin('c').end();
                break;
            case 10:
                protocol::MessageWriter(w).begin('f').cstring("changed my mind").end();
                break;
            case 11:  // a write boundary
                p.writes.push_back(std::move(w));
                p.scripts.push_back(std::move(script));
                w.clear();
                script.clear();
                break;
            case 12: {  // choices for the server's next replies
                const std::size_t n = next() % 8;
                for (std::size_t i = 0; i < n && !in.empty(); ++i)
                    script += static_cast<char>(next());
                break;
            }
            case 13: {  // raw bytes
                const std::size_t n = next() % 16;
                for (std::size_t i = 0; i < n && !in.empty(); ++i) w += static_cast<char>(next());
                break;
            }
            case 14:
                protocol::MessageWriter(w).begin('X').end();
                break;
            default:
                build::query(w, sql());
                break;
        }
    }
    p.writes.push_back(std::move(w));
    p.scripts.push_back(std::move(script));
    return p;
}

// Every message pgtenant sends a client is a backend message, whole and of a sane length.
void check_frames(std::string_view bytes) {
    static constexpr std::string_view kBackendTags = "123ACDEGHIKNRSTVWZcdnstv";
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        protocol::Frame f;
        auto st = protocol::peek_frame(bytes.substr(pos), 1u << 30, f);
        if (st == protocol::FrameStatus::need_more) return;  // the rest was still on its way
        FUZZ_CHECK(st == protocol::FrameStatus::complete);
        FUZZ_CHECK(kBackendTags.find(f.tag) != std::string_view::npos);
        pos += f.total_size;
    }
}

// The client: logs in, writes the program, reads what comes back, leaves.
awaitable<void> client(Harness& h, const Program& p, bool& done) {
    struct Done {
        bool& d;
        ~Done() { d = true; }
    } mark{done};
    tcp::socket s(h.io);
    auto [cec] = co_await s.async_connect({asio::ip::make_address("127.0.0.1"), h.port}, use_tuple);
    if (cec) co_return;
    s.set_option(tcp::no_delay(true));
    std::string out, in;
    auto send = [&](const std::string& bytes) -> awaitable<bool> {
        auto [ec, n] = co_await asio::async_write(s, asio::buffer(bytes), use_tuple);
        co_return !ec;
    };
    // Reads what arrives within `wait`; with `until_quiet`, on until nothing has come for
    // `wait`. False once the connection is closed.
    auto receive = [&](std::chrono::milliseconds wait, bool until_quiet) -> awaitable<bool> {
        char buf[16384];
        for (;;) {
            // Both operations are over when this returns: nothing is left to fire later.
            asio::steady_timer t(h.io, wait);
            auto r = co_await (s.async_read_some(asio::buffer(buf), use_tuple) ||
                               t.async_wait(use_tuple));
            if (r.index() == 1) co_return true;  // quiet for `wait`
            auto [ec, n] = std::get<0>(r);
            if (ec) co_return false;
            in.append(buf, n);
            if (!until_quiet) co_return true;
        }
    };
    // Reads until a whole message tagged `tag` is in; false if the connection or a second ends.
    auto await_tag = [&](char tag) -> awaitable<bool> {
        const auto deadline = Clock::now() + std::chrono::seconds(1);
        for (;;) {
            std::size_t pos = 0;
            protocol::Frame f;
            while (protocol::peek_frame(std::string_view(in).substr(pos), 1u << 30, f) ==
                   protocol::FrameStatus::complete) {
                if (f.tag == tag) co_return true;
                pos += f.total_size;
            }
            if (Clock::now() >= deadline ||
                !co_await receive(std::chrono::milliseconds(100), false))
                co_return false;
        }
    };
    build::startup(out, {{"user", std::string(kUser)}, {"database", "postgres"}});
    if (!co_await send(out) || !co_await await_tag('R') || in.size() < 13) co_return;
    const std::string salt = in.substr(9, 4);
    const std::string stored =
        "md5" + auth::crypto::md5_hex(std::string(kPassword) + std::string(kUser));
    out.clear();
    build::password(out, "md5" + auth::crypto::md5_hex(stored.substr(3) + salt));
    in.clear();
    // Not logged in (the scripted server was down when pgtenant first needed it): nothing to do.
    if (!co_await send(out) || !co_await await_tag('Z')) co_return;
    in.clear();
    for (std::size_t i = 0; i < p.writes.size(); ++i) {
        h.server.script(p.scripts[i]);
        if (!co_await send(p.writes[i])) break;
        if (!co_await receive(std::chrono::milliseconds(2), true)) break;
    }
    co_await receive(std::chrono::milliseconds(10), true);
    check_frames(in);
    boost::system::error_code ignored;
    if (p.reset) s.set_option(asio::socket_base::linger(true, 0), ignored);
    s.close(ignored);
}

}  // namespace
}  // namespace pgtenant::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace pgtenant::fuzz;
    auto& h = harness();
    const Program program = compile(as_view(data, size));
    bool done = false;
    h.server.clear_script();
    boost::asio::co_spawn(h.io, client(h, program, done), boost::asio::detached);
    FUZZ_CHECK(h.run_until([&] { return done; }, std::chrono::seconds(5)));
    h.server.clear_script();
    // The client is gone: its session ends and gives its server connection back (or closes it).
    FUZZ_CHECK(h.run_until([&] { return h.app.clients.load() == 0; }, std::chrono::seconds(2)));
    FUZZ_CHECK(h.run_until([&] { return h.app.pool->stats().idle == h.app.pool->stats().open; },
                           std::chrono::seconds(2)));
    FUZZ_CHECK(h.app.pool->stats().open <= kPoolSize);
    FUZZ_CHECK(h.server.open_connections() <= kPoolSize);
    return 0;
}
