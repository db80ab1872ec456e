// Session phases before serving: startup packet, optional TLS, authentication, welcome.
#include <spdlog/spdlog.h>

#include "auth/scram.h"
#include "protocol/builders.h"
#include "protocol/messages.h"
#include "proxy/refusal_log.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace errors = protocol::errors;
namespace build = protocol::build;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr std::size_t kMaxStartupPacket = 10000;  // as the server's own limit
constexpr std::size_t kMaxAuthMessage = 10000;
// Connections beyond server.max_client_conn let in as far as authentication, so that an admin
// can still reach the console of a full pgtenant (practice logins are then refused).
constexpr int kAdminReserve = 3;
constexpr std::string_view kConsoleDatabase = "pgtenant";
}  // namespace

Session::Session(App& app, tcp::socket socket, int worker)
    : app_(app), client_(std::move(socket)), id_(app.next_session++), worker_(worker) {}

Session::~Session() {
    if (server_) {
        count_lease(-1);  // the lease itself discards its connection
        admin::Slot::add(slot_->active, -1);
    }
    if (registered_) {
        app_.registry.remove(worker_, this);
        admin::Slot::add(slot_->clients, -1);
        const auto lasted =
            std::chrono::duration<double>(std::chrono::system_clock::now() - connect_time_);
        app_.audit_event({.event = handed_over_ ? "handed_over" : "disconnect",
                          .practice = practice_,
                          .login = user_,
                          .client = client_addr_,
                          .duration_s = lasted.count(),
                          .transactions = transactions_,
                          .session = id_});
    }
    if (admin_) --app_.admin_clients;
    if (large_message_) end_large_message();
    if (cancel_pid_) app_.cancels.remove(cancel_pid_);
    if (counted_) --app_.clients;
    if (practice_counted_) app_.practice_clients.leave(practice_);
}

std::string Session::prefix() const {
    if (user_.empty()) return fmt::format("[c{}]", id_);
    return fmt::format("[c{} {}@{}]", id_, user_, practice_.substr(0, 8));
}

std::optional<bool> Session::write_client_now(std::string_view& bytes) {
    const std::size_t size = bytes.size();
    error_code ec;
    const bool over = client_.write_now(bytes, ec);
    if (slot_) admin::Slot::add(slot_->bytes_sent, size - bytes.size());
    if (!over) return std::nullopt;
    return !ec;
}

awaitable<bool> Session::write_client(std::string_view bytes) {
    if (slot_) admin::Slot::add(slot_->bytes_sent, bytes.size());
    auto ec = co_await client_.write(bytes);
    co_return !ec;
}

awaitable<void> Session::refuse(const protocol::Error& e) {
    std::string out;
    protocol::encode_error(out, e);
    refused(e);
    co_await write_client(out);
    client_.close();
}

awaitable<void> Session::run(std::shared_ptr<Session> self) {
    // Kept to two awaits: this frame lives as long as the session (an idle client's memory).
    Session& s = *self;
    RelayStopper stop_relay{s};
    if (!co_await s.admit()) co_return;
    release_cached_frames();  // serve's frame lives as long as the session: its own size
    if (s.admin_) {
        co_await s.serve_console();
    } else {
        co_await s.serve();
    }
}

// A connection within server.max_client_conn (and the admin reserve) that logs in.
awaitable<bool> Session::admit() {
    counted_ = true;
    const int max_clients = app_.config->server.max_client_conn;
    if (++app_.clients > max_clients + kAdminReserve) {
        co_await refuse(errors::too_many_connections(max_clients));
        co_return false;
    }
    co_return co_await login();
}

// Startup and authentication within the login deadline. A coroutine of its own so that its
// frame (the timer among it) is gone while the session serves.
awaitable<bool> Session::login() {
    asio::steady_timer deadline(co_await asio::this_coro::executor,
                                app_.config->server.login_timeout);
    auto steps = [&]() -> awaitable<bool> {
        if (co_await startup() == StartupOutcome::done) co_return false;
        co_return co_await authenticate();
    };
    auto result = co_await (steps() || deadline.async_wait(use_tuple));
    if (result.index() == 1) {
        co_await refuse(errors::authentication_timeout());
        co_return false;
    }
    co_return std::get<0>(result);
}

awaitable<Session::StartupOutcome> Session::startup() {
    bool asked_tls = false, asked_gss = false;
    std::string packet;
    for (;;) {
        auto r = co_await read_message(client_, client_buf_, kMaxStartupPacket, packet, true);
        if (r == FrameRead::closed) co_return StartupOutcome::done;
        if (r != FrameRead::ok || packet.size() < 8) {
            co_await refuse(errors::protocol_violation("invalid length of startup packet"));
            co_return StartupOutcome::done;
        }
        auto p = protocol::decode_startup(std::string_view(packet).substr(4));
        if (!p) {
            co_await refuse(errors::protocol_violation("malformed startup packet"));
            co_return StartupOutcome::done;
        }
        switch (p->kind) {
            case protocol::StartupKind::ssl_request: {
                if (asked_tls || asked_gss) {
                    co_await refuse(errors::protocol_violation("repeated encryption request"));
                    co_return StartupOutcome::done;
                }
                asked_tls = true;
                // Bytes sent after SSLRequest but before the handshake would be read as if
                // they had been encrypted (the CVE-2021-23214 class): refuse them.
                if (client_buf_.size() != 0) {
                    co_await refuse(
                        errors::protocol_violation("received unencrypted data after SSL request"));
                    co_return StartupOutcome::done;
                }
                if (!app_.tls) {
                    if (!co_await write_client("N")) co_return StartupOutcome::done;
                    continue;
                }
                if (!co_await write_client("S")) co_return StartupOutcome::done;
                if (auto ec = co_await client_.start_tls(*app_.tls)) {
                    spdlog::info("{} TLS handshake failed: {}", prefix(), ec.message());
                    client_.close();
                    co_return StartupOutcome::done;
                }
                continue;
            }
            case protocol::StartupKind::gssenc_request:
                if (asked_gss || client_.is_tls()) {
                    co_await refuse(errors::protocol_violation("repeated encryption request"));
                    co_return StartupOutcome::done;
                }
                asked_gss = true;
                if (!co_await write_client("N")) co_return StartupOutcome::done;
                continue;
            case protocol::StartupKind::cancel:
                co_await handle_cancel(app_, p->cancel.pid, p->cancel.key);
                client_.close();
                co_return StartupOutcome::done;
            case protocol::StartupKind::unsupported_version:
                co_await refuse(errors::unsupported_protocol(p->code));
                co_return StartupOutcome::done;
            case protocol::StartupKind::startup:
                break;
        }
        if (p->needs_negotiation() && !co_await negotiate_protocol(p->startup.protocol_options))
            co_return StartupOutcome::done;
        if (app_.config->server.tls_required && !client_.is_tls()) {
            co_await refuse(errors::auth_rejected(errors::Rule{"tls_required"},
                                                  "pgtenant requires TLS (server.tls_required)"));
            co_return StartupOutcome::done;
        }
        if (auto err = parse_startup_request(p->startup, app_.config->tenant.setting, request_)) {
            co_await refuse(*err);
            co_return StartupOutcome::done;
        }
        user_ = request_.user;
        co_return StartupOutcome::proceed;
    }
}

// A client that asked for protocol 3.x, x > 0, or for "_pq_." options learns, as from
// PostgreSQL, that the session speaks 3.0 without them; it goes on (or hangs up) as it likes.
awaitable<bool> Session::negotiate_protocol(const std::vector<std::string>& unrecognised) {
    std::string out;
    build::negotiate_protocol_version(out, protocol::kProtocolV3, unrecognised);
    co_return co_await write_client(out);
}

awaitable<bool> Session::authenticate() {
    // Held until the end: a reload may replace the directory meanwhile.
    const auto directory = app_.directory();
    const auth::Login* login = directory->find(request_.user);
    std::optional<auth::Login> looked_up;
    if (!login && app_.lookup) {
        auto found =
            co_await app_.lookup->find(request_.user, app_.config->backend.connect_timeout);
        if (!found.error.empty()) {
            // Fail-closed: without an answer nobody is let in under that name.
            spdlog::warn("{} directory lookup of \"{}\" failed: {}", prefix(), request_.user,
                         found.error);
            co_await refuse(errors::directory_unavailable());
            co_return false;
        }
        looked_up = std::move(found.login);
        if (looked_up) login = &*looked_up;
        from_lookup_ = looked_up.has_value();
    }
    auth_abandoned_ = false;
    bool ok = (login && login->scram_verifier.empty() && !login->md5_hash.empty())
                  ? co_await authenticate_md5(*login)
                  : co_await authenticate_scram(login);
    if (!ok && auth_abandoned_) {
        // Gone mid-exchange (gave up, timed out in a queue): not a wrong password.
        spdlog::info("{} closed the connection during authentication", prefix());
        co_return false;
    }
    if (!ok) {
        user_.clear();  // the name was not proven: keep it out of the log prefix
        co_await refuse(errors::auth_failed(request_.user));
        co_return false;
    }
    user_ = login->name;
    practice_ = login->practice_id;
    if (!co_await check_database(*login)) co_return false;
    if (login->admin) {
        admin_ = true;
        ++app_.admin_clients;
        logged_in();
        co_return co_await send_console_welcome();
    }
    const bool full = app_.clients - app_.admin_clients > app_.config->server.max_client_conn;
    const int practice_cap = practice_client_cap(*app_.config, *directory, practice_);
    practice_counted_ =
        !full && !app_.draining && app_.practice_clients.enter(practice_, practice_cap);
    if (!practice_counted_) {
        // Accepted just before a drain began: told at once, as PostgreSQL tells a client that
        // connects while it shuts down, so the client connects again (to the new pgtenant).
        protocol::Error e = errors::shutting_down();
        if (full) {
            e = errors::too_many_connections(app_.config->server.max_client_conn);
        } else if (!app_.draining) {
            e = errors::practice_client_cap(practice_cap);
        }
        std::string ok;
        build::auth_ok(ok);
        if (co_await write_client(ok)) co_await refuse(e);
        co_return false;
    }
    conv_.start(request_.params,
                login->pool_mode == auth::LoginPoolMode::session ||
                    (login->pool_mode == auth::LoginPoolMode::inherit &&
                     app_.config->pool.default_mode == config::PoolMode::session),
                id_);
    co_return co_await send_welcome();
}

// Database "pgtenant" is the admin console: admin logins may use nothing else, practice logins
// not it (unless the backend database has that name). Told after AuthenticationOk, as PostgreSQL
// tells of a database it cannot open.
awaitable<bool> Session::check_database(const auth::Login& login) {
    const bool console = request_.database == kConsoleDatabase &&
                         (login.admin || app_.config->backend.database != kConsoleDatabase);
    if (console == login.admin) co_return true;
    std::string ok;
    build::auth_ok(ok);
    // Not a ?: inside co_await: GCC 12 miscompiles one of temporaries there.
    protocol::Error e = errors::not_an_admin(login.name);
    if (login.admin) e = errors::console_only(login.name);
    if (co_await write_client(ok)) co_await refuse(e);
    co_return false;
}

// Reads the client's next authentication message ('p'); notes a client that hung up.
awaitable<bool> Session::read_password_message(std::string& msg) {
    auto r = co_await read_message(client_, client_buf_, kMaxAuthMessage, msg);
    if (r == FrameRead::closed) auth_abandoned_ = true;
    const bool ok = r == FrameRead::ok && msg[0] == 'p';
    co_return ok;
}

awaitable<bool> Session::authenticate_scram(const auth::Login* login) {
    std::optional<auth::ScramSecret> secret;
    if (login) secret = auth::ScramSecret::parse(login->scram_verifier);
    auth::ScramServer scram(secret, request_.user);

    std::string out, msg;
    build::auth_sasl(out, "SCRAM-SHA-256");
    if (!co_await write_client(out)) co_return false;

    if (!co_await read_password_message(msg)) co_return false;
    auto initial = protocol::decode_sasl_initial(std::string_view(msg).substr(5));
    if (!initial || initial->mechanism != "SCRAM-SHA-256" || !initial->data) co_return false;
    auto step = scram.step(*initial->data);
    if (step.kind != auth::AuthStep::Kind::reply) co_return false;
    out.clear();
    build::auth_sasl_continue(out, step.message);
    if (!co_await write_client(out)) co_return false;

    if (!co_await read_password_message(msg)) co_return false;
    step = scram.step(std::string_view(msg).substr(5));
    if (step.kind != auth::AuthStep::Kind::done || !login) co_return false;
    out.clear();
    build::auth_sasl_final(out, step.message);
    co_return co_await write_client(out);
}

awaitable<bool> Session::authenticate_md5(const auth::Login& login) {
    auto salt = auth::random_bytes(4);
    std::string out, msg;
    build::auth_md5(out, salt);
    if (!co_await write_client(out)) co_return false;
    if (!co_await read_password_message(msg)) co_return false;
    auto answer = protocol::decode_query(std::string_view(msg).substr(5));  // one C string
    const bool ok = answer && auth::constant_time_equal(
                                  *answer, auth::md5_response_from_stored(login.md5_hash, salt));
    co_return ok;
}

awaitable<bool> Session::send_welcome() {
    auto params = app_.pool->server_params();
    if (params.empty()) {
        // No server connection has been opened yet: open one to learn what to report.
        auto acquired = co_await app_.pool->acquire(practice_, worker_);
        if (!acquired.lease) {
            // As PostgreSQL's own refusals after authentication (a database that does not
            // exist, a role's connection limit): AuthenticationOk, then the FATAL. Drivers
            // are not ready for an error between SASLFinal and AuthenticationOk (postgres.js
            // lost it as an unhandled rejection, which ends a Node process).
            auto e = pool_error(*acquired.error);
            e.severity = "FATAL";
            std::string ok;
            build::auth_ok(ok);
            if (co_await write_client(ok)) co_await refuse(e);
            co_return false;
        }
        params = acquired.lease->startup_params();
        acquired.lease.release();
    }
    std::string out;
    build::auth_ok(out);
    for (auto& [name, value] : params) {
        const auto& own_values = conv_.settings().values();
        auto own = own_values.find(lower(name));
        if (own != own_values.end()) {
            build::parameter_status(out, name, own->second);
            conv_.told(name, own->second);
        } else {
            build::parameter_status(out, name, value);
        }
    }
    cancel_slot_ = std::make_shared<CancelSlot>();
    auto keys = app_.cancels.add(cancel_slot_);
    cancel_pid_ = keys.pid;
    cancel_key_ = keys.key;
    build::backend_key_data(out, keys.pid, keys.key);
    build::ready_for_query(out, 'I');
    logged_in();
    spdlog::info("{} logged in ({} pooling{})", prefix(),
                 conv_.session_pooling() ? "session" : "transaction",
                 client_.is_tls() ? ", TLS" : "");
    co_return co_await write_client(out);
}

awaitable<void> handle_cancel(App& app, int32_t pid, int32_t key) {
    auto target = app.cancels.resolve(pid, key);
    if (!target) {
        spdlog::debug("cancel request for unknown or idle session ignored");
        co_return;
    }
    co_await send_cancel(app.config->backend, target->first, target->second);
}

}  // namespace pgtenant::proxy
