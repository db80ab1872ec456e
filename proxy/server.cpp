#include "proxy/server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <thread>
#include <vector>

#include "pgtenant_version.h"
#include "protocol/errors.h"
#include "proxy/admin/metrics.h"
#include "proxy/admin/metrics_http.h"
#include "proxy/handover/channel.h"
#include "proxy/handover/handover.h"
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

void start_session(App& app, tcp::socket socket, int worker, asio::io_context& ioc) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto session = std::make_shared<Session>(app, std::move(socket), worker);
    release_cached_frames();  // run's frame lives as long as the session: its own size
    asio::co_spawn(ioc, Session::run(std::move(session)), asio::detached);
}

// The drain begins: the clients already in the listen queue are accepted before the listener
// closes, which would reset their connections (Linux does not move them to another listener on
// the same port). Each is told 57P01 at login, as a client accepted just before.
void take_queued(App& app, tcp::acceptor& acceptor, Workers& workers) {
    error_code ec;
    acceptor.non_blocking(true, ec);
    for (std::size_t taken = 0; !ec && taken < 4096; ++taken) {
        const int worker = static_cast<int>(taken % workers.size());
        auto& ioc = *workers[static_cast<std::size_t>(worker)];
        tcp::socket socket = acceptor.accept(ioc, ec);
        if (!ec) start_session(app, std::move(socket), worker, ioc);
    }
}

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
        start_session(app, std::move(socket), worker, ioc);
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

// RELOAD and SIGHUP: the users file, the sealed-mode key file, the audit log's file (after
// logrotate). Each part that fails keeps what was in force. Returns what happened.
std::string reload(App& app) {
    std::vector<std::string> done;
    try {
        // A file that does not load is refused whole: the configuration in force stays.
        auto next = config::load_config(app.config_path);
        auto reloaded = config::reload_config(*app.config, *next);
        app.config = std::move(reloaded.config);
        spdlog::set_level(spdlog::level::from_str(app.config->server.log_level));
        app.apply_server_caps();
        if (reloaded.needs_restart.empty()) {
            done.push_back("config file reloaded");
        } else {
            done.push_back(
                fmt::format("config file reloaded; these settings change only with a "
                            "restart and keep their values: {}",
                            fmt::join(reloaded.needs_restart, ", ")));
        }
    } catch (const std::exception& e) {
        done.push_back(fmt::format("config file NOT reloaded, the old one stays: {}", e.what()));
    }
    try {
        auto directory = auth::PracticeDirectory::load(app.config->tenant.users_file);
        done.push_back(fmt::format("users file reloaded ({} logins)", directory->size()));
        app.set_directory(std::move(directory));
    } catch (const std::exception& e) {
        done.push_back(fmt::format("users file NOT reloaded, the old one stays: {}", e.what()));
    }
    if (app.config->tenant.mode == config::TenantMode::sealed) {
        try {
            app.set_keys(std::make_shared<const auth::KeyRing>(
                auth::KeyRing::load(app.config->tenant.key_file)));
            done.push_back(
                fmt::format("key file reloaded; signing with key {}", app.keys()->active().kid));
        } catch (const std::exception& e) {
            done.push_back(
                fmt::format("key file NOT reloaded, keeping the old keys: {}", e.what()));
        }
    }
    if (app.audit) {
        if (auto error = app.audit->reopen()) {
            done.push_back("audit log NOT reopened: " + *error);
        } else {
            done.push_back("audit log reopened");
        }
    }
    std::string outcome = fmt::format("{}", fmt::join(done, "; "));
    spdlog::info("reload: {}", outcome);
    app.audit_event({.event = "reload", .detail = outcome});
    return outcome;
}

// On each worker: the client timeouts (Session::enforce_timeouts) as often as a quarter of the
// shortest one set (between 10 ms and 1 s; a reload may change them), the pool's upkeep once a
// second, and while draining (every 20 ms) the end of each client that is between transactions.
awaitable<void> sweep(App& app, int worker) {
    using namespace std::chrono;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto next_upkeep = steady_clock::now();
    uint64_t checked_generation = app.directory_generation;
    bool removed_logins = false;
    for (;;) {
        const auto& s = app.config->server;
        milliseconds shortest = hours(24);
        for (auto t : {s.idle_transaction_timeout, s.query_timeout, s.client_idle_timeout})
            if (t.count() > 0) shortest = std::min(shortest, t);
        const auto every = std::clamp<milliseconds>(shortest / 4, milliseconds(10), seconds(1));
        const bool timeouts = shortest < hours(24);
        timer.expires_after(app.draining ? std::min<milliseconds>(every, milliseconds(20)) : every);
        auto [ec] = co_await timer.async_wait(use_tuple);
        if (ec || app.shutting_down) co_return;
        const auto now = steady_clock::now();
        if (app.draining) {
            if (app.handover) {
                app.registry.for_each(worker,
                                      [](admin::ClientHandle& c) { c.hand_over_if_idle(); });
            } else {
                app.registry.for_each(worker, [](admin::ClientHandle& c) { c.end_if_idle(); });
            }
        }
        // After a reload, every session checks its login once; one whose login is gone keeps
        // being checked until it is between transactions and ends.
        const uint64_t generation = app.directory_generation;
        if (generation != checked_generation || removed_logins) {
            checked_generation = generation;
            const auto directory = app.directory();
            removed_logins = false;
            app.registry.for_each(worker, [&](admin::ClientHandle& c) {
                removed_logins |= c.check_login(*directory);
            });
        }
        if (timeouts) {
            // enforce_timeouts never removes a session from the list (an ending session
            // leaves it later, from its own coroutine).
            app.registry.for_each(worker,
                                  [now](admin::ClientHandle& c) { c.enforce_timeouts(now); });
        }
        if (now >= next_upkeep) {
            app.pool->maintain(worker);
            next_upkeep = now + seconds(1);
        }
    }
}

// Every stats period, the totals SHOW STATS averages over.
awaitable<void> tick_periods(App& app) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        timer.expires_after(admin::StatsPeriods::kPeriod);
        auto [ec] = co_await timer.async_wait(use_tuple);
        if (ec || app.shutting_down) co_return;
        app.periods.tick(app.stats->totals(), std::chrono::steady_clock::now());
    }
}

admin::MetricsInput metrics_input(App& app) {
    admin::MetricsInput in;
    in.version = PGTENANT_VERSION;
    in.pool = app.pool->stats();
    for (const auto& v : app.pool->servers()) in.servers_active += v.leased ? 1 : 0;
    in.admin_clients = app.admin_clients;
    in.unbound = app.stats->unbound().read();
    in.practices = app.stats->practices();
    int64_t logged_in = in.unbound.clients;
    for (const auto& p : in.practices) logged_in += p.counters.clients;
    in.connecting_clients = std::max<int64_t>(0, app.clients - logged_in);
    in.login_failures_by_reason = app.stats->login_failures_by_reason();
    in.refusals_by_rule = app.stats->refusals_by_rule();
    if (app.recheck) {
        in.rechecks = app.recheck->runs();
        in.rechecks_failed = app.recheck->failed_runs();
    }
    in.isolation_gate_closed = app.isolation_gate_closed();
    in.paused = app.pauses.all_paused();
    in.max_practices = app.config->server.metrics_max_practices;
    return in;
}

std::optional<std::string> unhealthy(App& app) {
    if (app.shutting_down) return "shutting down";
    if (app.isolation_gate_closed())
        return "refusing new transactions: the isolation re-check failed";
    if (auto why = app.pool->unreachable()) return "PostgreSQL cannot be reached: " + *why;
    return std::nullopt;
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
    app.workers = executors;
    app.stats = std::make_unique<admin::Stats>(cfg.workers);
    app.parse_aside = std::make_unique<ParseAside>();
    app.registry.resize(cfg.workers);
    app.pool = std::make_unique<Pool>(app.config, std::move(executors));
    app.apply_server_caps();
    if (!app.config->tenant.directory_query.empty())
        app.lookup = std::make_unique<DirectoryLookup>(*app.config);
    auto& ioc = *workers.front();
    tcp::acceptor acceptor(ioc);
    try {
        tcp::endpoint ep(
            asio::ip::make_address(cfg.listen_addr == "localhost" ? "127.0.0.1" : cfg.listen_addr),
            cfg.listen_port);
        acceptor.open(ep.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        if (cfg.so_reuseport) {
            using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
            acceptor.set_option(reuse_port(true));
        }
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
    // The workers stop once every listener's accept loop has ended (see below); all three
    // flags are only touched on worker 0's thread.
    bool accept_ended = false, metrics_ended = cfg.metrics_port == 0, handover_ended = true;
    auto stop_workers = [&workers] {
        for (auto& w : workers) w->stop();
    };
    auto stop_when_done = [&] {
        if (app.shutting_down && accept_ended && metrics_ended && handover_ended) stop_workers();
    };
    std::unique_ptr<admin::MetricsServer> metrics;
    if (cfg.metrics_port != 0) {
        try {
            metrics = std::make_unique<admin::MetricsServer>(
                ioc.get_executor(), cfg.metrics_addr, cfg.metrics_port,
                admin::MetricsHandlers{[&app] { return admin::render_metrics(metrics_input(app)); },
                                       [&app] { return unhealthy(app); }},
                [&] {
                    metrics_ended = true;
                    stop_when_done();
                });
        } catch (const std::exception& e) {
            spdlog::critical("{}", e.what());
            return 1;
        }
        spdlog::info("metrics on http://{}:{}/metrics", cfg.metrics_addr, metrics->port());
    }
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
    asio::co_spawn(ioc, accept_loop(app, acceptor, workers), [&](std::exception_ptr) {
        accept_ended = true;
        stop_when_done();  // draining: the workers stop when the drain ends
    });

    // A binary upgrade (server.handover_socket): take the clients of a pgtenant already
    // there, then wait for a successor of this one.
    std::unique_ptr<handover::Listener> handover_listener;
    std::unique_ptr<handover::Takeover> takeover;
    auto listen_for_successor = [&] {
        if (app.shutting_down) return;
        std::string error;
        const int fd = handover::listen_at(cfg.handover_socket, error);
        if (fd < 0) {
            spdlog::error("handover: {}; a binary upgrade will end this process's clients", error);
            return;
        }
        handover_ended = false;
        handover_listener = std::make_unique<handover::Listener>(app, ioc.get_executor(), fd,
                                                                 cfg.handover_socket, [&] {
                                                                     handover_ended = true;
                                                                     stop_when_done();
                                                                 });
        spdlog::info("handover: a successor can take the clients over on {}", cfg.handover_socket);
    };
    if (!cfg.handover_socket.empty()) {
        std::string error;
        takeover = handover::Takeover::connect(cfg.handover_socket, error);
        if (takeover) {
            spdlog::info("handover: taking the clients over from the pgtenant on {}",
                         cfg.handover_socket);
            takeover->start(app, listen_for_successor);
        } else if (error.empty()) {
            listen_for_successor();
        } else {
            spdlog::error("handover: {}; not listening on it", error);
        }
    }

    asio::co_spawn(ioc, tick_periods(app), asio::detached);
    for (int w = 0; w < cfg.workers; ++w)
        asio::co_spawn(*workers[static_cast<std::size_t>(w)], sweep(app, w), asio::detached);

    // SIGHUP (and the console's RELOAD): re-read the users file and the sealed-mode key file,
    // reopen the audit log.
    app.reload = [&app] { return reload(app); };
    asio::signal_set hangup(ioc, SIGHUP);
    std::function<void()> wait_hangup = [&] {
        hangup.async_wait([&](const error_code& ec, int) {
            if (ec) return;
            app.reload();
            wait_hangup();
        });
    };
    wait_hangup();

    // SIGINT (or the end of a drain): stop accepting, close the pool, stop. Runs on worker 0.
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    app.shutdown = [&] {
        if (app.shutting_down.exchange(true)) return;
        auto stats = app.pool->stats();
        const std::string summary = fmt::format(
            "{} server connections opened, {} leases by practice affinity, {} moved between "
            "worker threads, {} practice-switch resets, {} isolation re-checks of which {} "
            "failed",
            stats.opened_total, stats.affinity_hits, stats.moved, app.practice_switch_resets.load(),
            app.recheck ? app.recheck->runs() : 0, app.recheck ? app.recheck->failed_runs() : 0);
        spdlog::info("shutting down ({})", summary);
        app.audit_event({.event = "shutdown", .detail = summary});
        error_code ignored;
        acceptor.close(ignored);  // ends the accept loop, which then stops the workers
        hangup.cancel();
        signals.cancel();
        if (metrics) metrics->stop();
        if (handover_listener) handover_listener->close();
        if (auto* outbox = app.handover.load()) outbox->close();  // the successor sees the end
        if (takeover) takeover->stop();
        app.pool->close_all();
        stop_when_done();
    };
    // SIGTERM (and the console's SHUTDOWN): drain. No new client or transaction; transactions
    // under way may finish within server.shutdown_timeout_s; clients between transactions are
    // told 57P01 (each worker's sweep); then as SIGINT. With server.so_reuseport a new pgtenant
    // may already listen on the port and take the new clients.
    app.drain = [&] {
        if (app.draining.exchange(true) || app.shutting_down) return;
        const auto timeout = cfg.shutdown_timeout;
        spdlog::info(
            "draining: no new clients or transactions; open transactions may finish "
            "within {} s (server.shutdown_timeout_s)",
            timeout.count());
        app.audit_event({.event = "drain"});
        take_queued(app, acceptor, workers);
        error_code ignored;
        acceptor.close(ignored);
        if (timeout.count() == 0) return app.shutdown();
        asio::co_spawn(
            ioc,
            [&app, timeout]() -> awaitable<void> {
                const auto deadline = std::chrono::steady_clock::now() + timeout;
                asio::steady_timer t(co_await asio::this_coro::executor);
                while (app.clients > 0 && std::chrono::steady_clock::now() < deadline &&
                       !app.shutting_down) {
                    t.expires_after(std::chrono::milliseconds(20));
                    co_await t.async_wait(use_tuple);
                }
                if (app.clients > 0)
                    spdlog::warn("drain: {} client(s) still connected after {} s; closing",
                                 app.clients.load(), timeout.count());
                app.shutdown();
            },
            asio::detached);
    };
    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](const error_code& ec, int sig) {
            if (ec) return;
            spdlog::info("signal {} received", sig);
            if (sig == SIGTERM) {
                app.drain();
                wait_signal();  // a SIGINT may still cut the drain short
            } else {
                app.shutdown();
            }
        });
    };
    wait_signal();
    app.audit_event(
        {.event = "startup",
         .detail = fmt::format("listening on {}:{}", cfg.listen_addr, cfg.listen_port)});

    // The other workers have nothing to do until a client arrives: keep their run() going.
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
    for (auto& w : workers) keep_running.push_back(asio::make_work_guard(*w));
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < workers.size(); ++i)
        threads.emplace_back([&w = *workers[i]] { w.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
    takeover.reset();         // its thread posts to the workers
    app.parse_aside.reset();  // so does this one
    app.handover = nullptr;
    handover_listener.reset();
    app.recheck.reset();  // its callback holds the pool
    app.lookup.reset();   // it posts to the workers' io_contexts
    app.shutdown = nullptr;
    app.drain = nullptr;
    app.reload = nullptr;
    return 0;
}

}  // namespace pgtenant::proxy
