#include "proxy/pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "proxy/io.h"

namespace pgtenant::proxy {

namespace errors = protocol::errors;

struct Pool::Waiter {
    Waiter(const asio::any_io_executor& ex, int worker)
        : timer(ex), worker(worker), since(std::chrono::steady_clock::now()) {}
    asio::steady_timer timer;
    int worker;
    std::chrono::steady_clock::time_point since;
    std::shared_ptr<ServerConnection> conn;  // handed over by release()
    bool woken = false;                      // conn set, or a slot freed up
};

Pool::Pool(std::shared_ptr<const config::Config> cfg, std::vector<asio::any_io_executor> workers)
    : cfg_(std::move(cfg)) {
    for (auto& ex : workers) workers_.push_back(Worker{std::move(ex), {}, {}});
}

std::shared_ptr<ServerConnection> Pool::take_idle_locked(const std::string& practice, int worker) {
    // Prefer a connection that served this practice last (no reset needed), on this worker,
    // then on another; then any on this worker, then any at all. Newest first.
    auto take = [&](Worker& w, bool same_practice) -> std::shared_ptr<ServerConnection> {
        auto it = std::find_if(w.idle.rbegin(), w.idle.rend(), [&](const auto& c) {
            return !same_practice || c->last_practice() == practice;
        });
        if (it == w.idle.rend()) return nullptr;
        auto conn = std::move(*it);
        w.idle.erase(std::next(it).base());
        if (same_practice) ++totals_.affinity_hits;
        return conn;
    };
    auto& own = workers_[worker];
    for (bool same_practice : {true, false}) {
        if (auto conn = take(own, same_practice)) return conn;
        for (auto& w : workers_) {
            if (&w == &own) continue;
            if (auto conn = take(w, same_practice)) return conn;
        }
    }
    return nullptr;
}

std::shared_ptr<ServerConnection> Pool::settle(std::shared_ptr<ServerConnection> conn, int worker) {
    if (conn->worker() != worker) {
        conn->move_to(worker, workers_[worker].executor);
        ++totals_.moved;
    }
    return conn;
}

awaitable<Pool::Acquired> Pool::acquire(const std::string& practice, int worker) {
    const auto deadline = std::chrono::steady_clock::now() + cfg_->pool.wait_timeout;
    std::unique_lock lock(mu_);
    for (;;) {
        if (closed_) co_return Acquired{nullptr, errors::shutting_down()};
        while (auto conn = take_idle_locked(practice, worker)) {
            if (conn->idle_check()) co_return leased(settle(std::move(conn), worker));
            --open_;  // the server dropped it while idle; close it and look again
        }
        if (open_ < cfg_->pool.size) {
            ++open_;
            ++totals_.opened_total;
            lock.unlock();
            auto opened = co_await ServerConnection::open(cfg_->backend, worker);
            lock.lock();
            if (opened.conn) {
                opened_locked(*opened.conn);
                co_return leased(std::move(opened.conn));
            }
            spdlog::error("pool: {}", opened.error);
            --open_;
            co_return Acquired{nullptr, errors::cannot_connect_now(opened.error)};
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            co_return Acquired{nullptr, errors::pool_wait_timeout(cfg_->pool.wait_timeout.count())};
        }
        auto waiter = std::make_shared<Waiter>(workers_[worker].executor, worker);
        waiter->timer.expires_at(deadline);
        workers_[worker].waiters.push_back(waiter);
        lock.unlock();
        co_await waiter->timer.async_wait(use_tuple);
        lock.lock();
        if (waiter->conn) co_return leased(settle(std::move(waiter->conn), worker));
        if (!waiter->woken) std::erase(workers_[worker].waiters, waiter);
        // Timed out, or a slot freed up (no connection handed over): look again.
    }
}

bool Pool::wake_one_locked(std::shared_ptr<ServerConnection>& conn, int worker) {
    Worker* oldest = nullptr;
    for (auto& w : workers_) {
        if (!w.waiters.empty() &&
            (!oldest || w.waiters.front()->since < oldest->waiters.front()->since))
            oldest = &w;
    }
    if (!oldest) return false;
    auto& own = workers_[worker];
    const auto oldest_since = oldest->waiters.front()->since;
    const auto slack = local_slack(std::chrono::steady_clock::now() - oldest_since);
    auto& from =
        !own.waiters.empty() && own.waiters.front()->since <= oldest_since + slack ? own : *oldest;
    auto waiter = std::move(from.waiters.front());
    from.waiters.pop_front();
    waiter->conn = std::move(conn);
    waiter->woken = true;
    if (waiter->worker == worker) {
        // Same thread: wake it directly, so the server connection gets its next query with
        // the least delay (an idle server process sleeps, and waking it costs more than
        // the query).
        waiter->timer.cancel();
    } else {
        asio::post(workers_[waiter->worker].executor, [waiter] { waiter->timer.cancel(); });
    }
    return true;
}

Pool::Acquired Pool::leased(std::shared_ptr<ServerConnection> conn) {
    count_lease(+1);
    return Acquired{std::move(conn), std::nullopt};
}

void Pool::release(std::shared_ptr<ServerConnection> conn) {
    count_lease(-1);
    std::lock_guard lock(mu_);
    if (closed_) {
        --open_;
        return;
    }
    const int worker = conn->worker();
    if (wake_one_locked(conn, worker)) return;
    conn->released();
    workers_[worker].idle.push_back(std::move(conn));
}

void Pool::discard(std::shared_ptr<ServerConnection> conn) {
    count_lease(-1);
    error_code ignored;
    conn->socket().close(ignored);
    const int worker = conn->worker();
    conn.reset();  // the slot is what a waiter gets
    std::lock_guard lock(mu_);
    --open_;
    if (!closed_) wake_one_locked(conn, worker);
}

void Pool::warm_up() {
    for (int i = 0; i < cfg_->pool.min_idle; ++i) {
        const int worker = i % static_cast<int>(workers_.size());
        asio::co_spawn(
            workers_[worker].executor,
            [this, worker]() -> awaitable<void> {
                {
                    std::lock_guard lock(mu_);
                    if (open_ >= cfg_->pool.size) co_return;
                    ++open_;
                    ++totals_.opened_total;
                }
                auto opened = co_await ServerConnection::open(cfg_->backend, worker);
                std::lock_guard lock(mu_);
                if (!opened.conn) {
                    --open_;
                    spdlog::warn("pool: warm-up connection failed: {}", opened.error);
                    co_return;
                }
                opened_locked(*opened.conn);
                if (!wake_one_locked(opened.conn, worker))
                    workers_[worker].idle.push_back(std::move(opened.conn));
            },
            asio::detached);
    }
}

void Pool::close_all() {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& w : workers_) {
        open_ -= static_cast<int>(w.idle.size());
        w.idle.clear();
        for (auto& waiter : w.waiters) {
            waiter->woken = true;
            asio::post(w.executor, [waiter] { waiter->timer.cancel(); });
        }
        w.waiters.clear();
    }
}

void Pool::opened_locked(const ServerConnection& conn) {
    if (server_params_.empty()) server_params_ = conn.startup_params();
}

std::vector<std::pair<std::string, std::string>> Pool::server_params() {
    std::lock_guard lock(mu_);
    return server_params_;
}

PoolStats Pool::stats() {
    std::lock_guard lock(mu_);
    PoolStats s = totals_;
    s.open = open_;
    for (const auto& w : workers_) {
        s.idle += static_cast<int>(w.idle.size());
        s.waiting += static_cast<int>(w.waiters.size());
    }
    return s;
}

}  // namespace pgtenant::proxy
