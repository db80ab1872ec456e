#include "proxy/pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace pgtenant::proxy {

namespace errors = protocol::errors;

struct Pool::Waiter {
    explicit Waiter(asio::any_io_executor ex) : executor(ex), timer(ex) {}
    asio::any_io_executor executor;
    asio::steady_timer timer;
    std::shared_ptr<ServerConnection> conn;  // handed over by release()
};

std::shared_ptr<ServerConnection> Pool::take_idle(const std::string& practice) {
    if (idle_.empty()) return nullptr;
    // Prefer the newest connection that served this practice last: no reset needed there.
    auto it = std::find_if(idle_.rbegin(), idle_.rend(),
                           [&](const auto& c) { return c->last_practice() == practice; });
    std::size_t index = idle_.size() - 1;
    if (it != idle_.rend()) {
        index = static_cast<std::size_t>(std::distance(it, idle_.rend()) - 1);
        ++totals_.affinity_hits;
    }
    auto conn = std::move(idle_[index]);
    idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(index));
    return conn;
}

awaitable<Pool::Acquired> Pool::acquire(const std::string& practice) {
    auto ex = co_await asio::this_coro::executor;
    const auto deadline = std::chrono::steady_clock::now() + cfg_->pool.wait_timeout;
    std::unique_lock lock(mu_);
    for (;;) {
        if (closed_) co_return Acquired{nullptr, errors::shutting_down()};
        while (auto conn = take_idle(practice)) {
            if (conn->idle_check()) co_return Acquired{std::move(conn), std::nullopt};
            --open_;  // the server dropped it while idle; close it and look again
        }
        if (open_ < cfg_->pool.size) {
            ++open_;
            ++totals_.opened_total;
            lock.unlock();
            auto opened = co_await ServerConnection::open(cfg_->backend);
            lock.lock();
            if (opened.conn) {
                opened_locked(*opened.conn);
                co_return Acquired{std::move(opened.conn), std::nullopt};
            }
            spdlog::error("pool: {}", opened.error);
            --open_;
            co_return Acquired{nullptr, errors::cannot_connect_now(opened.error)};
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            co_return Acquired{nullptr, errors::pool_wait_timeout(cfg_->pool.wait_timeout.count())};
        }
        auto waiter = std::make_shared<Waiter>(ex);
        waiter->timer.expires_at(deadline);
        waiters_.push_back(waiter);
        lock.unlock();
        co_await waiter->timer.async_wait(use_tuple);
        lock.lock();
        if (waiter->conn) co_return Acquired{std::move(waiter->conn), std::nullopt};
        std::erase(waiters_, waiter);
        // Timed out, or a slot freed up (no connection handed over): look again.
    }
}

void Pool::wake_one_locked(std::shared_ptr<ServerConnection> conn) {
    auto waiter = std::move(waiters_.front());
    waiters_.pop_front();
    waiter->conn = std::move(conn);  // null: a slot freed up, the waiter may open one
    asio::post(waiter->executor, [waiter] { waiter->timer.cancel(); });
}

void Pool::release(std::shared_ptr<ServerConnection> conn) {
    std::lock_guard lock(mu_);
    if (closed_) {
        --open_;
        return;
    }
    if (!waiters_.empty()) return wake_one_locked(std::move(conn));
    conn->released();
    idle_.push_back(std::move(conn));
}

void Pool::discard(std::shared_ptr<ServerConnection> conn) {
    error_code ignored;
    conn->socket().close(ignored);
    std::lock_guard lock(mu_);
    --open_;
    if (!waiters_.empty() && !closed_) wake_one_locked(nullptr);
}

void Pool::warm_up(asio::any_io_executor ex) {
    for (int i = 0; i < cfg_->pool.min_idle; ++i) {
        asio::co_spawn(
            ex,
            [this]() -> awaitable<void> {
                {
                    std::lock_guard lock(mu_);
                    if (open_ >= cfg_->pool.size) co_return;
                    ++open_;
                    ++totals_.opened_total;
                }
                auto opened = co_await ServerConnection::open(cfg_->backend);
                std::lock_guard lock(mu_);
                if (!opened.conn) {
                    --open_;
                    spdlog::warn("pool: warm-up connection failed: {}", opened.error);
                    co_return;
                }
                opened_locked(*opened.conn);
                if (!waiters_.empty()) {
                    wake_one_locked(std::move(opened.conn));
                } else {
                    idle_.push_back(std::move(opened.conn));
                }
            },
            asio::detached);
    }
}

void Pool::close_all() {
    std::lock_guard lock(mu_);
    closed_ = true;
    open_ -= static_cast<int>(idle_.size());
    idle_.clear();
    for (auto& w : waiters_) asio::post(w->executor, [w] { w->timer.cancel(); });
    waiters_.clear();
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
    s.idle = static_cast<int>(idle_.size());
    s.waiting = static_cast<int>(waiters_.size());
    return s;
}

}  // namespace pgtenant::proxy
