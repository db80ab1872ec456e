// `pgtenant check`: runs the checks in order and renders the report (text or JSON).
#include <algorithm>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "proxy/check/db.h"
#include "proxy/check/json.h"

namespace pgtenant::proxy {
namespace {

using check_detail::CheckContext;
using check_detail::CheckDb;
using check_detail::Findings;

CheckContext open_context(CheckDb& db, const CheckOptions& options) {
    // A fixed search_path: nothing the pool role created can shadow the catalog functions.
    db.query("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false)");
    auto rows = db.query(
        "SELECT current_user, quote_ident(current_user), rolsuper FROM pg_roles "
        "WHERE rolname = current_user");
    if (rows.empty()) {
        throw std::runtime_error("cannot read pg_roles for the current user");
    }
    CheckContext ctx{db,
                     options,
                     rows[0][0],
                     rows[0][1],
                     check_detail::is_true(rows[0][2]),
                     check_detail::tenant_table_params(options)};
    return ctx;
}

int rank(Severity s) {
    switch (s) {
        case Severity::critical:
            return 0;
        case Severity::warning:
            return 1;
        case Severity::info:
            return 2;
    }
    return 3;
}

std::vector<Finding> sorted(std::vector<Finding> findings) {
    std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
        if (rank(a.severity) != rank(b.severity)) {
            return rank(a.severity) < rank(b.severity);
        }
        if (a.id != b.id) {
            return a.id < b.id;
        }
        return a.object < b.object;
    });
    return findings;
}

}  // namespace

const char* severity_name(Severity severity) {
    switch (severity) {
        case Severity::critical:
            return "critical";
        case Severity::warning:
            return "warning";
        case Severity::info:
            return "info";
    }
    return "unknown";
}

std::vector<Finding> run_checks(const std::string& conninfo, const CheckOptions& options) {
    CheckDb db(conninfo);
    auto ctx = open_context(db, options);
    Findings out;
    check_detail::check_role_attributes(ctx, out);
    check_detail::check_role_membership(ctx, out);
    check_detail::check_role_settings(ctx, out);
    check_detail::check_owned_objects(ctx, out);
    check_detail::check_tenant_table_rls(ctx, out);
    check_detail::check_policies(ctx, out);
    check_detail::check_table_privileges(ctx, out);
    check_detail::check_views(ctx, out);
    check_detail::check_keys(ctx, out);
    check_detail::check_database_privileges(ctx, out);
    check_detail::check_languages(ctx, out);
    check_detail::check_security_definer(ctx, out);
    check_detail::check_dangerous_functions(ctx, out);
    check_detail::check_statistics_exposure(ctx, out);
    check_detail::check_server(ctx, out);
    return sorted(std::move(out));
}

std::vector<Finding> startup_checks(const std::string& conninfo, const CheckOptions& options) {
    auto all = run_checks(conninfo, options);
    std::erase_if(all, [](const Finding& f) { return f.severity != Severity::critical; });
    return all;
}

std::string format_text(const std::vector<Finding>& findings) {
    std::ostringstream out;
    int counts[3] = {0, 0, 0};
    for (const auto& f : sorted(findings)) {
        ++counts[rank(f.severity)];
        out << "[" << severity_name(f.severity) << "] " << f.id << ": " << f.object << "\n"
            << "    " << f.message << "\n";
        if (!f.fix_sql.empty()) {
            out << "    fix:\n";
            std::istringstream lines(f.fix_sql);
            std::string line;
            while (std::getline(lines, line)) {
                out << "      " << line << "\n";
            }
        }
        out << "\n";
    }
    out << counts[0] << " critical, " << counts[1] << " warning, " << counts[2] << " info\n";
    return out.str();
}

std::string format_json(const std::vector<Finding>& findings) {
    std::string out = "{\"findings\":[";
    int counts[3] = {0, 0, 0};
    bool first = true;
    for (const auto& f : sorted(findings)) {
        ++counts[rank(f.severity)];
        out += first ? "\n  {" : ",\n  {";
        first = false;
        out += "\"id\":";
        append_json_string(out, f.id);
        out += ",\"severity\":";
        append_json_string(out, severity_name(f.severity));
        out += ",\"object\":";
        append_json_string(out, f.object);
        out += ",\"message\":";
        append_json_string(out, f.message);
        out += ",\"fix_sql\":";
        append_json_string(out, f.fix_sql);
        out += "}";
    }
    out += first ? "]" : "\n]";
    out += ",\"summary\":{\"critical\":" + std::to_string(counts[0]) +
           ",\"warning\":" + std::to_string(counts[1]) + ",\"info\":" + std::to_string(counts[2]) +
           "}}\n";
    return out;
}

std::string backend_conninfo(const config::Config& cfg) {
    const auto& b = cfg.backend;
    long timeout_s = static_cast<long>((b.connect_timeout.count() + 999) / 1000);
    std::string conninfo = "host=" + check_detail::conninfo_value(b.host) +
                           " port=" + std::to_string(b.port) +
                           " dbname=" + check_detail::conninfo_value(b.database) +
                           " user=" + check_detail::conninfo_value(b.user) +
                           " connect_timeout=" + std::to_string(std::max(2L, timeout_s)) +
                           " application_name=pgtenant-check";
    if (!b.password.empty()) {
        conninfo += " password=" + check_detail::conninfo_value(b.password);
    }
    // The same transport as the pool's connections (libpq's default would be "prefer").
    conninfo += " sslmode=" + std::string(config::to_string(b.sslmode));
    if (!b.sslrootcert.empty())
        conninfo += " sslrootcert=" + check_detail::conninfo_value(b.sslrootcert);
    if (!b.sslcert.empty()) {
        conninfo += " sslcert=" + check_detail::conninfo_value(b.sslcert) +
                    " sslkey=" + check_detail::conninfo_value(b.sslkey);
    }
    return conninfo;
}

int exit_code_for(const std::vector<Finding>& findings) {
    for (const auto& f : findings) {
        if (f.severity == Severity::critical) {
            return 2;
        }
    }
    return 0;
}

CheckOptions check_options(const config::Config& cfg) {
    CheckOptions options;
    options.tenant_setting = cfg.tenant.setting;
    options.tenant_columns = cfg.tenant.key_columns;
    options.sealed = cfg.tenant.mode == config::TenantMode::sealed;
    return options;
}

int check_command(const config::Config& cfg, bool json, std::ostream& out) {
    const CheckOptions options = check_options(cfg);
    std::vector<Finding> findings;
    try {
        findings = run_checks(backend_conninfo(cfg), options);
    } catch (const std::exception& e) {
        if (json) {
            out << "{\"error\":" << json_quoted(e.what()) << "}\n";
        } else {
            out << "pgtenant check: " << e.what() << "\n";
        }
        return 1;
    }
    out << (json ? format_json(findings) : format_text(findings));
    return exit_code_for(findings);
}

}  // namespace pgtenant::proxy
