#pragma once
// Internals of `pgtenant probe` shared by probe*.cpp: the logins with their practices, the
// tenant tables, and what one login sees in one table.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "proxy/check/db.h"
#include "proxy/check/probe.h"

namespace pgtenant::proxy::probe_detail {

using check_detail::CheckDb;
using check_detail::QueryOutcome;

struct TenantTable {
    std::string name;       // schema-qualified, quoted as needed
    std::string key;        // quoted column holding the practice; "" when unknown
    std::string key_type;   // format_type of that column
    bool readable = false;  // the login may SELECT (writes are tried regardless)
};

// A login and the practice pgtenant binds for it (learned through the login itself).
struct Tenant {
    const ProbeLogin* login = nullptr;
    std::string practice;
    // Tables where the login sees other practices' rows before any forgery attempt: an
    // attempt is only blamed for what it adds.
    std::set<std::string> leaking_without_attempt;
};

// What one login sees in one table.
struct Visible {
    bool ok = false;
    std::string sqlstate, error;            // when the query failed
    long rows = 0;                          // every visible row
    long foreign_rows = 0;                  // rows whose key is another practice's
    long null_rows = 0;                     // rows whose key is NULL
    std::vector<std::string> keys;          // distinct non-NULL keys seen
    std::vector<std::string> foreign_keys;  // those that are not the login's practice
};

struct ProbeRun {
    const ProbeOptions& options;
    std::vector<TenantTable> tables;
    Tenant a, b;
    std::vector<ProbeCheck>& out;
};

// libpq conninfo for a login through pgtenant; `extra` is appended (e.g. "options=...").
std::string login_conninfo(const ProbeOptions& options, const ProbeLogin& login,
                           const std::string& extra = "");
// Throws check_detail::ConnectError when the login fails.
std::unique_ptr<CheckDb> connect_login(const ProbeOptions& options, const ProbeLogin& login,
                                       const std::string& extra = "");

// `own` is the login's practice. In a transaction (`in_transaction`) the query runs inside a
// savepoint so a failure does not abort the transaction.
Visible visible_rows(CheckDb& db, const TenantTable& table, const std::string& own,
                     bool in_transaction);
// Every table with a known key, read again: where the login sees another practice's rows,
// and where reading failed (e.g. a policy that fails closed).
struct LeakScan {
    std::vector<std::string> leaking;
    std::vector<std::string> failed;
    std::string first_error;  // "SQLSTATE: message" of the first failure
};
LeakScan scan_for_leaks(CheckDb& db, const std::vector<TenantTable>& tables, const std::string& own,
                        bool in_transaction);
// "a, b, c" (at most max_items, then "...").
std::string join(const std::vector<std::string>& items, std::size_t max_items = 5);

// The verdict on a forgery attempt from the scan that followed it: leak when the login sees
// other practices' rows in a table that did not leak before; otherwise refused (when
// `refused`, with `refusal` as the reason) or no_effect.
void judge_attempt(ProbeCheck& c, const Tenant& self, bool refused, const std::string& refusal,
                   const LeakScan& scan);

// SQL string literal.
std::string sql_literal(const std::string& s);

// probe_attempts.cpp: the forgery attempts, run as `self` with `other`'s practice as bait.
void run_forgery_attempts(ProbeRun& run, const Tenant& self, const Tenant& other);
// probe_writes.cpp: writes into the other practice's rows, always rolled back.
void run_write_checks(ProbeRun& run, const Tenant& self, const Tenant& other);

// probe_startup.cpp: sends a StartupMessage with these parameters (plain TCP) and returns
// the first reply: an ErrorResponse's SQLSTATE and message, or ok = true when pgtenant went
// on to authentication (it accepted the parameters).
struct StartupReply {
    bool answered = false;  // false: no reply (connection failed, timeout); see error
    bool accepted = false;  // the server asked for authentication
    std::string sqlstate;
    std::string error;
};
StartupReply raw_startup(const std::string& host, uint16_t port,
                         const std::vector<std::pair<std::string, std::string>>& params,
                         int timeout_s);

}  // namespace pgtenant::proxy::probe_detail
