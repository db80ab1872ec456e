#include "proxy/server_connection.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "auth/scram.h"
#include "protocol/builders.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace pgtenant::proxy {

using namespace asio::experimental::awaitable_operators;
namespace build = protocol::build;

namespace {

std::atomic<uint64_t> next_id{1};

std::string server_error_text(std::string_view frame) {
    auto e = protocol::decode_error_fields(frame.substr(5));
    if (!e) return "malformed error from server";
    return fmt::format("{} ({}: {})", e->message(), e->severity(), e->sqlstate());
}

// A byte for a log line: itself when printable, else its code.
std::string printable(char c) {
    if (c >= 0x20 && c < 0x7f) return fmt::format("'{}'", c);
    return fmt::format("byte 0x{:02x}", static_cast<unsigned char>(c));
}

}  // namespace

// write_all, with the failure as text for the login's error message.
awaitable<std::string> ServerConnection::send_or_why(std::string_view bytes) {
    auto ec = co_await write_all(bytes);
    co_return ec ? ec.message() : std::string();
}

// One whole message from the server into `out`; false when the connection failed.
awaitable<bool> ServerConnection::read_message(std::string& out) {
    for (;;) {
        protocol::Frame f;
        auto st = protocol::peek_frame(buffer_.view(), kMaxServerMessage, f);
        if (st == protocol::FrameStatus::complete) {
            out.assign(f.bytes);
            buffer_.consume(f.total_size);
            co_return true;
        }
        if (st != protocol::FrameStatus::need_more) co_return false;
        std::size_t want = f.total_size > buffer_.size() ? f.total_size - buffer_.size() : 4096;
        if (co_await fill(std::min<std::size_t>(want, 1 << 20))) co_return false;
    }
}

// "the server closed the connection during login", with what TLS knows about why (a client
// certificate the server refused arrives as an alert after the handshake, with TLS 1.3).
std::string ServerConnection::closed_during(std::string_view what) const {
    std::string why = fmt::format("the server closed the connection {}", what);
    if (tls_ && !tls_->last_error().empty()) why += fmt::format(" (TLS: {})", tls_->last_error());
    return why;
}

// SSLRequest, then the TLS handshake when the server answers 'S' (backend.sslmode).
awaitable<std::string> ServerConnection::start_tls(const config::BackendConfig& cfg) {
    std::string request;
    build::ssl_request(request);
    if (auto err = co_await send_or_why(request); !err.empty()) co_return err;
    if (co_await proxy::fill(socket_, buffer_, 1))
        co_return "the server closed the connection after the SSL request";
    const char answer = buffer_.view()[0];
    if (answer == 'N') {
        buffer_.consume(1);
        if (cfg.sslmode == config::SslMode::prefer) co_return std::string();
        co_return fmt::format(
            "the server at {}:{} does not accept TLS (it answered 'N' to the SSL request: is its "
            "ssl setting on?), and backend.sslmode = {} requires TLS",
            cfg.host, cfg.port, config::to_string(cfg.sslmode));
    }
    if (answer == 'E') {
        std::string msg;
        if (co_await read_message(msg) && msg[0] == 'E')
            co_return "the server refused the SSL request: " + server_error_text(msg);
        co_return "the server refused the SSL request";
    }
    if (answer != 'S')
        co_return fmt::format("the server answered the SSL request with {} instead of 'S' or 'N'",
                              printable(answer));
    // Bytes after the 'S' arrived unencrypted although they should follow the handshake: an
    // attacker injecting them is the CVE-2021-23222 class. Refuse.
    if (buffer_.size() != 1)
        co_return "the server sent unencrypted data after accepting the SSL request";
    buffer_.consume(1);
    std::string error;
    tls_ = BackendTls::make(cfg, socket_, error);
    if (!tls_) co_return error;
    if (auto err = co_await tls_->handshake(); !err.empty())
        co_return fmt::format("TLS handshake with {}:{} failed (backend.sslmode = {}): {}",
                              cfg.host, cfg.port, config::to_string(cfg.sslmode), err);
    spdlog::debug("server connection {}: TLS ({})", id_, tls_->describe());
    co_return std::string();
}

awaitable<ServerConnection::Opened> ServerConnection::open(const config::BackendConfig& cfg,
                                                           int worker) {
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    auto [rec, endpoints] =
        co_await resolver.async_resolve(cfg.host, std::to_string(cfg.port), use_tuple);
    if (rec)
        co_return Opened{nullptr, fmt::format("cannot resolve {}: {}", cfg.host, rec.message())};

    auto conn = std::make_shared<ServerConnection>(tcp::socket(ex), worker);
    conn->id_ = next_id++;
    asio::steady_timer timer(ex, cfg.connect_timeout);
    auto setup = [&]() -> awaitable<std::string> {
        auto [ec, ep] = co_await asio::async_connect(conn->socket_, endpoints, use_tuple);
        if (ec)
            co_return fmt::format("connect to {}:{} failed: {}", cfg.host, cfg.port, ec.message());
        conn->socket_.set_option(tcp::no_delay(true));
        conn->protocol_ = ep.protocol();
        if (cfg.sslmode != config::SslMode::disable)
            if (auto err = co_await conn->start_tls(cfg); !err.empty()) co_return err;
        if (auto err = co_await conn->login(cfg); !err.empty()) co_return err;
        co_return co_await conn->prepare_statements();
    };
    auto result = co_await (setup() || timer.async_wait(use_tuple));
    if (result.index() == 1) {
        co_return Opened{nullptr, fmt::format("connecting to {}:{} timed out after {} ms", cfg.host,
                                              cfg.port, cfg.connect_timeout.count())};
    }
    if (auto& err = std::get<0>(result); !err.empty()) co_return Opened{nullptr, err};
    co_return Opened{std::move(conn), {}};
}

awaitable<std::string> ServerConnection::login(const config::BackendConfig& cfg) {
    std::string out;
    build::startup(
        out, {{"user", cfg.user}, {"database", cfg.database}, {"application_name", "pgtenant"}});
    if (auto err = co_await send_or_why(out); !err.empty()) co_return err;

    std::optional<auth::ScramClient> scram;
    std::string msg;
    for (;;) {
        if (!co_await read_message(msg)) co_return closed_during("during login");
        char tag = msg[0];
        std::string_view body = std::string_view(msg).substr(5);
        out.clear();
        if (tag == 'E') co_return "login refused: " + server_error_text(msg);
        if (tag == 'R') {
            auto a = protocol::decode_authentication(body);
            if (!a) co_return "malformed authentication request from the server";
            switch (a->code) {
                case 0:
                    continue;
                case 3:
                    build::password(out, cfg.password);
                    break;
                case 5:
                    if (a->data.size() != 4) co_return "malformed MD5 request from the server";
                    build::password(out,
                                    auth::md5_password_response(cfg.user, cfg.password, a->data));
                    break;
                case 10: {
                    bool has_scram = false;
                    for (auto m : protocol::split_sasl_mechanisms(a->data))
                        has_scram |= (m == "SCRAM-SHA-256");
                    if (!has_scram)
                        co_return "the server offers no SASL mechanism pgtenant supports";
                    scram.emplace(cfg.password);
                    build::sasl_initial(out, "SCRAM-SHA-256", scram->first_message());
                    break;
                }
                case 11:
                case 12: {
                    if (!scram) co_return "unexpected SASL message from the server";
                    auto step = scram->step(a->data);
                    if (step.kind == auth::AuthStep::Kind::failed)
                        co_return "SCRAM login to the server failed: " + step.message;
                    if (a->code == 11) build::sasl_response(out, step.message);
                    break;
                }
                default:
                    co_return fmt::format(
                        "the server asks for an authentication method pgtenant does "
                        "not support (code {})",
                        a->code);
            }
            if (!out.empty())
                if (auto err = co_await send_or_why(out); !err.empty()) co_return err;
            continue;
        }
        if (tag == 'K') {
            auto k = protocol::decode_backend_key_data(body);
            if (!k) co_return "malformed BackendKeyData from the server";
            pid_ = k->pid;
            key_ = k->key;
        } else if (tag == 'S') {
            if (auto p = protocol::decode_parameter_status(body))
                startup_params_.emplace_back(std::string(p->name), std::string(p->value));
        } else if (tag == 'Z') {
            co_return std::string();
        }
    }
}

// What a practice switch must undo depends on what the pool role may do (ServerState): asked
// once per connection, in the same write as pgtenant's statements.
constexpr std::string_view kPrivilegesQuery =
    "SELECT pg_catalog.has_table_privilege('pg_catalog.pg_prepared_statements', 'SELECT') OR "
    "pg_catalog.has_function_privilege('pg_catalog.pg_prepared_statement()', 'EXECUTE'), "
    "EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname !~ '^pg_(toast_)?temp_' AND "
    "pg_catalog.has_schema_privilege(oid, 'CREATE'))";

awaitable<std::string> ServerConnection::prepare_statements() {
    std::string out;
    append_pgtenant_statements(out);
    build::sync(out);
    build::query(out, kPrivilegesQuery);
    if (auto err = co_await send_or_why(out); !err.empty()) co_return err;
    std::string msg;
    std::string error;
    for (int ready = 0; ready < 2;) {
        if (!co_await read_message(msg))
            co_return closed_during("while pgtenant prepared its statements");
        if (msg[0] == 'E' && error.empty())
            error = "preparing pgtenant's statements failed: " + server_error_text(msg);
        if (msg[0] == 'D') {
            // Anything but two clear answers keeps the safe defaults (visible, can create).
            auto row = protocol::decode_data_row(std::string_view(msg).substr(5));
            if (row && row->size() == 2 && (*row)[0] && (*row)[1]) {
                statements_visible() = *(*row)[0] != "f";
                can_create() = *(*row)[1] != "f";
            }
        }
        if (msg[0] == 'Z') ++ready;
    }
    co_return error;
}

bool ServerConnection::idle_check() {
    if (broken() || !socket_.is_open()) return false;
    if (buffer_.size() != 0) return false;
    // Received by TLS but not read: as unsolicited as bytes in buffer_.
    if (tls_ && tls_->has_pending()) return false;
    if (std::chrono::steady_clock::now() - released_at_ < kIdleCheckAfter) return true;
    // A peek at the TCP stream holds for TLS too: EOF is EOF, and any byte is a record the
    // server sent unasked (a FATAL error, or an alert such as close_notify before it closes).
    char c;
    ssize_t n = ::recv(socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return false;  // closed by the server
    if (n > 0) return false;   // unsolicited bytes: a FATAL notice, most likely
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

// An empty query and its answer: EmptyQueryResponse, then ReadyForQuery 'I'. Anything else,
// no answer within `timeout` (a server process stopped, a peer gone without a FIN), or an error
// is a connection not to reuse.
awaitable<bool> ServerConnection::ping(std::chrono::milliseconds timeout) {
    asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
    auto exchange = [this]() -> awaitable<bool> {
        std::string out;
        build::query(out, "");
        if (co_await write_all(out)) co_return false;
        bool empty = false;
        for (std::string msg;;) {
            if (!co_await read_message(msg)) co_return false;
            if (msg[0] == 'I') {
                empty = true;
            } else if (msg[0] == 'Z') {
                co_return empty&& msg.size() == 6 && msg[5] == 'I';
            } else if (msg[0] != 'N' && msg[0] != 'S') {
                co_return false;  // an error, or a message no empty query brings
            }
        }
    };
    auto r = co_await (exchange() || timer.async_wait(use_tuple));
    if (r.index() == 0 && std::get<0>(r)) co_return true;
    mark_broken();
    co_return false;
}

void ServerConnection::move_to(int worker, const asio::any_io_executor& executor) {
    if (worker == worker_) return;
    error_code ec;
    tcp::socket moved(executor);
    const auto fd = socket_.release(ec);
    if (!ec) {
        moved.assign(protocol_, fd, ec);
        if (ec) ::close(fd);
    }
    // A socket that cannot move is closed: the idle check or the next write reports it.
    if (ec) mark_broken();
    socket_ = std::move(moved);
    worker_ = worker;
}

}  // namespace pgtenant::proxy
