#pragma once
// `pgtenant check` (DESIGN 3.6): connects to PostgreSQL as the pool role and reports every
// catalog setting that would let one practice read or change another practice's rows, with
// the SQL that fixes it. The proxy runs the critical subset (startup_checks) before serving.
//
// Exit code of check_command:
//   0  no critical finding (warnings and info do not fail the check)
//   1  the check could not run (connection refused, authentication failed, query error)
//   2  at least one critical finding
#include <iosfwd>
#include <string>
#include <vector>

#include "config/config.h"

namespace pgtenant::proxy {

enum class Severity { info, warning, critical };

struct Finding {
    std::string id;  // stable, e.g. "pool_role_bypassrls"
    Severity severity = Severity::info;
    std::string object;   // the offending object, e.g. "public.patients" or "role pgtenant_pool"
    std::string message;  // one sentence a DBA understands
    std::string fix_sql;  // SQL (run as a superuser or the owner) that removes the finding
};

struct CheckOptions {
    // A tenant table has one of these columns, or a policy that reads the tenant context.
    std::vector<std::string> tenant_columns{"practice_id"};
    std::string tenant_setting = "app.current_practice_id";
    bool sealed = false;  // policies must use pgtenant.practice_id() instead of the setting
};

const char* severity_name(Severity severity);

// Every check. Throws std::runtime_error when it cannot connect or a catalog query fails.
std::vector<Finding> run_checks(const std::string& conninfo, const CheckOptions& options);
// The critical findings of run_checks: the proxy refuses to start on any of them, and refuses
// new transactions while the re-check finds one (DESIGN 3.6).
std::vector<Finding> startup_checks(const std::string& conninfo, const CheckOptions& options);

// Sorted by severity (critical first), then id and object.
std::string format_text(const std::vector<Finding>& findings);
// {"findings":[{"id":..,"severity":..,"object":..,"message":..,"fix_sql":..}],
//  "summary":{"critical":n,"warning":n,"info":n}}
std::string format_json(const std::vector<Finding>& findings);

// The options for this configuration: its tenant setting, and sealed or compat mode.
CheckOptions check_options(const config::Config& cfg);
// libpq conninfo for the [backend] section (values quoted for libpq).
std::string backend_conninfo(const config::Config& cfg);
// Runs every check as the pool role and prints the report; see the exit codes above.
int check_command(const config::Config& cfg, bool json, std::ostream& out);
int exit_code_for(const std::vector<Finding>& findings);

}  // namespace pgtenant::proxy
