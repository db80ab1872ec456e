#pragma once
// One shared pool of server connections for every practice. The pool knows nothing of the
// protocol: it opens connections, hands them out (preferring the practice that used one last),
// takes them back, and makes callers wait, with a deadline, when all are busy.
//
// Each worker thread has its own io_context; a connection's I/O runs on one worker's. The pool
// keeps the idle connections and waiters per worker and prefers handing a connection to the
// worker it already belongs to, so that a transaction never wakes the other thread. When only
// another worker has one idle, the connection moves (its socket is re-registered with the
// caller's io_context); waiters are served oldest first across workers, give or take
// local_slack().
#include <algorithm>
#include <chrono>
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
    int open = 0;  // connected or connecting
    int idle = 0;
    int waiting = 0;
    uint64_t opened_total = 0;
    uint64_t affinity_hits = 0;
    uint64_t moved = 0;  // connections handed from one worker thread to another
};

class Pool {
  public:
    // One executor per worker thread (each runs its own io_context on one thread).
    Pool(std::shared_ptr<const config::Config> cfg, std::vector<asio::any_io_executor> workers);

    struct Acquired {
        std::shared_ptr<ServerConnection> conn;
        std::optional<protocol::Error> error;  // 53400 timeout or 57P03 cannot connect
    };
    // Runs on worker `worker`'s executor; completes within pool.wait_timeout (plus connect
    // time). The connection returned belongs to that worker.
    awaitable<Acquired> acquire(const std::string& practice, int worker);

    // Both run on the thread that acquired the connection.
    // Back to the pool: only connections that are idle on the server ('I', nothing pending).
    void release(std::shared_ptr<ServerConnection> conn);
    // Close and forget a connection whose state is unknown or bad; frees its slot.
    void discard(std::shared_ptr<ServerConnection> conn);

    // Opens pool.min_idle connections in the background, spread over the workers.
    void warm_up();
    void close_all();
    PoolStats stats();
    // What the server reported at login (server_version, ...), from the first connection
    // opened; empty until one has been.
    std::vector<std::pair<std::string, std::string>> server_params();

    // A waiter on another worker gets a released connection only if it has waited longer
    // than the oldest waiter on the releasing connection's worker by more than this: 5 ms,
    // or a quarter of its wait so far when the queue is long (moving a connection costs two
    // system calls, so a long queue is served nearly in order, mostly without moves).
    static std::chrono::steady_clock::duration local_slack(
        std::chrono::steady_clock::duration waited) {
        return std::max<std::chrono::steady_clock::duration>(std::chrono::milliseconds(5),
                                                             waited / 4);
    }

  private:
    struct Waiter;
    struct Worker {
        asio::any_io_executor executor;
        std::vector<std::shared_ptr<ServerConnection>> idle;  // most recently used at the back
        std::deque<std::shared_ptr<Waiter>> waiters;
    };
    std::shared_ptr<ServerConnection> take_idle_locked(const std::string& practice, int worker);
    std::shared_ptr<ServerConnection> settle(std::shared_ptr<ServerConnection> conn, int worker);
    static Acquired leased(std::shared_ptr<ServerConnection> conn);
    // Hands `conn` (null: a free slot) to the waiter that should have it; false if none waits.
    // Runs on worker `worker`'s thread.
    bool wake_one_locked(std::shared_ptr<ServerConnection>& conn, int worker);
    void opened_locked(const ServerConnection& conn);

    std::shared_ptr<const config::Config> cfg_;
    std::mutex mu_;
    std::vector<Worker> workers_;
    int open_ = 0;
    bool closed_ = false;
    PoolStats totals_;
    std::vector<std::pair<std::string, std::string>> server_params_;
};

}  // namespace pgtenant::proxy
