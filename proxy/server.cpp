#include "proxy/server.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <thread>
#include <vector>

#include "protocol/errors.h"
#include "proxy/io_backend.h"
#include "proxy/refusal_log.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

std::unique_ptr<asio::ssl::context> make_tls_context(const config::ServerConfig& cfg) {
    if (cfg.tls_cert.empty()) return nullptr;
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    error_code ec;
    ctx->use_certificate_chain_file(cfg.tls_cert, ec);
    if (ec)
        throw std::runtime_error("server.tls_cert: cannot load " + cfg.tls_cert + ": " +
                                 ec.message());
    ctx->use_private_key_file(cfg.tls_key, asio::ssl::context::pem, ec);
    if (ec)
        throw std::runtime_error("server.tls_key: cannot load " + cfg.tls_key + ": " +
                                 ec.message());
    return ctx;
}

namespace {

// The descriptor kept in reserve so that, out of descriptors, pgtenant can still accept
// queued clients long enough to refuse them.
int open_spare() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

// Accepts the clients waiting in the listen queue with the spare descriptor and answers each
// with 53300 (as PostgreSQL does when full), then takes the spare back.
void refuse_queued(tcp::acceptor& acceptor, int& spare) {
    if (spare >= 0) ::close(spare);
    std::string refusal;
    protocol::encode_error(refusal, protocol::errors::out_of_descriptors());
    int refused = 0;
    for (; refused < 64; ++refused) {
        pollfd p{acceptor.native_handle(), POLLIN, 0};
        if (::poll(&p, 1, 0) != 1) break;
        int fd =
            ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        [[maybe_unused]] auto n =
            ::send(fd, refusal.data(), refusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(fd);
    }
    spare = open_spare();
    if (refused) {
        // No fmt::format here: out of descriptors, UBSan cannot check a type it has not seen
        // yet (its memory probe needs a pipe) and stops the sanitized build; spdlog's own
        // buffer was checked at the first log line.
        log_refusal("[listener]", protocol::errors::out_of_descriptors(),
                    std::to_string(refused) + " waiting client(s)");
    }
}

// Each worker thread runs its own io_context; the listener (on worker 0) deals clients out
// round-robin, and a client's session and socket stay on its worker for life.
using Workers = std::vector<std::unique_ptr<asio::io_context>>;

awaitable<void> accept_loop(App& app, tcp::acceptor& acceptor, Workers& workers) {
    int spare = open_spare();
    std::size_t next = 0;
    for (;;) {
        const int worker = static_cast<int>(next++ % workers.size());
        auto& ioc = *workers[static_cast<std::size_t>(worker)];
        auto [ec, socket] = co_await acceptor.async_accept(ioc, use_tuple);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
                if (spare >= 0) ::close(spare);
                co_return;
            }
            // Out of file descriptors (or another transient failure): pause instead of
            // spinning on an accept that fails at once, and tell the queued clients why
            // rather than leaving them to their own timeouts.
            spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
            if (ec == asio::error::no_descriptors || ec.value() == ENFILE)
                refuse_queued(acceptor, spare);
            asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto session = std::make_shared<Session>(app, std::move(socket), worker);
        asio::co_spawn(ioc, Session::run(std::move(session)), asio::detached);
    }
}

// Each client and each server connection is a file descriptor: raise the soft limit to the
// hard one, and say so when even that cannot hold server.max_client_conn.
void raise_fd_limit(const config::Config& cfg) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
        ::getrlimit(RLIMIT_NOFILE, &lim);
    }
    const auto needed = static_cast<rlim_t>(cfg.server.max_client_conn) + cfg.pool.size + 64;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
        spdlog::warn(
            "the open-files limit ({}) is below server.max_client_conn + pool.size ({}): "
            "clients beyond it are refused at accept; raise it with `ulimit -n` or LimitNOFILE",
            lim.rlim_cur, needed - 64);
    }
}

}  // namespace

int run_server(App& app) {
    const auto& cfg = app.config->server;
    raise_fd_limit(*app.config);
    Workers workers;
    std::vector<asio::any_io_executor> executors;
    for (int i = 0; i < cfg.workers; ++i) {
        workers.push_back(std::make_unique<asio::io_context>(1));  // run by one thread
        executors.push_back(workers.back()->get_executor());
    }
    app.pool = std::make_unique<Pool>(app.config, std::move(executors));
    auto& ioc = *workers.front();
    tcp::acceptor acceptor(ioc);
    try {
        tcp::endpoint ep(
            asio::ip::make_address(cfg.listen_addr == "localhost" ? "127.0.0.1" : cfg.listen_addr),
            cfg.listen_port);
        acceptor.open(ep.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(ep);
        acceptor.listen(asio::socket_base::max_listen_connections);
    } catch (const std::exception& e) {
        spdlog::critical("cannot listen on {}:{}: {}", cfg.listen_addr, cfg.listen_port, e.what());
        return 1;
    }
    // Said as soon as the port listens: a supervisor (or a test) that sees the port open finds
    // the line in the log.
    spdlog::info(
        "pgtenant listening on {}:{} -> {}:{}/{} as {} (pool size {}, {} worker thread{}, {})",
        cfg.listen_addr, cfg.listen_port, app.config->backend.host, app.config->backend.port,
        app.config->backend.database, app.config->backend.user, app.config->pool.size, cfg.workers,
        cfg.workers == 1 ? "" : "s", io_backend_name());
    app.pool->warm_up();
    if (app.config->tenant.recheck_interval.count() > 0) {
        // A connection opened while the check failed may carry what failed it (a persisted
        // tenant setting as its default): none is reused once it passes again.
        app.recheck = std::make_unique<Recheck>(
            Recheck::backend_runner(*app.config), app.config->tenant.recheck_interval,
            !app.allow_unsafe_database, [pool = app.pool.get()] { pool->retire_all(); });
    }
    // The workers stop only once the accept loop has ended: its pending accept holds a socket
    // of another worker's io_context, which must not be destroyed under it (the io_uring build
    // read freed memory at every SIGTERM when the io_contexts went with the accept pending).
    asio::co_spawn(ioc, accept_loop(app, acceptor, workers), [&workers](std::exception_ptr) {
        for (auto& w : workers) w->stop();
    });

    // SIGHUP: re-read the sealed-mode key file (key rotation without a restart).
    asio::signal_set hangup(ioc, SIGHUP);
    std::function<void()> wait_hangup = [&] {
        hangup.async_wait([&](const error_code& ec, int) {
            if (ec) return;
            if (app.config->tenant.mode == config::TenantMode::sealed) {
                try {
                    app.set_keys(std::make_shared<const auth::KeyRing>(
                        auth::KeyRing::load(app.config->tenant.key_file)));
                    spdlog::info("SIGHUP: key file reloaded; signing with key {}",
                                 app.keys()->active().kid);
                } catch (const std::exception& e) {
                    spdlog::error("SIGHUP: key file not reloaded, keeping the old keys: {}",
                                  e.what());
                }
            }
            wait_hangup();
        });
    };
    wait_hangup();

    // SIGINT/SIGTERM: stop accepting, close the pool, stop.
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const error_code& ec, int sig) {
        if (ec) return;
        auto stats = app.pool->stats();
        spdlog::info(
            "signal {} received: shutting down ({} server connections opened, {} leases by "
            "practice affinity, {} moved between worker threads, {} practice-switch resets, "
            "{} isolation re-checks of which {} failed)",
            sig, stats.opened_total, stats.affinity_hits, stats.moved,
            app.practice_switch_resets.load(), app.recheck ? app.recheck->runs() : 0,
            app.recheck ? app.recheck->failed_runs() : 0);
        error_code ignored;
        acceptor.close(ignored);  // ends the accept loop, which then stops the workers
        hangup.cancel();
        app.pool->close_all();
    });

    // The other workers have nothing to do until a client arrives: keep their run() going.
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
    for (auto& w : workers) keep_running.push_back(asio::make_work_guard(*w));
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < workers.size(); ++i)
        threads.emplace_back([&w = *workers[i]] { w.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
    app.recheck.reset();  // its callback holds the pool
    return 0;
}

}  // namespace pgtenant::proxy
