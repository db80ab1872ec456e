#include "protocol/guard/judge.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>

namespace pgtenant::protocol::guard {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
    return out;
}

// --- one function per rule: the refusal, or nothing ---

std::optional<Error> reserved_setting(const Facts& f, const Policy& p) {
    for (const auto& name : f.settings.names) {
        if (!is_reserved_setting(name, p.tenant_setting)) continue;
        return errors::refused_by_policy(
            errors::Rule{"reserved_setting"},
            fmt::format("the setting \"{}\" is reserved; the practice comes only from the login",
                        name));
    }
    return std::nullopt;
}

std::optional<Error> role_defaults(const Facts& f, const Policy&) {
    if (!f.settings.alters_defaults) return std::nullopt;
    return errors::refused_by_policy(
        errors::Rule{"alter_defaults"},
        "ALTER ROLE / ALTER DATABASE ... SET changes the defaults of every practice's sessions");
}

std::optional<Error> computed_setting_name(const Facts& f, const Policy&) {
    if (!f.settings.computed_name) return std::nullopt;
    return errors::refused_by_policy(
        errors::Rule{"computed_setting_name"},
        "set_config() with a setting name that is not a string constant cannot be checked",
        "Write the setting name as a literal, e.g. set_config('search_path', $1, false).");
}

std::optional<Error> explain_analyze(const Facts& f, const Policy& p) {
    if (!f.explain_analyze || p.allow_explain_analyze) return std::nullopt;
    // Row-level security filters rows after the scan: the plan's "Rows Removed by Filter" tells
    // whether another practice has a row matching the condition.
    return errors::refused_by_policy(
        errors::Rule{"explain_analyze"},
        "EXPLAIN ANALYZE is not allowed for practice logins: its row counts include rows of "
        "other practices that row-level security hides",
        "Use plain EXPLAIN, or ask an administrator to set tenant.allow_explain_analyze = true.");
}

std::optional<Error> maintenance_statement(const Facts& f, const Policy& p) {
    if (!f.not_in_pipeline || p.allow_maintenance) return std::nullopt;
    return errors::refused_by_policy(
        errors::Rule{"maintenance_statement"},
        fmt::format("{} is a maintenance command that practice logins may not run", f.command),
        "An administrator can run it directly on the database, or set "
        "tenant.allow_maintenance = true.");
}

// SQL-level PREPARE / EXECUTE / DEALLOCATE in transaction pooling: pgtenant keeps the
// client's statements as it keeps protocol-level ones, each alone in a simple query.
void sql_prepared(std::string_view sql, const Policy& p, Verdict& v) {
    const Facts& f = v.facts;
    const bool prepare = !f.prepare_name.empty();
    if (p.simple_query && (prepare || !f.execute_name.empty())) {
        // The name's place in the text, where its server name goes (sql_prepared.cpp).
        v.sql_prepared_name = statement_name_after(sql, prepare ? "prepare" : "execute");
        if (!v.sql_prepared_name) {
            v.refusal = errors::not_supported_in_pooling(
                errors::Rule{"unicode_statement_name"},
                "a prepared statement name written as U&\"...\" is not served",
                "Write the name plainly or in double quotes.");
        }
        return;
    }
    v.refusal = errors::not_supported_in_pooling(
        errors::Rule{"sql_prepared"},
        "SQL-level PREPARE, EXECUTE and DEALLOCATE are carried across server connections only "
        "each alone in a simple query (not in a multi-statement query, the extended protocol, "
        "EXPLAIN or CREATE TABLE AS)",
        "Send each in a query of its own, use protocol-level prepared statements (PQprepare, "
        "your driver's server-side prepare), or a login with pool_mode = \"session\".");
}

}  // namespace

Error refuse_fast_path() {
    // set_config among the functions it reaches; drivers use it only for large objects.
    return errors::refused_by_policy(errors::Rule{"fast_path"},
                                     "the fast-path function call interface is not served",
                                     "Call the function with SELECT instead.");
}

bool is_reserved_setting(std::string_view name, std::string_view tenant_setting) {
    static constexpr std::array<std::string_view, 8> identity = {
        "role",         "session_authorization",         "session_replication_role",
        "is_superuser", "default_transaction_read_only", "transaction_read_only",
        "row_security", "local_preload_libraries"};
    auto n = lower(name);
    if (n == lower(tenant_setting)) return true;
    if (n.starts_with("app.") || n.starts_with("pgtenant.")) return true;
    return std::find(identity.begin(), identity.end(), n) != identity.end();
}

Verdict judge(std::string_view sql, Facts facts, const Policy& policy) {
    Verdict v{std::nullopt, std::move(facts), std::nullopt};
    for (auto rule : {reserved_setting, role_defaults, computed_setting_name, explain_analyze}) {
        if ((v.refusal = rule(v.facts, policy))) return v;
    }
    if (policy.session_pooling) {
        v.refusal = maintenance_statement(v.facts, policy);
        return v;
    }
    // DEALLOCATE <name> alone: the session answers it (it knows the client's statements).
    if (!v.facts.deallocate_name.empty()) return v;
    if (v.facts.settings.sql_prepared) {
        sql_prepared(sql, policy, v);
        return v;
    }
    v.refusal = maintenance_statement(v.facts, policy);
    return v;
}

}  // namespace pgtenant::protocol::guard
