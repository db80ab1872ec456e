#include "proxy/pool/pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace pgtenant::proxy {

struct Pool::Waiter {
    Waiter(const asio::any_io_executor& ex, int worker, std::string practice)
        : timer(ex),
          worker(worker),
          since(std::chrono::steady_clock::now()),
          practice(std::move(practice)) {}
    asio::steady_timer timer;
    int worker;
    std::chrono::steady_clock::time_point since;
    std::string practice;
    uint64_t turn = 0;                       // set by the ledger: fair between practices
    std::shared_ptr<ServerConnection> conn;  // handed over by a release
    bool woken = false;                      // conn set, a slot freed up, or the pool closed
};

void Lease::release() {
    if (!conn_) return;
    if (pool_->current(*conn_)) {
        pool_->release(std::move(conn_));
    } else {
        pool_->discard(std::move(conn_));
    }
}

void Lease::discard() {
    if (conn_) pool_->discard(std::move(conn_));
}

Pool::Pool(const config::LiveConfig& cfg, std::vector<asio::any_io_executor> workers)
    : cfg_(cfg),
      executors_(std::move(workers)),
      ledger_(cfg_->pool.size, static_cast<int>(executors_.size())) {}

Lease Pool::lease_on(std::shared_ptr<ServerConnection> conn, int worker,
                     const std::string& practice) {
    // Under mu_: the ledger counts the move.
    if (ledger_.must_move(*conn, worker)) conn->move_to(worker, executors_[worker]);
    mark(*conn, true, &practice);
    return Lease(this, std::move(conn));
}

void Pool::mark(const ServerConnection& conn, bool leased, const std::string* practice) {
    auto& v = views_[&conn];
    if (v.id == 0) {
        v.id = conn.id();
        v.pid = conn.pid();
        v.tls = conn.tls();
        v.opened = std::chrono::system_clock::now();
    }
    v.worker = conn.worker();
    v.leased = leased;
    if (practice) v.practice = *practice;
    v.since = std::chrono::system_clock::now();
}

awaitable<std::shared_ptr<ServerConnection>> Pool::open_in_slot(int worker, std::string& error,
                                                                const std::string* practice) {
    const uint64_t generation = generation_;
    auto opened = co_await ServerConnection::open(cfg_->backend, worker);
    std::lock_guard lock(mu_);
    if (opened.conn) {
        opened.conn->set_generation(generation);
        gate_.succeeded();
        if (server_params_.empty()) server_params_ = opened.conn->startup_params();
        if (practice) ledger_.attach(*opened.conn, *practice);
        co_return std::move(opened.conn);
    }
    ledger_.slot_freed();
    if (practice) ledger_.uncount_lease(*practice);
    if (auto line = gate_.failed(std::chrono::steady_clock::now(), opened.error))
        spdlog::error("pool: {}", *line);
    // Every client queued for a slot learns at once (from the gate, while PostgreSQL stays
    // down) instead of at its wait_timeout: waking only one left the others queued behind a
    // slot no attempt would fill.
    while (auto waiter = ledger_.hand_over(nullptr, worker, std::chrono::steady_clock::now()))
        wake(waiter, worker);
    error = std::move(opened.error);
    co_return nullptr;
}

Lease Pool::acquire_now(const std::string& practice, int worker) {
    std::lock_guard lock(mu_);
    if (ledger_.closed() || ledger_.at_cap(practice)) return {};
    auto conn = ledger_.take_idle_if(
        practice, worker, [&](const ServerConnection& c) { return current(c) && !needs_check(c); });
    if (!conn) return {};
    if (!conn->idle_check()) {  // dropped by the server while idle: acquire takes another
        forget(*conn);
        ledger_.slot_freed();
        return {};
    }
    ledger_.lease(*conn, practice);
    return lease_on(std::move(conn), worker, practice);
}

awaitable<Pool::Acquired> Pool::acquire(const std::string& practice, int worker) {
    using Clock = std::chrono::steady_clock;
    const auto started = Clock::now();
    const auto deadline = started + cfg_->pool.wait_timeout;
    auto fail = [&](PoolError::Kind kind, std::string detail = {}) {
        return Acquired{{},
                        PoolError{kind, std::move(detail),
                                  std::chrono::duration_cast<std::chrono::milliseconds>(
                                      Clock::now() - started)}};
    };
    std::unique_lock lock(mu_);
    for (;;) {
        if (ledger_.closed()) co_return fail(PoolError::Kind::shutting_down);
        // A practice at its cap (pool.max_practice_server_connections, or its own in the users
        // file) waits for one of its own leases to end, whatever is idle.
        const bool capped = ledger_.at_cap(practice);
        bool look_again = false;
        while (auto conn = capped ? nullptr : ledger_.take_idle(practice, worker)) {
            if (!current(*conn) || !conn->idle_check()) {
                forget(*conn);
                ledger_.slot_freed();  // retired, or dropped by the server while idle: close it
                continue;
            }
            const bool check = needs_check(*conn);
            ledger_.lease(*conn, practice);
            Lease lease = lease_on(std::move(conn), worker, practice);
            if (!check) co_return Acquired{std::move(lease), {}};
            // Idle a while (pool.server_check_delay_ms): a round trip first.
            lock.unlock();
            if (co_await lease->ping(cfg_->backend.connect_timeout))
                co_return Acquired{std::move(lease), {}};
            spdlog::warn(
                "pool: server connection {} (pid {}) did not answer an empty query "
                "after idling; closed",
                lease->id(), lease->pid());
            lease.discard();
            lock.lock();
            look_again = true;  // everything may have changed meanwhile
            break;
        }
        if (look_again) continue;
        if (!capped && ledger_.open() < ledger_.size()) {
            // While PostgreSQL is unreachable, answer at once instead of trying again.
            if (!gate_.may_try(Clock::now()))
                co_return fail(PoolError::Kind::cannot_connect, gate_.last_error());
            ledger_.reserve_slot();
            ledger_.count_lease(practice);
            lock.unlock();
            std::string error;
            auto conn = co_await open_in_slot(worker, error, &practice);
            if (!conn) co_return fail(PoolError::Kind::cannot_connect, std::move(error));
            lock.lock();
            mark(*conn, true, &practice);
            lock.unlock();
            co_return Acquired{Lease(this, std::move(conn)), {}};
        }
        if (Clock::now() >= deadline) {
            std::string detail;
            if (capped) detail = std::to_string(ledger_.cap(practice));
            co_return fail(PoolError::Kind::wait_timeout, std::move(detail));
        }
        auto waiter = std::make_shared<Waiter>(executors_[worker], worker, practice);
        waiter->timer.expires_at(deadline);
        ledger_.add_waiter(waiter);
        lock.unlock();
        co_await waiter->timer.async_wait(use_tuple);
        lock.lock();
        if (waiter->conn)
            co_return Acquired{lease_on(std::move(waiter->conn), worker, practice), {}};
        ledger_.remove_waiter(waiter);
        // Timed out, a slot freed up (no connection handed over), or closed: look again.
    }
}

void Pool::wake(const std::shared_ptr<Waiter>& waiter, int from_worker) {
    if (waiter->worker == from_worker) {
        // Same thread: wake it directly, so the server connection gets its next query with
        // the least delay (an idle server process sleeps, and waking it costs more than
        // the query).
        waiter->timer.cancel();
    } else {
        asio::post(executors_[waiter->worker], [waiter] { waiter->timer.cancel(); });
    }
}

void Pool::release(std::shared_ptr<ServerConnection> conn) {
    std::lock_guard lock(mu_);
    ledger_.end_lease(*conn);
    if (ledger_.closed()) {
        forget(*conn);
        ledger_.slot_freed();
        return;  // the last reference closes it
    }
    const int worker = conn->worker();
    conn->released();
    mark(*conn, false);
    const auto now = std::chrono::steady_clock::now();
    if (auto waiter = ledger_.hand_over(std::move(conn), worker, now)) wake(waiter, worker);
    for (auto& waiter : ledger_.serve_held_back(now)) wake(waiter, worker);
}

void Pool::discard(std::shared_ptr<ServerConnection> conn) {
    // Shut down, not closed: another coroutine may have a read or write under way on it (see
    // ClientStream::close). The server rolls back at once; the descriptor closes with the
    // last reference, when no operation is pending.
    error_code ignored;
    conn->socket().shutdown(tcp::socket::shutdown_both, ignored);
    const int worker = conn->worker();
    std::lock_guard lock(mu_);
    forget(*conn);
    ledger_.end_lease(*conn);
    conn.reset();
    ledger_.slot_freed();
    if (ledger_.closed()) return;
    // The freed slot is what a waiter gets: it opens a connection of its own.
    const auto now = std::chrono::steady_clock::now();
    if (auto waiter = ledger_.hand_over(nullptr, worker, now)) wake(waiter, worker);
    for (auto& waiter : ledger_.serve_held_back(now)) wake(waiter, worker);
}

void Pool::warm_up() {
    const int workers = static_cast<int>(executors_.size());
    for (int w = 0; w < workers; ++w)
        open_idle(w, cfg_->pool.min_idle / workers + (w < cfg_->pool.min_idle % workers ? 1 : 0));
}

void Pool::maintain(int worker) {
    using Clock = std::chrono::steady_clock;
    const auto now = Clock::now();
    const auto& p = cfg_->pool;
    std::vector<std::shared_ptr<ServerConnection>> expired;
    int missing = 0;
    {
        std::lock_guard lock(mu_);
        if (ledger_.closed()) return;
        // Too old: closed even below min_idle (the refill replaces them). Idle too long: down
        // to min_idle.
        auto free_slots = [&](const auto& conns) {
            for (auto& conn : conns) {
                forget(*conn);
                ledger_.slot_freed();
            }
        };
        expired = ledger_.take_expired(worker, 0, [&](const ServerConnection& c) {
            return p.server_lifetime.count() > 0 && now - c.opened_at() > p.server_lifetime;
        });
        free_slots(expired);
        auto idle = ledger_.take_expired(worker, p.min_idle, [&](const ServerConnection& c) {
            return p.server_idle_timeout.count() > 0 &&
                   now - c.released_at() > p.server_idle_timeout;
        });
        free_slots(idle);
        expired.insert(expired.end(), idle.begin(), idle.end());
        // Refilled by worker 0 only, so that two workers do not both fill the same gap.
        if (worker == 0) missing = p.min_idle - ledger_.open();
    }
    for (auto& conn : expired) conn->close();  // on its own worker: this is that thread
    if (missing > 0) open_idle(worker, missing);
}

void Pool::open_idle(int worker, int count) {
    for (int i = 0; i < count; ++i) {
        asio::co_spawn(
            executors_[worker],
            [this, worker]() -> awaitable<void> {
                {
                    std::lock_guard lock(mu_);
                    if (!gate_.may_try(std::chrono::steady_clock::now()) || !ledger_.reserve_slot())
                        co_return;
                }
                std::string error;
                auto conn = co_await open_in_slot(worker, error);
                if (!conn) co_return;
                conn->released();
                std::lock_guard lock(mu_);
                if (ledger_.closed()) {
                    ledger_.slot_freed();
                    co_return;
                }
                mark(*conn, false);
                if (auto waiter = ledger_.hand_over(std::move(conn), worker,
                                                    std::chrono::steady_clock::now()))
                    wake(waiter, worker);
            },
            asio::detached);
    }
}

void Pool::close_all() {
    std::lock_guard lock(mu_);
    auto closed = ledger_.close();
    for (auto& conn : closed.idle) {
        forget(*conn);
        // Closed on its own worker's thread: the socket belongs to that io_context.
        asio::post(executors_[conn->worker()], [conn] { conn->close(); });
    }
    for (auto& waiter : closed.waiters)
        asio::post(executors_[waiter->worker], [waiter] { waiter->timer.cancel(); });
}

std::vector<std::pair<std::string, std::string>> Pool::server_params() {
    std::lock_guard lock(mu_);
    return server_params_;
}

std::vector<ServerView> Pool::servers() {
    std::lock_guard lock(mu_);
    std::vector<ServerView> out;
    out.reserve(views_.size());
    for (auto& [conn, view] : views_) out.push_back(view);
    std::sort(out.begin(), out.end(),
              [](const ServerView& a, const ServerView& b) { return a.id < b.id; });
    return out;
}

PoolStats Pool::stats() {
    std::lock_guard lock(mu_);
    return ledger_.stats();
}

}  // namespace pgtenant::proxy
