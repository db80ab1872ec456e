// `pgtenant probe`: logs in through pgtenant as two practices, finds the tenant tables and
// checks what each login sees; the forgery attempts and write checks live beside it.
#include "proxy/check/probe.h"

#include <algorithm>
#include <ostream>
#include <set>

#include "proxy/check/json.h"
#include "proxy/check/policy_expr.h"
#include "proxy/check/probe_detail.h"

namespace pgtenant::proxy {
namespace probe_detail {
namespace {

// The tenant tables (check_detail::kTenantTablesSql, read as the login sees the catalog), with
// their first key column and their policies (lower-cased, for the key-column search below).
std::string discovery_sql() {
    return std::string(R"SQL(
SELECT format('%I.%I', n.nspname, c.relname), coalesce(quote_ident(a.attname), ''),
       CASE WHEN a.attname IS NULL THEN '' ELSE format_type(a.atttypid, a.atttypmod) END,
       lower(coalesce((SELECT string_agg(concat_ws(' and ',
                                           '(' || pg_get_expr(p.polqual, p.polrelid) || ')',
                                           '(' || pg_get_expr(p.polwithcheck, p.polrelid) || ')'),
                                         ' and ')
                       FROM pg_policy p WHERE p.polrelid = c.oid), '')),
       has_table_privilege(c.oid, 'SELECT'), c.oid::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (SELECT attname, atttypid, atttypmod FROM pg_attribute
                   WHERE attrelid = c.oid AND attname = ANY ($1::text[]) AND attnum > 0
                     AND NOT attisdropped
                   ORDER BY array_position($1::text[], attname::text) LIMIT 1) a ON true
WHERE c.oid IN ()SQL") +
           check_detail::kTenantTablesSql + ") ORDER BY 1";
}

constexpr const char* kColumnsSql =
    "SELECT lower(attname), quote_ident(attname), format_type(atttypid, atttypmod) "
    "FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped";

// For a table without the tenant column: the column its policies compare with the tenant
// context (e.g. practices.id), as {quoted name, type}; empty when none is found.
std::pair<std::string, std::string> key_from_policy(CheckDb& db, const std::string& oid,
                                                    const std::string& policies,
                                                    const CheckOptions& tenant) {
    auto columns = db.query(kColumnsSql, {oid});
    for (const auto& name : check_detail::context_columns(policies, tenant.tenant_setting)) {
        for (const auto& c : columns) {
            if (c[0] == name) return {c[1], c[2]};
        }
    }
    return {};
}

std::vector<TenantTable> discover_tables(CheckDb& db, const CheckOptions& tenant) {
    auto rows = db.query(discovery_sql(), check_detail::tenant_table_params(tenant));
    std::vector<TenantTable> tables;
    for (const auto& r : rows) {
        TenantTable t;
        t.name = r[0];
        t.key = r[1];
        t.key_type = r[2];
        if (t.key.empty()) std::tie(t.key, t.key_type) = key_from_policy(db, r[5], r[3], tenant);
        t.readable = check_detail::is_true(r[4]);
        tables.push_back(std::move(t));
    }
    return tables;
}

// The practice pgtenant binds for this login, read through the login itself.
std::string bound_practice(CheckDb& db, const ProbeOptions& options, const std::string& login) {
    auto r = options.tenant.sealed ? db.try_query("SELECT pgtenant.practice_id()::text")
                                   : db.try_query("SELECT current_setting($1, true)",
                                                  {options.tenant.tenant_setting});
    if (!r.ok) {
        throw ProbeError("login " + login +
                         ": cannot read the practice pgtenant binds: " + r.message);
    }
    if (r.rows.empty() || r.rows[0][0].empty()) {
        throw ProbeError("login " + login + ": pgtenant bound no practice (" +
                         (options.tenant.sealed ? std::string("pgtenant.practice_id() is NULL: "
                                                              "is the signing key installed?")
                                                : options.tenant.tenant_setting + " is empty") +
                         ")");
    }
    return r.rows[0][0];
}

std::string rows_text(long n) { return std::to_string(n) + (n == 1 ? " row" : " rows"); }

ProbeCheck visibility_check(const TenantTable& t, const Tenant& self, const Visible& v) {
    ProbeCheck c{"visibility", "own_rows_only", self.login->name, t.name};
    if (!t.readable) {
        c.outcome = ProbeOutcome::skipped;
        c.detail = "The login may not SELECT from this table.";
    } else if (t.key.empty()) {
        c.outcome = ProbeOutcome::skipped;
        c.detail =
            "Neither the tenant column nor a column its policies compare with the tenant "
            "context was found, so whose rows these are cannot be told.";
    } else if (!v.ok) {
        c.outcome = ProbeOutcome::inconclusive;
        c.sqlstate = v.sqlstate;
        c.detail = "Reading the table failed: " + v.error;
    } else if (v.foreign_rows > 0) {
        c.outcome = ProbeOutcome::leak;
        c.detail = "The login sees " + std::to_string(v.foreign_rows) + " of " + rows_text(v.rows) +
                   " belonging to other practices (" + t.key + ": " + join(v.foreign_keys) + ").";
    } else {
        c.detail = "The login sees " + rows_text(v.rows) + ", all of its own practice";
        c.detail +=
            v.null_rows ? " (" + std::to_string(v.null_rows) + " with NULL " + t.key + ")." : ".";
    }
    return c;
}

ProbeCheck disjoint_check(const TenantTable& t, const Visible& a, const Visible& b) {
    ProbeCheck c{"disjoint", "logins_disjoint", "", t.name};
    if (!a.ok || !b.ok) {
        c.outcome = ProbeOutcome::skipped;
        c.detail = "Not compared: a login could not read the table.";
        return c;
    }
    std::set<std::string> seen_by_a(a.keys.begin(), a.keys.end());
    std::vector<std::string> both;
    for (const auto& k : b.keys) {
        if (seen_by_a.count(k)) both.push_back(k);
    }
    if (!both.empty()) {
        c.outcome = ProbeOutcome::leak;
        c.detail = "Both logins see rows with " + t.key + " " + join(both) + ".";
    } else {
        c.detail = "The two logins see no row with the same " + t.key + ".";
    }
    return c;
}

// Tables whose rows cannot be told apart by practice (no key found) are compared whole: at
// most this many rows per login.
constexpr long kMaxUnkeyedRows = 10000;

struct RowHashes {
    bool ok = false;
    bool truncated = false;
    std::string error;
    std::set<std::string> hashes;  // md5 of each visible row's text
};

RowHashes row_hashes(CheckDb& db, const TenantTable& t) {
    RowHashes h;
    QueryOutcome r = db.try_query("SELECT md5(probe_row::text) FROM " + t.name +
                                  " probe_row LIMIT " + std::to_string(kMaxUnkeyedRows + 1));
    h.ok = r.ok;
    h.error = r.sqlstate + ": " + r.message;
    h.truncated = static_cast<long>(r.rows.size()) > kMaxUnkeyedRows;
    for (const auto& row : r.rows) h.hashes.insert(row[0]);
    return h;
}

// Without a key, identical rows seen by both logins may be shared data or a leak: reported
// as inconclusive, never as a leak.
ProbeCheck unkeyed_disjoint_check(const TenantTable& t, const RowHashes& a, const RowHashes& b) {
    ProbeCheck c{"disjoint", "identical_rows", "", t.name};
    if (!a.ok || !b.ok || a.truncated || b.truncated) {
        c.outcome = ProbeOutcome::skipped;
        c.detail =
            !a.ok || !b.ok
                ? "Not compared: reading the table failed (" + (a.ok ? b.error : a.error) + ")."
                : "Not compared: more than " + std::to_string(kMaxUnkeyedRows) + " rows visible.";
        return c;
    }
    long both = 0;
    for (const auto& h : b.hashes) both += a.hashes.count(h);
    if (both > 0) {
        c.outcome = ProbeOutcome::inconclusive;
        c.detail = "No tenant key found; both logins see " + rows_text(both) +
                   " identical: rows shared on purpose, or a leak. Read the table's policies.";
    } else {
        c.detail = "No tenant key found; the two logins see no identical row.";
    }
    return c;
}

void run_visibility(ProbeRun& run, CheckDb& db_a, CheckDb& db_b) {
    for (const auto& t : run.tables) {
        const bool comparable = t.readable && !t.key.empty();
        const Visible a = comparable ? visible_rows(db_a, t, run.a.practice, false) : Visible{};
        const Visible b = comparable ? visible_rows(db_b, t, run.b.practice, false) : Visible{};
        for (auto [tenant, seen] : {std::pair{&run.a, &a}, std::pair{&run.b, &b}}) {
            run.out.push_back(visibility_check(t, *tenant, *seen));
            if (seen->foreign_rows > 0) tenant->leaking_without_attempt.insert(t.name);
        }
        if (comparable) run.out.push_back(disjoint_check(t, a, b));
        if (t.readable && t.key.empty()) {
            run.out.push_back(unkeyed_disjoint_check(t, row_hashes(db_a, t), row_hashes(db_b, t)));
        }
    }
}

}  // namespace

std::string sql_literal(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        out += c;
        if (c == '\'') out += '\'';
    }
    return out + "'";
}

std::string login_conninfo(const ProbeOptions& options, const ProbeLogin& login,
                           const std::string& extra) {
    using check_detail::conninfo_value;
    std::string conninfo =
        "host=" + conninfo_value(options.host) + " port=" + std::to_string(options.port) +
        " dbname=" + conninfo_value(options.dbname) + " user=" + conninfo_value(login.name) +
        " password=" + conninfo_value(login.password) +
        " connect_timeout=" + std::to_string(options.connect_timeout_s) +
        " application_name=pgtenant-probe";
    return extra.empty() ? conninfo : conninfo + " " + extra;
}

std::unique_ptr<CheckDb> connect_login(const ProbeOptions& options, const ProbeLogin& login,
                                       const std::string& extra) {
    return std::make_unique<CheckDb>(login_conninfo(options, login, extra));
}

namespace {

// In a transaction the query runs inside a savepoint, so that its failure leaves the
// transaction (and whatever the attempt set in it) usable.
QueryOutcome guarded_query(CheckDb& db, const std::string& sql, const std::string& param,
                           bool in_transaction) {
    if (in_transaction) db.try_query("SAVEPOINT pgtenant_probe");
    QueryOutcome r = db.try_query(sql, {param});
    if (in_transaction) {
        db.try_query(r.ok ? "RELEASE SAVEPOINT pgtenant_probe"
                          : "ROLLBACK TO SAVEPOINT pgtenant_probe");
    }
    return r;
}

}  // namespace

Visible visible_rows(CheckDb& db, const TenantTable& table, const std::string& own,
                     bool in_transaction) {
    const std::string& k = table.key;
    const std::string sql = "SELECT (" + k + ")::text, count(*), coalesce(" + k +
                            " = $1::" + table.key_type + ", false), " + k + " IS NULL FROM " +
                            table.name + " GROUP BY " + k;
    QueryOutcome r = guarded_query(db, sql, own, in_transaction);
    Visible v;
    v.ok = r.ok;
    v.sqlstate = r.sqlstate;
    v.error = r.message;
    for (const auto& row : r.rows) {
        const long n = std::stol(row[1]);
        v.rows += n;
        if (check_detail::is_true(row[3])) {
            v.null_rows += n;
            continue;
        }
        v.keys.push_back(row[0]);
        if (!check_detail::is_true(row[2])) {
            v.foreign_rows += n;
            v.foreign_keys.push_back(row[0]);
        }
    }
    return v;
}

LeakScan scan_for_leaks(CheckDb& db, const std::vector<TenantTable>& tables, const std::string& own,
                        bool in_transaction) {
    LeakScan scan;
    for (const auto& t : tables) {
        if (!t.readable || t.key.empty()) continue;
        // Stops at the first row of another practice; with an index on the key, the isolated
        // case reads only the login's own rows.
        QueryOutcome r = guarded_query(db,
                                       "SELECT EXISTS (SELECT 1 FROM " + t.name + " WHERE " +
                                           t.key + " <> $1::" + t.key_type + ")",
                                       own, in_transaction);
        if (r.ok && !r.rows.empty() && check_detail::is_true(r.rows[0][0])) {
            scan.leaking.push_back(t.name);
        }
        if (!r.ok) {
            scan.failed.push_back(t.name);
            if (scan.first_error.empty()) scan.first_error = r.sqlstate + ": " + r.message;
        }
    }
    return scan;
}

std::string join(const std::vector<std::string>& items, std::size_t max_items) {
    std::string out;
    for (std::size_t i = 0; i < items.size() && i < max_items; ++i) {
        out += (i ? ", " : "") + items[i];
    }
    if (items.size() > max_items) out += ", ...";
    return out;
}

}  // namespace probe_detail

ProbeReport run_probe(const ProbeOptions& options) {
    using namespace probe_detail;
    if (options.a.name.empty() || options.b.name.empty()) {
        throw ProbeError(
            "two logins are needed (PGTENANT_PROBE_LOGIN_A and _B, or --login-a "
            "and --login-b)");
    }
    std::unique_ptr<CheckDb> db_a, db_b;
    for (auto [db, login] : {std::pair{&db_a, &options.a}, std::pair{&db_b, &options.b}}) {
        try {
            *db = connect_login(options, *login);
        } catch (const check_detail::ConnectError& e) {
            throw ProbeError("login " + login->name + " cannot log in through pgtenant at " +
                             options.host + ":" + std::to_string(options.port) + ": " + e.reason() +
                             (e.sqlstate().empty() ? "" : " (SQLSTATE " + e.sqlstate() + ")"));
        }
    }
    ProbeReport report;
    report.mode = options.tenant.sealed ? "sealed" : "compat";
    ProbeRun run{options, {}, {&options.a, ""}, {&options.b, ""}, report.checks};
    run.a.practice = bound_practice(*db_a, options, options.a.name);
    run.b.practice = bound_practice(*db_b, options, options.b.name);
    if (run.a.practice == run.b.practice) {
        throw ProbeError("logins " + options.a.name + " and " + options.b.name +
                         " belong to the same practice; the probe needs two practices");
    }
    report.logins = {{options.a.name, run.a.practice}, {options.b.name, run.b.practice}};
    run.tables = discover_tables(*db_a, options.tenant);
    for (const auto& t : run.tables) report.tables.push_back(t.name);
    run_visibility(run, *db_a, *db_b);
    run_forgery_attempts(run, run.a, run.b);
    run_forgery_attempts(run, run.b, run.a);
    if (options.write_checks) {
        run_write_checks(run, run.a, run.b);
        run_write_checks(run, run.b, run.a);
    }
    return report;
}

ProbeOptions probe_options(const config::Config& cfg) {
    ProbeOptions o;
    o.host = cfg.server.listen_addr;
    if (o.host.empty() || o.host == "0.0.0.0" || o.host == "*") o.host = "127.0.0.1";
    if (o.host == "::") o.host = "::1";
    o.port = cfg.server.listen_port;
    o.dbname = cfg.backend.database;
    o.tenant = check_options(cfg);
    return o;
}

int probe_command(const ProbeOptions& options, bool json, std::ostream& out) {
    ProbeReport report;
    try {
        report = run_probe(options);
    } catch (const std::exception& e) {
        if (json) {
            out << "{\"error\":" << json_quoted(e.what()) << "}\n";
        } else {
            out << "pgtenant probe: " << e.what() << "\n";
        }
        return 1;
    }
    out << (json ? format_probe_json(report) : format_probe_text(report));
    return probe_exit_code(report);
}

}  // namespace pgtenant::proxy
