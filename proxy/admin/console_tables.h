#pragma once
// The console's SHOW results, built from a snapshot of pgtenant's state (pure; no I/O).
// Column names follow PgBouncer's where the concept is the same, so that existing scripts and
// exporters read them.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "proxy/admin/clients.h"
#include "proxy/admin/stats.h"
#include "proxy/pool/ledger.h"
#include "proxy/pool/pool.h"

namespace pgtenant::proxy::admin {

struct Table {
    static constexpr int32_t kText = 25;  // type OIDs
    static constexpr int32_t kInt8 = 20;
    std::vector<std::pair<std::string, int32_t>> columns;
    std::vector<std::vector<std::optional<std::string>>> rows;
};

// RowDescription, the DataRows and CommandComplete "SHOW".
void encode_table(const Table& t, std::string& out);

// What SHOW reads, gathered by the console.
struct Snapshot {
    const config::Config* config = nullptr;
    std::string version;
    PoolStats pool;
    std::vector<ServerView> servers;
    std::vector<ClientInfo> clients;  // every logged-in client, admins included
    std::vector<Stats::PracticeRow> practices;
    std::vector<std::pair<std::string, std::size_t>> directory;  // practice, its login names
    std::size_t users = 0;                                       // logins in the users file
    Counters totals;  // every practice (admins have no traffic)
    StatsPeriods::Window window;
    bool paused_all = false;
    std::vector<std::string> paused;  // practices
    int connecting_clients = 0;       // not logged in yet
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

Table show_pools(const Snapshot& s);
Table show_clients(const Snapshot& s);
Table show_servers(const Snapshot& s);
Table show_stats(const Snapshot& s);  // totals and averages
Table show_stats_totals(const Snapshot& s);
Table show_stats_averages(const Snapshot& s);
Table show_databases(const Snapshot& s);
Table show_practices(const Snapshot& s);
Table show_config(const Snapshot& s);
Table show_lists(const Snapshot& s);
Table show_version(const Snapshot& s);
Table show_help();

}  // namespace pgtenant::proxy::admin
