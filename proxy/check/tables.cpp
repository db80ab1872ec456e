// Checks on tenant tables (tables and partitions with a key column or a tenant policy): RLS
// enabled and forced, policies that confine rows to the practice, dangerous table privileges.
#include "proxy/check/db.h"
#include "proxy/check/policy_expr.h"

namespace pgtenant::proxy::check_detail {
namespace {

// The expression a pgtenant policy compares the tenant column with (the verifier once per
// statement, in a sub-SELECT).
std::string tenant_expr(const CheckContext& ctx, const std::string& column_type) {
    if (ctx.options.sealed) {
        return "(SELECT pgtenant.practice_id())";
    }
    return "current_setting('" + ctx.options.tenant_setting + "')::" + column_type;
}

// The verifier called directly in a policy runs once per row the policy filters; inside a
// sub-SELECT, once per query (an InitPlan).
constexpr std::string_view kVerifierCall = "pgtenant.practice_id()";
constexpr std::string_view kVerifierSubSelect = "SELECT pgtenant.practice_id()";

std::size_t occurrences(std::string_view text, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

bool calls_verifier_per_row(const std::string& expr) {
    const std::string e = lower_ascii(expr);
    return occurrences(e, kVerifierCall) >
           occurrences(e, lower_ascii(std::string(kVerifierSubSelect)));
}

// The expression with every direct verifier call wrapped in a sub-SELECT.
std::string verifier_once_per_query(const std::string& expr) {
    std::string out;
    std::size_t from = 0;
    for (auto at = expr.find(kVerifierCall); at != std::string::npos;
         at = expr.find(kVerifierCall, from)) {
        const bool wrapped = at >= 7 && lower_ascii(expr.substr(at - 7, 7)) == "select ";
        out.append(expr, from, at - from);
        out.append(wrapped ? std::string(kVerifierCall)
                           : "(" + std::string(kVerifierSubSelect) + ")");
        from = at + kVerifierCall.size();
    }
    return out + expr.substr(from);
}

// How far a policy expression confines rows to the practice. In sealed mode only the verifier
// counts: the plain setting is one a client can set itself.
TenantScope scope_of(const CheckContext& ctx, const std::string& expr) {
    return tenant_scope(expr, ctx.options.sealed ? "" : ctx.options.tenant_setting);
}

// The worst of a policy's two expressions (an empty WITH CHECK is its USING).
TenantScope policy_scope(const CheckContext& ctx, const std::string& qual,
                         const std::string& check) {
    if (qual.empty() && check.empty()) return TenantScope::none;
    const TenantScope q = qual.empty() ? TenantScope::restricted : scope_of(ctx, qual);
    const TenantScope c = check.empty() ? TenantScope::restricted : scope_of(ctx, check);
    return static_cast<int>(q) < static_cast<int>(c) ? q : c;
}

}  // namespace

void check_tenant_table_rls(CheckContext& ctx, Findings& out) {
    auto rows =
        ctx.db.query(std::string("SELECT format('%I.%I', n.nspname, c.relname), c.relrowsecurity, "
                                 "c.relforcerowsecurity FROM pg_class c "
                                 "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid IN (") +
                         kTenantTablesSql + ") ORDER BY 1",
                     ctx.tenant_params);
    for (const auto& r : rows) {
        const std::string& t = r[0];
        if (!is_true(r[1])) {
            out.push_back({"tenant_table_rls_disabled", Severity::critical, t,
                           "This is a tenant table (it has a key column or a policy that reads "
                           "the practice) but row-level security is not enabled, so every "
                           "practice reads and writes every row.",
                           "ALTER TABLE " + t + " ENABLE ROW LEVEL SECURITY;\nALTER TABLE " + t +
                               " FORCE ROW LEVEL SECURITY;  -- and create a tenant policy"});
        } else if (!is_true(r[2])) {
            out.push_back({"tenant_table_rls_not_forced", Severity::critical, t,
                           "Row-level security is enabled but not forced, so the table's owner "
                           "(and whoever can become it) bypasses every policy.",
                           "ALTER TABLE " + t + " FORCE ROW LEVEL SECURITY;"});
        }
    }
}

void check_policies(CheckContext& ctx, Findings& out) {
    const std::string& col = ctx.key_column();
    auto bare = ctx.db.query(
        std::string("SELECT format('%I.%I', n.nspname, c.relname), coalesce((SELECT "
                    "format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid "
                    "= c.oid AND a.attname = ($1::text[])[1] AND NOT a.attisdropped), '') "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') "
                    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) "
                    "ORDER BY 1"),
        {ctx.tenant_params.front()});
    for (const auto& r : bare) {
        std::string fix = "-- decide who may see which rows, then e.g.\n";
        if (!r[1].empty()) {
            const std::string e = col + " = " + tenant_expr(ctx, r[1]);
            fix = "CREATE POLICY practice_isolation ON " + r[0] + " USING (" + e +
                  ") WITH CHECK (" + e + ");";
        } else {
            fix += "CREATE POLICY read_all ON " + r[0] + " FOR SELECT USING (true);";
        }
        out.push_back({"rls_table_without_policy", Severity::warning, r[0],
                       "Row-level security is enabled but no policy exists, so the pool role "
                       "sees no rows while the owner (without FORCE) sees all of them.",
                       fix});
    }
    // Permissive policies OR together: one that ignores the tenant opens the whole table.
    auto pols = ctx.db.query(
        std::string("SELECT format('%I.%I', n.nspname, c.relname), quote_ident(p.polname), "
                    "p.polcmd, coalesce(pg_get_expr(p.polqual, p.polrelid), ''), "
                    "coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''), "
                    "coalesce((SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                    "WHERE a.attrelid = c.oid AND a.attname = ($1::text[])[1] "
                    "AND NOT a.attisdropped), 'uuid') "
                    "FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE p.polpermissive AND c.oid IN (") +
            kTenantTablesSql +
            ") AND (0 = ANY (p.polroles) OR EXISTS (SELECT 1 FROM unnest(p.polroles) AS r(oid) "
            "WHERE pg_has_role(current_user, r.oid, 'MEMBER'))) ORDER BY 1, 2",
        ctx.tenant_params);
    for (const auto& r : pols) {
        const std::string& qual = r[3];
        const std::string& check = r[4];
        const TenantScope scope = policy_scope(ctx, qual, check);
        if (scope == TenantScope::restricted) {
            if (calls_verifier_per_row(qual) || calls_verifier_per_row(check)) {
                std::string clauses;
                if (!qual.empty()) clauses += " USING (" + verifier_once_per_query(qual) + ")";
                if (!check.empty())
                    clauses += " WITH CHECK (" + verifier_once_per_query(check) + ")";
                out.push_back({"policy_verifier_per_row", Severity::warning, r[1] + " ON " + r[0],
                               "This policy calls pgtenant.practice_id() directly, so the token is "
                               "verified once for every row the policy looks at rather than once "
                               "per statement: correct, but scans get slow.",
                               "ALTER POLICY " + r[1] + " ON " + r[0] + clauses + ";"});
            }
            continue;
        }
        const std::string e = "(" + col + " = " + tenant_expr(ctx, r[5]) + ")";
        const std::string& cmd = r[2];
        std::string clauses;
        if (cmd != "a") {
            clauses += " USING " + e;
        }
        if (cmd == "a" || cmd == "w" || cmd == "*") {
            clauses += " WITH CHECK " + e;
        }
        const std::string context =
            ctx.options.sealed ? "pgtenant.practice_id()" : ctx.options.tenant_setting;
        const std::string exprs = " (USING: " + (qual.empty() ? "-" : qual) +
                                  "; WITH CHECK: " + (check.empty() ? "-" : check) + ").";
        const std::string fix = "ALTER POLICY " + r[1] + " ON " + r[0] + clauses + ";";
        const char* id = "permissive_policy_not_confined";
        Severity severity = Severity::critical;
        std::string why;
        if (scope == TenantScope::none) {
            id = "permissive_policy_without_tenant_context";
            why = "This permissive policy does not test " + context +
                  " and is ORed with the others, so it opens rows of every practice";
        } else if (scope == TenantScope::open) {
            why = "This permissive policy reads " + context +
                  " but also lets rows of other practices through (an OR, a negation, a "
                  "comparison other than equality with a column)";
        } else {
            severity = Severity::warning;
            why = "This permissive policy hands " + context +
                  " to a function, so pgtenant cannot tell whether it confines rows to the "
                  "practice; make sure it does, or compare a column with it directly";
        }
        out.push_back({id, severity, r[1] + " ON " + r[0], why + exprs, fix});
    }
}

void check_table_privileges(CheckContext& ctx, Findings& out) {
    if (ctx.pool_superuser) {
        return;
    }
    auto rows =
        ctx.db.query(std::string("SELECT format('%I.%I', n.nspname, c.relname), "
                                 "has_table_privilege(current_user, c.oid, 'TRUNCATE'), "
                                 "has_table_privilege(current_user, c.oid, 'TRIGGER'), "
                                 "has_any_column_privilege(current_user, c.oid, 'REFERENCES') "
                                 "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE c.oid IN (") +
                         kTenantTablesSql + ") ORDER BY 1",
                     ctx.tenant_params);
    const std::string from = " FROM PUBLIC, " + ctx.pool_role_ident + ";";
    for (const auto& r : rows) {
        if (is_true(r[1])) {
            out.push_back({"tenant_table_truncate", Severity::critical, r[0],
                           "TRUNCATE ignores row-level security, so any practice can empty this "
                           "table for every practice.",
                           "REVOKE TRUNCATE ON " + r[0] + from});
        }
        if (is_true(r[2])) {
            out.push_back({"tenant_table_trigger", Severity::critical, r[0],
                           "With TRIGGER a practice can attach code that runs inside other "
                           "practices' writes and copies their rows out.",
                           "REVOKE TRIGGER ON " + r[0] + from});
        }
        if (is_true(r[3])) {
            out.push_back({"tenant_table_references", Severity::warning, r[0],
                           "With REFERENCES a practice can create foreign keys into this table, "
                           "whose checks ignore row-level security and reveal other practices' "
                           "keys.",
                           "REVOKE REFERENCES ON " + r[0] + from});
        }
    }
}

}  // namespace pgtenant::proxy::check_detail
