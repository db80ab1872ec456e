#pragma once
// One shared pool of server connections for every practice. The pool knows nothing of the
// protocol: it opens connections, hands them out (preferring the practice that used one last),
// takes them back, and makes callers wait, with a deadline, when all are busy.
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "protocol/errors.h"
#include "proxy/server_connection.h"

namespace pgtenant::proxy {

struct PoolStats {
    int open = 0;      // connected or connecting
    int idle = 0;
    int waiting = 0;
    uint64_t opened_total = 0;
    uint64_t affinity_hits = 0;
};

class Pool {
public:
    explicit Pool(std::shared_ptr<const config::Config> cfg) : cfg_(std::move(cfg)) {}

    struct Acquired {
        std::shared_ptr<ServerConnection> conn;
        std::optional<protocol::Error> error;  // 53400 timeout or 57P03 cannot connect
    };
    // Runs on the caller's executor; completes within pool.wait_timeout (plus connect time).
    awaitable<Acquired> acquire(const std::string& practice);

    // Back to the pool: only connections that are idle on the server ('I', nothing pending).
    void release(std::shared_ptr<ServerConnection> conn);
    // Close and forget a connection whose state is unknown or bad; frees its slot.
    void discard(std::shared_ptr<ServerConnection> conn);

    // Opens pool.min_idle connections in the background.
    void warm_up(asio::any_io_executor ex);
    void close_all();
    PoolStats stats();
    // What the server reported at login (server_version, ...), from the first connection
    // opened; empty until one has been.
    std::vector<std::pair<std::string, std::string>> server_params();

private:
    struct Waiter;
    std::shared_ptr<ServerConnection> take_idle(const std::string& practice);
    void wake_one_locked(std::shared_ptr<ServerConnection> conn);
    void opened_locked(const ServerConnection& conn);

    std::shared_ptr<const config::Config> cfg_;
    std::mutex mu_;
    std::vector<std::shared_ptr<ServerConnection>> idle_;  // most recently used at the back
    std::deque<std::shared_ptr<Waiter>> waiters_;
    int open_ = 0;
    bool closed_ = false;
    PoolStats totals_;
    std::vector<std::pair<std::string, std::string>> server_params_;
};

}  // namespace pgtenant::proxy
