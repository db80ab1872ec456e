#pragma once
// Everything a client session shares with the others: configuration, the practice directory,
// the pool, cancel routing, the statement classifier and the TLS context.
#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "auth/context_token.h"
#include "auth/directory.h"
#include "config/config.h"
#include "protocol/guard/guard.h"
#include "proxy/admin/audit.h"
#include "proxy/admin/clients.h"
#include "proxy/admin/pauses.h"
#include "proxy/admin/stats.h"
#include "proxy/asio.h"
#include "proxy/cancel.h"
#include "proxy/check/recheck.h"
#include "proxy/directory_lookup.h"
#include "proxy/parse_aside.h"
#include "proxy/pool/pool.h"
#include "proxy/practice_limits.h"

namespace pgtenant::proxy {

namespace handover {
class Outbox;
}

struct App {
    // Replaced by RELOAD or SIGHUP as far as it can change while running (config::reload_config).
    config::LiveConfig config;
    std::string config_path;  // the file to read again on reload
    // Replaced whole by RELOAD or SIGHUP; read with directory().
    std::shared_ptr<const auth::PracticeDirectory> directory() const {
        return std::atomic_load(&directory_);
    }
    void set_directory(std::shared_ptr<const auth::PracticeDirectory> d) {
        std::atomic_store(&directory_, std::move(d));
        ++directory_generation;
        apply_server_caps();
    }
    // The pool's per-practice caps, from the configuration and the directory.
    void apply_server_caps() {
        if (pool)
            pool->set_caps(config->pool.max_practice_server_connections,
                           practice_server_caps(*directory()));
    }
    std::atomic<uint64_t> directory_generation{0};  // bumped by every set_directory
    // Logins not in the users file (tenant.directory_query); null when none is configured.
    std::unique_ptr<DirectoryLookup> lookup;
    std::shared_ptr<const auth::PracticeDirectory> directory_;
    std::unique_ptr<Pool> pool;
    CancelRegistry cancels;
    protocol::guard::StatementGuard guard;
    // Long statement texts are parsed there, off the workers' event loops (run_server makes it).
    std::unique_ptr<ParseAside> parse_aside;
    std::unique_ptr<asio::ssl::context> tls;  // null when no certificate is configured
    // Sealed mode's signing keys; replaced whole on SIGHUP (key rotation).
    std::shared_ptr<const auth::KeyRing> keys() const { return std::atomic_load(&keys_); }
    void set_keys(std::shared_ptr<const auth::KeyRing> k) {
        std::atomic_store(&keys_, std::move(k));
    }
    std::shared_ptr<const auth::KeyRing> keys_;
    std::atomic<int> clients{0};
    PracticeClients practice_clients;  // against each practice's client cap
    // Bytes of client messages over a receive buffer's size that are still arriving, against
    // server.message_memory_bytes.
    std::atomic<std::size_t> message_memory{0};
    std::atomic<uint64_t> next_session{1};
    std::atomic<uint64_t> practice_switch_resets{0};
    // The isolation re-check; null when tenant.recheck_interval_s is 0. While it is closed,
    // sessions refuse new transactions.
    std::unique_ptr<Recheck> recheck;    // started by run_server, once the pool exists
    bool allow_unsafe_database = false;  // --allow-unsafe-database: the re-check only logs
    bool isolation_gate_closed() const { return recheck && recheck->closed(); }

    // --- operating (proxy/admin) ---
    std::vector<asio::any_io_executor> workers;  // one per worker thread
    std::unique_ptr<admin::Stats> stats;         // made with the workers
    admin::StatsPeriods periods;                 // ticked by run_server
    admin::ClientRegistry registry;
    admin::Pauses pauses;
    std::unique_ptr<admin::AuditLog> audit;  // null when audit.file is empty
    std::atomic<int> admin_clients{0};
    std::atomic<bool> shutting_down{false};  // closing now: SIGINT, or the drain is over
    std::atomic<bool> draining{false};       // SIGTERM: open transactions may still finish
    // Set while draining into a successor (server.handover_socket): clients move to it.
    std::atomic<handover::Outbox*> handover{nullptr};
    // Set by run_server: SIGINT's (at once), SIGTERM's and SHUTDOWN's (drain first), and
    // RELOAD's and SIGHUP's (which returns what it did, for the log and the console).
    std::function<void()> shutdown;
    std::function<void()> drain;
    std::function<std::string()> reload;
    void audit_event(const admin::AuditEvent& e) const {
        if (audit) audit->write(e);
    }
};

}  // namespace pgtenant::proxy
