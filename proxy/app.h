#pragma once
// Everything a client session shares with the others: configuration, the practice directory,
// the pool, cancel routing, the statement classifier and the TLS context.
#include <atomic>
#include <memory>

#include "auth/context_token.h"
#include "auth/directory.h"
#include "config/config.h"
#include "protocol/guard/guard.h"
#include "proxy/asio.h"
#include "proxy/cancel.h"
#include "proxy/check/recheck.h"
#include "proxy/pool/pool.h"

namespace pgtenant::proxy {

struct App {
    std::shared_ptr<const config::Config> config;
    std::shared_ptr<const auth::PracticeDirectory> directory;
    std::unique_ptr<Pool> pool;
    CancelRegistry cancels;
    protocol::guard::StatementGuard guard;
    std::unique_ptr<asio::ssl::context> tls;  // null when no certificate is configured
    // Sealed mode's signing keys; replaced whole on SIGHUP (key rotation).
    std::shared_ptr<const auth::KeyRing> keys() const { return std::atomic_load(&keys_); }
    void set_keys(std::shared_ptr<const auth::KeyRing> k) {
        std::atomic_store(&keys_, std::move(k));
    }
    std::shared_ptr<const auth::KeyRing> keys_;
    std::atomic<int> clients{0};
    // Bytes of client messages over a receive buffer's size that are still arriving, against
    // server.message_memory_bytes.
    std::atomic<std::size_t> message_memory{0};
    std::atomic<uint64_t> next_session{1};
    std::atomic<uint64_t> practice_switch_resets{0};
    // The isolation re-check; null when tenant.recheck_interval_s is 0. While it is closed,
    // sessions refuse new transactions.
    std::unique_ptr<Recheck> recheck;  // started by run_server, once the pool exists
    bool allow_unsafe_database = false;  // --allow-unsafe-database: the re-check only logs
    bool isolation_gate_closed() const { return recheck && recheck->closed(); }
};

}  // namespace pgtenant::proxy
