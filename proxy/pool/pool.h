#pragma once
// One shared pool of server connections for every practice. The pool knows nothing of the
// protocol: it opens connections, hands them out as leases (preferring the practice that used
// one last), takes them back, and makes callers wait, with a deadline, when all are busy.
//
// Each worker thread has its own io_context; a connection's I/O runs on one worker's. The pool
// prefers handing a connection to the worker it already belongs to, so that a transaction never
// wakes the other thread; when only another worker has one idle, the connection moves (its
// socket is re-registered with the caller's io_context). The bookkeeping is PoolLedger
// (ledger.h); this layer adds the mutex, the waiting, the connecting and its backoff.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "proxy/pool/connect_gate.h"
#include "proxy/pool/ledger.h"
#include "proxy/server_connection.h"

namespace pgtenant::proxy {

class Pool;

// Why no connection could be had. The session turns it into the client's error.
struct PoolError {
    enum class Kind {
        wait_timeout,    // every connection stayed busy for pool.wait_timeout
        cannot_connect,  // PostgreSQL could not be reached, or refused the pool role
        shutting_down,
    };
    Kind kind;
    std::string detail;  // cannot_connect: why; wait_timeout: the practice's cap, if it held
    std::chrono::milliseconds waited{0};
};

// A server connection on loan. Going out of scope without release() discards the connection
// (closing it makes the server roll back whatever was open), so no path - error, cancellation,
// a client gone - can keep a connection out of the pool. Use and end it on the thread that
// acquired it.
class Lease {
  public:
    Lease() = default;
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&& other) noexcept {
        if (this != &other) {
            discard();
            pool_ = other.pool_;
            conn_ = std::move(other.conn_);
        }
        return *this;
    }
    ~Lease() { discard(); }

    explicit operator bool() const { return conn_ != nullptr; }
    ServerConnection* operator->() const { return conn_.get(); }
    ServerConnection& operator*() const { return *conn_; }
    ServerConnection* get() const { return conn_.get(); }
    // The connection itself, for code that must keep it alive past the lease (a read under way).
    const std::shared_ptr<ServerConnection>& shared() const { return conn_; }

    // Back to the pool. Only for a connection idle on the server ('I', nothing pending).
    void release();
    // Closes the connection and frees its slot.
    void discard();

  private:
    friend class Pool;
    Lease(Pool* pool, std::shared_ptr<ServerConnection> conn)
        : pool_(pool), conn_(std::move(conn)) {}

    Pool* pool_ = nullptr;
    std::shared_ptr<ServerConnection> conn_;
};

// One server connection as the console's SHOW SERVERS reports it.
struct ServerView {
    uint64_t id = 0;
    int32_t pid = 0;
    int worker = 0;
    bool tls = false;
    bool leased = false;
    std::string practice;  // the practice it serves (leased) or last served (idle)
    std::chrono::system_clock::time_point opened, since;  // since: leased or idle
};

class Pool {
  public:
    // One executor per worker thread (each runs its own io_context on one thread).
    // `cfg` outlives the pool; a reload changes its timeouts and min_idle, not its size.
    Pool(const config::LiveConfig& cfg, std::vector<asio::any_io_executor> workers);

    struct Acquired {
        Lease lease;
        std::optional<PoolError> error;  // set when lease is empty
    };
    // Runs on worker `worker`'s executor; completes within pool.wait_timeout (plus connect
    // time). The connection leased belongs to that worker.
    awaitable<Acquired> acquire(const std::string& practice, int worker);
    // acquire's usual case, without a coroutine: the connection acquire would take first is
    // idle, usable and recently used (no check round trip), and is leased at once. Empty when
    // acquire must be asked (to check, wait or connect).
    Lease acquire_now(const std::string& practice, int worker);

    // Opens pool.min_idle connections in the background, spread over the workers.
    void warm_up();
    // Run on each worker now and then (every second): closes that worker's idle connections
    // past pool.server_lifetime or pool.server_idle_timeout (down to pool.min_idle), and opens
    // connections while fewer than pool.min_idle are open.
    void maintain(int worker);
    // The caps on server connections leased at once, by practice (0: none); see PoolLedger.
    void set_caps(int default_cap, std::unordered_map<std::string, int> per_practice) {
        std::lock_guard lock(mu_);
        ledger_.set_caps(default_cap, std::move(per_practice));
    }
    // Closes the idle connections and wakes every waiter (they get shutting_down). Connections
    // on loan are closed as their leases end.
    void close_all();
    PoolStats stats();
    std::vector<ServerView> servers();
    // Why PostgreSQL cannot be reached, while the last connect attempt failed.
    std::optional<std::string> unreachable() {
        std::lock_guard lock(mu_);
        if (!gate_.down()) return std::nullopt;
        return gate_.last_error();
    }
    // Connections opened before this call are closed instead of reused: idle ones when next
    // taken, leased ones when their lease ends. (After the isolation re-check passes again: a
    // connection opened meanwhile may carry a persisted tenant setting as its default.)
    void retire_all() { ++generation_; }
    // What the server reported at login (server_version, ...), from the first connection
    // opened; empty until one has been.
    std::vector<std::pair<std::string, std::string>> server_params();

  private:
    friend class Lease;
    struct Waiter;
    using Ledger = PoolLedger<ServerConnection, Waiter>;

    void release(std::shared_ptr<ServerConnection> conn);
    void discard(std::shared_ptr<ServerConnection> conn);
    // Opens `count` idle connections in the background on `worker`.
    void open_idle(int worker, int count);
    // Opens a connection in a slot already reserved; null (slot freed) on failure.
    // `practice`: the lease it is for, counted already (attached, or uncounted on failure).
    awaitable<std::shared_ptr<ServerConnection>> open_in_slot(
        int worker, std::string& error, const std::string* practice = nullptr);
    Lease lease_on(std::shared_ptr<ServerConnection> conn, int worker, const std::string& practice);
    // Under mu_: what servers() reports.
    void mark(const ServerConnection& conn, bool leased, const std::string* practice = nullptr);
    void forget(const ServerConnection& conn) { views_.erase(&conn); }
    void wake(const std::shared_ptr<Waiter>& waiter, int from_worker);

    const config::LiveConfig& cfg_;
    std::vector<asio::any_io_executor> executors_;
    std::mutex mu_;
    Ledger ledger_;
    ConnectGate gate_;
    std::vector<std::pair<std::string, std::string>> server_params_;
    std::unordered_map<const ServerConnection*, ServerView> views_;
    std::atomic<uint64_t> generation_{0};
    // Idle for pool.server_check_delay or longer: a round trip before it is leased.
    bool needs_check(const ServerConnection& conn) const {
        return std::chrono::steady_clock::now() - conn.released_at() >=
               cfg_->pool.server_check_delay;
    }
    // Not retired, and not older than pool.server_lifetime: may be used again.
    bool current(const ServerConnection& conn) const {
        const auto lifetime = cfg_->pool.server_lifetime;
        return conn.generation() == generation_ &&
               (lifetime.count() == 0 ||
                std::chrono::steady_clock::now() - conn.opened_at() < lifetime);
    }
};

}  // namespace pgtenant::proxy
