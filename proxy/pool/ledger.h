#pragma once
// The pool's bookkeeping, without sockets, timers or threads: how many connections are open,
// which are idle on which worker thread, who waits for one, and who gets a connection that comes
// back. The async layer (pool.h) holds its mutex around every call and does the waiting and the
// I/O; this part is plain code, unit-tested on its own (tests/proxy/pool_ledger_test.cpp).
//
// `Conn` needs `int worker() const` and `const std::string& last_practice() const`.
// `Waiter` needs the fields `int worker`, `time_point since`, `std::string practice`,
// `uint64_t turn`, `std::shared_ptr<Conn> conn` and `bool woken`; the async layer's waiter adds
// its timer.
//
// Practice caps: a practice may have at most cap(practice) connections leased at once (0: no
// cap). A practice at its cap takes no idle connection and no slot, and its waiters are passed
// over until one of its leases ends; the other practices never wait for it.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace pgtenant::proxy {

struct PoolStats {
    int size = 0;  // pool.size: the most connections open at once
    int open = 0;  // connected or connecting
    int idle = 0;
    int waiting = 0;
    uint64_t opened_total = 0;  // slots taken for a connection (each a connection attempt)
    uint64_t closed_total = 0;  // slots freed: connections closed, or attempts that failed
    uint64_t affinity_hits = 0;
    uint64_t moved = 0;  // connections handed from one worker thread to another
};

template <typename Conn, typename Waiter>
class PoolLedger {
  public:
    using Clock = std::chrono::steady_clock;
    using ConnPtr = std::shared_ptr<Conn>;
    using WaiterPtr = std::shared_ptr<Waiter>;

    PoolLedger(int size, int workers) : size_(size), workers_(static_cast<std::size_t>(workers)) {}

    int size() const { return size_; }
    int open() const { return open_; }
    bool closed() const { return closed_; }

    // The caps: `per_practice` overrides `default_cap` (0 = no cap).
    void set_caps(int default_cap, std::unordered_map<std::string, int> per_practice) {
        default_cap_ = default_cap;
        caps_ = std::move(per_practice);
        if (!capped()) {
            in_use_.clear();
            leased_.clear();
        }
    }
    int cap(const std::string& practice) const {
        auto it = caps_.find(practice);
        return it != caps_.end() ? it->second : default_cap_;
    }
    bool capped() const { return default_cap_ > 0 || !caps_.empty(); }
    bool at_cap(const std::string& practice) const {
        if (!capped()) return false;
        const int c = cap(practice);
        if (c <= 0) return false;
        auto it = in_use_.find(practice);
        return it != in_use_.end() && it->second >= c;
    }
    int in_use(const std::string& practice) const {
        auto it = in_use_.find(practice);
        return it == in_use_.end() ? 0 : it->second;
    }
    // `conn` is leased to `practice` (counted against its cap until end_lease). Leases are
    // counted only while some cap is set: without caps the pool allocates nothing per lease.
    // (Caps set by a reload count the leases made from then on.)
    void lease(const Conn& conn, const std::string& practice) {
        if (!capped()) return;
        count_lease(practice);
        attach(conn, practice);
    }
    // A lease counted before its connection exists (a slot being connected): attach() the
    // connection once open, or uncount_lease() if it could not be.
    void count_lease(const std::string& practice) {
        if (capped()) ++in_use_[practice];
    }
    void attach(const Conn& conn, const std::string& practice) {
        if (capped()) leased_[&conn] = practice;
    }
    void uncount_lease(const std::string& practice) {
        auto use = in_use_.find(practice);
        if (use != in_use_.end() && --use->second == 0) in_use_.erase(use);
    }
    // A leased connection came back or was closed; nothing for one that was not leased.
    void end_lease(const Conn& conn) {
        if (leased_.empty()) return;
        auto it = leased_.find(&conn);
        if (it == leased_.end()) return;
        uncount_lease(it->second);
        leased_.erase(it);
    }

    // An idle connection for `practice` on `worker`: one that served this practice last (no
    // reset needed) on this worker, then on another; then any on this worker, then any at all.
    // Newest first. Null if none is idle.
    ConnPtr take_idle(const std::string& practice, int worker) {
        return take_idle_if(practice, worker, [](const Conn&) { return true; });
    }
    // take_idle's connection if `usable` accepts it; otherwise null, and it stays idle.
    template <typename Usable>
    ConnPtr take_idle_if(const std::string& practice, int worker, Usable usable) {
        const Found f = find_idle(practice, worker);
        if (!f.list || !usable(**f.at)) return nullptr;
        auto conn = std::move(*f.at);
        f.list->erase(f.at);
        if (f.same_practice) ++stats_.affinity_hits;
        return conn;
    }

    // Claims a slot for a new connection; false when pool.size are open (or the pool closed).
    bool reserve_slot() {
        if (closed_ || open_ >= size_) return false;
        ++open_;
        ++stats_.opened_total;
        return true;
    }
    // A connection (or a reserved slot whose connect failed) is gone.
    void slot_freed() {
        --open_;
        ++stats_.closed_total;
    }

    // Takes off `worker`'s idle list the connections `expired(conn)` says must go, oldest used
    // first, keeping at least `keep_open` connections open in all. The caller closes them and
    // frees their slots.
    template <typename Expired>
    std::vector<ConnPtr> take_expired(int worker, int keep_open, Expired expired) {
        std::vector<ConnPtr> out;
        auto& idle = workers_[static_cast<std::size_t>(worker)].idle;
        for (auto it = idle.begin(); it != idle.end();) {
            if (open_ - static_cast<int>(out.size()) <= keep_open) break;
            if (expired(**it)) {
                out.push_back(std::move(*it));
                it = idle.erase(it);
            } else {
                ++it;
            }
        }
        return out;
    }

    // Counts a connection that is about to move to another worker thread.
    bool must_move(const Conn& conn, int worker) {
        if (conn.worker() == worker) return false;
        ++stats_.moved;
        return true;
    }

    // Queues a waiter for `w->practice`. Fair between practices: each waiter gets a turn
    // number, one past the later of the last turn served and its practice's last turn, and the
    // lowest turn is served first. A practice with 200 clients waiting holds 200 turns in a row
    // while a practice with one waiting client gets the next turn: the quiet practice waits for
    // about one transaction, not for the whole queue.
    void add_waiter(WaiterPtr w) {
        auto& last = last_turn_[w->practice];
        last = std::max(last, served_turn_) + 1;
        w->turn = last;
        auto& q = workers_[static_cast<std::size_t>(w->worker)].waiters;
        q.push_back(std::move(w));
        std::push_heap(q.begin(), q.end(), later);
    }
    // A waiter that gives up (deadline, cancellation); nothing if it was already woken.
    void remove_waiter(const WaiterPtr& w) {
        if (w->woken) return;
        auto& q = workers_[static_cast<std::size_t>(w->worker)].waiters;
        std::erase(q, w);
        std::make_heap(q.begin(), q.end(), later);
    }

    // A connection came back (null: a slot freed up) on `worker`'s thread. Gives it to the
    // waiter that should have it and returns that waiter (the caller wakes it); null when
    // nobody waits, and then a connection goes on the idle list (marked with `now` by the caller).
    // The lowest turn across workers is served (oldest first among equal turns), give or take
    // local_slack(): the releasing worker's next waiter goes first when its turn is at most
    // kTurnSlack later and it has waited no less than local_slack() less.
    // Waiters of a practice at its cap are passed over. A connection handed over is leased to
    // the waiter's practice at once, so that nobody else takes that practice past its cap
    // before the waiter runs.
    WaiterPtr hand_over(ConnPtr conn, int worker, Clock::time_point now) {
        Worker* best = nullptr;
        std::size_t best_at = 0;
        for (auto& w : workers_) {
            const std::size_t at = first_eligible(w);
            if (at < w.waiters.size() && (!best || later(best->waiters[best_at], w.waiters[at]))) {
                best = &w;
                best_at = at;
            }
        }
        if (!best) {
            if (conn)
                workers_[static_cast<std::size_t>(conn->worker())].idle.push_back(std::move(conn));
            return nullptr;
        }
        auto& own = workers_[static_cast<std::size_t>(worker)];
        const std::size_t own_at = first_eligible(own);
        const auto& first = *best->waiters[best_at];
        const bool own_first =
            own_at < own.waiters.size() && own.waiters[own_at]->turn <= first.turn + kTurnSlack &&
            own.waiters[own_at]->since <= first.since + local_slack(now - first.since);
        auto waiter = own_first ? take_waiter(own, own_at) : take_waiter(*best, best_at);
        served_turn_ = std::max(served_turn_, waiter->turn);
        if (conn) lease(*conn, waiter->practice);
        waiter->conn = std::move(conn);
        waiter->woken = true;
        return waiter;
    }

    // After a lease ended (a practice may have dropped below its cap): the waiters that may now
    // have an idle connection or a free slot, each woken (with the connection, or none to open
    // one). Only when caps hold waiters back while connections are idle or slots free.
    std::vector<WaiterPtr> serve_held_back(Clock::time_point now) {
        std::vector<WaiterPtr> out;
        if (!capped()) return out;
        int free_slots = size_ - open_;
        for (;;) {
            ConnPtr conn;
            for (auto& w : workers_) {
                if (!w.idle.empty()) {
                    conn = std::move(w.idle.back());
                    w.idle.pop_back();
                    break;
                }
            }
            if (!conn && free_slots <= 0) break;
            const bool slot = !conn;
            const int worker = conn ? conn->worker() : 0;
            auto waiter = hand_over(std::move(conn), worker, now);
            if (!waiter) break;  // (the connection went back on its idle list)
            if (slot) --free_slots;
            out.push_back(std::move(waiter));
        }
        return out;
    }

    // Closes the books: no more slots or idle connections. Returns the idle connections (to
    // close) and the waiters (to wake, each marked woken, with no connection).
    struct Closed {
        std::vector<ConnPtr> idle;
        std::vector<WaiterPtr> waiters;
    };
    Closed close() {
        Closed out;
        closed_ = true;
        for (auto& w : workers_) {
            open_ -= static_cast<int>(w.idle.size());
            for (auto& c : w.idle) out.idle.push_back(std::move(c));
            w.idle.clear();
            for (auto& waiter : w.waiters) {
                waiter->woken = true;
                out.waiters.push_back(std::move(waiter));
            }
            w.waiters.clear();
        }
        return out;
    }

    PoolStats stats() const {
        PoolStats s = stats_;
        s.size = size_;
        s.open = open_;
        for (const auto& w : workers_) {
            s.idle += static_cast<int>(w.idle.size());
            s.waiting += static_cast<int>(w.waiters.size());
        }
        return s;
    }

    // How much longer than the oldest waiter on the releasing worker a waiter elsewhere must
    // have waited to be served first: 5 ms, or a quarter of its wait so far when the queue is
    // long (moving a connection costs two system calls, so a long queue is served nearly in
    // order, mostly without moves).
    static Clock::duration local_slack(Clock::duration waited) {
        return std::max<Clock::duration>(std::chrono::milliseconds(5), waited / 4);
    }

  private:
    struct Worker;
    // The index in w.waiters of the waiter to serve first whose practice is below its cap
    // (the heap's top unless caps hold it back); w.waiters.size() when none.
    std::size_t first_eligible(const Worker& w) const {
        if (w.waiters.empty() || !at_cap(w.waiters.front()->practice)) return 0;
        std::size_t best = w.waiters.size();
        for (std::size_t i = 1; i < w.waiters.size(); ++i) {
            if (at_cap(w.waiters[i]->practice)) continue;
            if (best == w.waiters.size() || later(w.waiters[best], w.waiters[i])) best = i;
        }
        return best;
    }
    WaiterPtr take_waiter(Worker& w, std::size_t at) {
        auto& q = w.waiters;
        if (at == 0) {
            std::pop_heap(q.begin(), q.end(), later);
            auto waiter = std::move(q.back());
            q.pop_back();
            return waiter;
        }
        auto waiter = std::move(q[at]);
        q.erase(q.begin() + static_cast<std::ptrdiff_t>(at));
        std::make_heap(q.begin(), q.end(), later);
        return waiter;
    }

    struct Worker {
        std::vector<ConnPtr> idle;       // most recently used at the back
        std::vector<WaiterPtr> waiters;  // a heap: the lowest turn (then the oldest) on top
    };
    static constexpr uint64_t kTurnSlack = 2;
    // Heap order: true when `a` is served after `b`.
    static bool later(const WaiterPtr& a, const WaiterPtr& b) {
        return a->turn != b->turn ? a->turn > b->turn : a->since > b->since;
    }

    // Where take_idle's connection is: `list` null when none is idle.
    struct Found {
        std::vector<ConnPtr>* list = nullptr;
        typename std::vector<ConnPtr>::iterator at;
        bool same_practice = false;
    };
    Found find_idle(const std::string& practice, int worker) {
        auto& own = workers_[static_cast<std::size_t>(worker)];
        for (bool same_practice : {true, false}) {
            if (auto f = find_in(own, practice, same_practice); f.list) return f;
            for (auto& w : workers_) {
                if (&w == &own) continue;
                if (auto f = find_in(w, practice, same_practice); f.list) return f;
            }
        }
        return {};
    }
    // Newest first.
    static Found find_in(Worker& w, const std::string& practice, bool same_practice) {
        auto it = std::find_if(w.idle.rbegin(), w.idle.rend(), [&](const auto& c) {
            return !same_practice || c->last_practice() == practice;
        });
        if (it == w.idle.rend()) return {};
        return {&w.idle, std::next(it).base(), same_practice};
    }

    int default_cap_ = 0;
    std::unordered_map<std::string, int> caps_;            // by practice
    std::unordered_map<std::string, int> in_use_;          // leased connections by practice
    std::unordered_map<const Conn*, std::string> leased_;  // each lease's practice
    uint64_t served_turn_ = 0;                             // the highest turn served so far
    std::unordered_map<std::string, uint64_t> last_turn_;  // by practice
    int size_;
    int open_ = 0;
    bool closed_ = false;
    std::vector<Worker> workers_;
    PoolStats stats_;
};

}  // namespace pgtenant::proxy
