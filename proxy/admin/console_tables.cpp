#include "proxy/admin/console_tables.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "protocol/builders.h"

namespace pgtenant::proxy::admin {

namespace {

using Cell = std::optional<std::string>;
constexpr std::string_view kConsole = "pgtenant";

Cell num(auto v) { return std::to_string(v); }
Cell text(std::string_view v) { return std::string(v); }
Cell time_text(std::chrono::system_clock::time_point t) {
    return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC",
                       std::chrono::time_point_cast<std::chrono::seconds>(t));
}

Table make(std::initializer_list<std::pair<const char*, int32_t>> columns) {
    Table t;
    for (auto& [name, type] : columns) t.columns.emplace_back(name, type);
    return t;
}

// The practices' clients (admins are not in a pool).
struct ClientCounts {
    int64_t active = 0, waiting = 0, admins = 0;
    std::chrono::microseconds max_wait{0};
};
ClientCounts count_clients(const Snapshot& s) {
    ClientCounts c;
    for (const auto& client : s.clients) {
        if (client.practice.empty()) {
            ++c.admins;
        } else if (client.state == "waiting") {
            ++c.waiting;
            c.max_wait = std::max(c.max_wait, client.wait);
        } else {
            ++c.active;
        }
    }
    return c;
}

std::string pool_mode(const config::Config& c) {
    return c.pool.default_mode == config::PoolMode::session ? "session" : "transaction";
}

uint64_t per_second(uint64_t from, uint64_t to, double seconds) {
    if (seconds <= 0 || to < from) return 0;
    return static_cast<uint64_t>(static_cast<double>(to - from) / seconds);
}
uint64_t per_event(uint64_t from_us, uint64_t to_us, uint64_t from_n, uint64_t to_n) {
    if (to_n <= from_n || to_us < from_us) return 0;
    return (to_us - from_us) / (to_n - from_n);
}

void totals_cells(std::vector<Cell>& row, const Counters& t) {
    row.push_back(num(t.transactions));
    row.push_back(num(t.queries));
    row.push_back(num(t.bytes_received));
    row.push_back(num(t.bytes_sent));
    row.push_back(num(t.xact_us));
    row.push_back(num(t.query_us));
    row.push_back(num(t.wait.sum_us));
}

void averages_cells(std::vector<Cell>& row, const StatsPeriods::Window& w) {
    const auto &a = w.from, &b = w.to;
    row.push_back(num(per_second(a.transactions, b.transactions, w.seconds)));
    row.push_back(num(per_second(a.queries, b.queries, w.seconds)));
    row.push_back(num(per_second(a.bytes_received, b.bytes_received, w.seconds)));
    row.push_back(num(per_second(a.bytes_sent, b.bytes_sent, w.seconds)));
    row.push_back(num(per_event(a.xact_us, b.xact_us, a.transactions, b.transactions)));
    row.push_back(num(per_event(a.query_us, b.query_us, a.queries, b.queries)));
    row.push_back(num(per_event(a.wait.sum_us, b.wait.sum_us, a.wait.count, b.wait.count)));
}

const std::initializer_list<std::pair<const char*, int32_t>> kTotalsColumns = {
    {"total_xact_count", Table::kInt8}, {"total_query_count", Table::kInt8},
    {"total_received", Table::kInt8},   {"total_sent", Table::kInt8},
    {"total_xact_time", Table::kInt8},  {"total_query_time", Table::kInt8},
    {"total_wait_time", Table::kInt8}};
const std::initializer_list<std::pair<const char*, int32_t>> kAverageColumns = {
    {"avg_xact_count", Table::kInt8}, {"avg_query_count", Table::kInt8},
    {"avg_recv", Table::kInt8},       {"avg_sent", Table::kInt8},
    {"avg_xact_time", Table::kInt8},  {"avg_query_time", Table::kInt8},
    {"avg_wait_time", Table::kInt8}};

Table stats_table(const Snapshot& s, bool totals, bool averages) {
    Table t = make({{"database", Table::kText}});
    if (totals)
        for (auto& c : kTotalsColumns) t.columns.emplace_back(c.first, c.second);
    if (averages)
        for (auto& c : kAverageColumns) t.columns.emplace_back(c.first, c.second);
    std::vector<Cell> row{text(s.config->backend.database)};
    if (totals) totals_cells(row, s.totals);
    if (averages) averages_cells(row, s.window);
    t.rows.push_back(std::move(row));
    std::vector<Cell> console{text(kConsole)};
    console.resize(t.columns.size(), num(0));
    t.rows.push_back(std::move(console));
    return t;
}

// SHOW CLIENTS and SHOW SERVERS share PgBouncer's columns, and add pgtenant's id and practice.
Table connections_table() {
    return make({{"type", Table::kText},
                 {"user", Table::kText},
                 {"database", Table::kText},
                 {"state", Table::kText},
                 {"addr", Table::kText},
                 {"port", Table::kInt8},
                 {"local_addr", Table::kText},
                 {"local_port", Table::kInt8},
                 {"connect_time", Table::kText},
                 {"request_time", Table::kText},
                 {"wait", Table::kInt8},
                 {"wait_us", Table::kInt8},
                 {"close_needed", Table::kInt8},
                 {"ptr", Table::kText},
                 {"link", Table::kText},
                 {"remote_pid", Table::kInt8},
                 {"tls", Table::kText},
                 {"application_name", Table::kText},
                 {"prepared_statements", Table::kInt8},
                 {"id", Table::kInt8},
                 {"practice", Table::kText}});
}

}  // namespace

void encode_table(const Table& t, std::string& out) {
    protocol::build::row_description(out, t.columns);
    for (const auto& row : t.rows) protocol::build::data_row(out, row);
    protocol::build::command_complete(out, "SHOW");
}

Table show_pools(const Snapshot& s) {
    Table t = make({{"database", Table::kText},
                    {"user", Table::kText},
                    {"cl_active", Table::kInt8},
                    {"cl_waiting", Table::kInt8},
                    {"cl_active_cancel_req", Table::kInt8},
                    {"cl_waiting_cancel_req", Table::kInt8},
                    {"sv_active", Table::kInt8},
                    {"sv_active_cancel", Table::kInt8},
                    {"sv_being_canceled", Table::kInt8},
                    {"sv_idle", Table::kInt8},
                    {"sv_used", Table::kInt8},
                    {"sv_tested", Table::kInt8},
                    {"sv_login", Table::kInt8},
                    {"maxwait", Table::kInt8},
                    {"maxwait_us", Table::kInt8},
                    {"pool_mode", Table::kText}});
    const auto c = count_clients(s);
    int64_t leased = 0;
    for (const auto& v : s.servers) leased += v.leased ? 1 : 0;
    const int64_t connecting = std::max<int64_t>(0, s.pool.open - s.pool.idle - leased);
    const auto wait_s = c.max_wait.count() / 1'000'000;
    const auto wait_us = c.max_wait.count() % 1'000'000;
    t.rows.push_back({text(s.config->backend.database), text(s.config->backend.user), num(c.active),
                      num(c.waiting), num(0), num(0), num(leased), num(0), num(0), num(s.pool.idle),
                      num(0), num(0), num(connecting), num(wait_s), num(wait_us),
                      text(pool_mode(*s.config))});
    t.rows.push_back({text(kConsole), text(kConsole), num(c.admins), num(0), num(0), num(0), num(0),
                      num(0), num(0), num(0), num(0), num(0), num(0), num(0), num(0),
                      text("statement")});
    return t;
}

Table show_clients(const Snapshot& s) {
    Table t = connections_table();
    const std::string local = s.config->server.listen_addr;
    for (const auto& c : s.clients) {
        t.rows.push_back({text("C"),
                          text(c.user),
                          text(c.database),
                          text(c.state),
                          text(c.addr),
                          num(c.port),
                          text(local),
                          num(s.config->server.listen_port),
                          time_text(c.connect_time),
                          time_text(c.request_time),
                          num(c.wait.count() / 1'000'000),
                          num(c.wait.count() % 1'000'000),
                          num(0),
                          text(fmt::format("c{}", c.id)),
                          c.server ? text(fmt::format("s{}", c.server)) : Cell{},
                          num(0),
                          text(c.tls ? "TLSv1.3" : ""),
                          text(c.application_name),
                          num(c.prepared_statements),
                          num(c.id),
                          c.practice.empty() ? Cell{} : text(c.practice)});
    }
    return t;
}

Table show_servers(const Snapshot& s) {
    Table t = connections_table();
    std::map<uint64_t, uint64_t> client_of;
    for (const auto& c : s.clients)
        if (c.server) client_of[c.server] = c.id;
    const auto& b = s.config->backend;
    for (const auto& v : s.servers) {
        auto link = client_of.find(v.id);
        t.rows.push_back({text("S"),
                          text(b.user),
                          text(b.database),
                          text(v.leased ? "active" : "idle"),
                          text(b.host),
                          num(b.port),
                          Cell{},
                          Cell{},
                          time_text(v.opened),
                          time_text(v.since),
                          num(0),
                          num(0),
                          num(0),
                          text(fmt::format("s{}", v.id)),
                          link == client_of.end() ? Cell{} : text(fmt::format("c{}", link->second)),
                          num(v.pid),
                          text(v.tls ? "TLS" : ""),
                          text(""),
                          num(0),
                          num(v.id),
                          v.practice.empty() ? Cell{} : text(v.practice)});
    }
    return t;
}

Table show_stats(const Snapshot& s) { return stats_table(s, true, true); }
Table show_stats_totals(const Snapshot& s) { return stats_table(s, true, false); }
Table show_stats_averages(const Snapshot& s) { return stats_table(s, false, true); }

Table show_databases(const Snapshot& s) {
    Table t = make({{"name", Table::kText},
                    {"host", Table::kText},
                    {"port", Table::kInt8},
                    {"database", Table::kText},
                    {"force_user", Table::kText},
                    {"pool_size", Table::kInt8},
                    {"min_pool_size", Table::kInt8},
                    {"reserve_pool", Table::kInt8},
                    {"pool_mode", Table::kText},
                    {"max_connections", Table::kInt8},
                    {"current_connections", Table::kInt8},
                    {"paused", Table::kInt8},
                    {"disabled", Table::kInt8}});
    const auto& c = *s.config;
    t.rows.push_back({text(c.backend.database), text(c.backend.host), num(c.backend.port),
                      text(c.backend.database), text(c.backend.user), num(c.pool.size),
                      num(c.pool.min_idle), num(0), text(pool_mode(c)), num(c.pool.size),
                      num(s.pool.open), num(s.paused_all ? 1 : 0), num(0)});
    t.rows.push_back({text(kConsole), Cell{}, Cell{}, text(kConsole), Cell{}, num(0), num(0),
                      num(0), text("statement"), num(0), num(0), num(0), num(0)});
    return t;
}

Table show_practices(const Snapshot& s) {
    Table t = make({{"practice", Table::kText},
                    {"login_names", Table::kInt8},
                    {"logins", Table::kInt8},
                    {"login_failures", Table::kInt8},
                    {"clients", Table::kInt8},
                    {"active", Table::kInt8},
                    {"waiting", Table::kInt8},
                    {"transactions", Table::kInt8},
                    {"queries", Table::kInt8},
                    {"errors", Table::kInt8},
                    {"refusals", Table::kInt8},
                    {"bytes_received", Table::kInt8},
                    {"bytes_sent", Table::kInt8},
                    {"total_wait_us", Table::kInt8},
                    {"max_wait_us", Table::kInt8},
                    {"practice_switch_resets", Table::kInt8},
                    {"paused", Table::kInt8}});
    // Every practice of the users file, and any other seen since start (a login since removed).
    std::map<std::string, std::pair<std::size_t, Counters>> rows;
    for (const auto& [practice, names] : s.directory) rows[practice].first = names;
    for (const auto& p : s.practices) rows[p.practice].second = p.counters;
    for (const auto& [practice, row] : rows) {
        const Counters& c = row.second;
        const bool paused =
            s.paused_all || std::find(s.paused.begin(), s.paused.end(), practice) != s.paused.end();
        t.rows.push_back({text(practice), num(row.first), num(c.logins), num(c.login_failures),
                          num(c.clients), num(c.active), num(c.waiting), num(c.transactions),
                          num(c.queries), num(c.errors), num(c.refusals), num(c.bytes_received),
                          num(c.bytes_sent), num(c.wait.sum_us), num(c.wait_us_max),
                          num(c.practice_switch_resets), num(paused ? 1 : 0)});
    }
    return t;
}

Table show_config(const Snapshot& s) {
    Table t = make({{"key", Table::kText},
                    {"value", Table::kText},
                    {"default", Table::kText},
                    {"changeable", Table::kText}});
    for (const auto& setting : config::describe(*s.config))
        t.rows.push_back(
            {text(setting.key), text(setting.value), text(setting.default_value), text("no")});
    return t;
}

Table show_lists(const Snapshot& s) {
    Table t = make({{"list", Table::kText}, {"items", Table::kInt8}});
    const auto add = [&](const char* name, int64_t n) { t.rows.push_back({text(name), num(n)}); };
    add("databases", 2);
    add("users", static_cast<int64_t>(s.users));
    add("practices", static_cast<int64_t>(s.directory.size()));
    add("pools", 2);
    add("free_clients", 0);
    add("used_clients", static_cast<int64_t>(s.clients.size()));
    add("login_clients", s.connecting_clients);
    add("free_servers", std::max(0, s.pool.size - s.pool.open));
    add("used_servers", s.pool.open);
    add("dns_names", 0);
    add("dns_zones", 0);
    add("dns_queries", 0);
    add("dns_pending", 0);
    return t;
}

Table show_version(const Snapshot& s) {
    Table t = make({{"version", Table::kText}});
    t.rows.push_back({text("pgtenant " + s.version)});
    return t;
}

Table show_help() {
    Table t = make({{"command", Table::kText}, {"description", Table::kText}});
    const std::pair<const char*, const char*> help[] = {
        {"SHOW POOLS", "clients and server connections of the shared pool"},
        {"SHOW CLIENTS", "every logged-in client"},
        {"SHOW SERVERS", "every server connection"},
        {"SHOW STATS", "totals, and averages over the last 60 s period"},
        {"SHOW STATS_TOTALS", "totals since start"},
        {"SHOW STATS_AVERAGES", "averages over the last 60 s period"},
        {"SHOW DATABASES", "the backend database and the console"},
        {"SHOW PRACTICES", "per practice: logins, clients, traffic, waits, resets"},
        {"SHOW CONFIG", "settings in force, with their defaults"},
        {"SHOW LISTS", "counts of pgtenant's lists"},
        {"SHOW VERSION", "pgtenant's version"},
        {"PAUSE [db | PRACTICE '<uuid>']", "new transactions wait; returns once none is running"},
        {"RESUME [db | PRACTICE '<uuid>']", "ends a PAUSE"},
        {"KILL [db | PRACTICE '<uuid>']", "disconnects the clients (open transactions roll back)"},
        {"RELOAD", "re-reads the users file and the key file (as SIGHUP)"},
        {"SHUTDOWN", "stops pgtenant (as SIGTERM)"},
    };
    for (auto& [command, description] : help) t.rows.push_back({text(command), text(description)});
    return t;
}

}  // namespace pgtenant::proxy::admin
