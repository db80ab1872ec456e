// Checks on what the pool role may create or call: TEMP/CREATE, procedural languages,
// SECURITY DEFINER functions, backend-signalling and large-object functions, statistics views.
#include <set>

#include "proxy/check/db.h"

namespace pgtenant::proxy::check_detail {

void check_database_privileges(CheckContext& ctx, Findings& out) {
    if (ctx.pool_superuser) {
        return;
    }
    const std::string from = " FROM PUBLIC, " + ctx.pool_role_ident + ";";
    auto db = ctx.db.query(
        "SELECT quote_ident(current_database()), "
        "has_database_privilege(current_user, current_database(), 'TEMP'), "
        "has_database_privilege(current_user, current_database(), 'CREATE')");
    const std::string& name = db[0][0];
    if (is_true(db[0][1])) {
        out.push_back({"database_temp_privilege", Severity::warning, "database " + name,
                       "With TEMP a practice can create temporary tables and functions that "
                       "live on a pooled backend and may shadow objects for the next practice.",
                       "REVOKE TEMPORARY ON DATABASE " + name + from});
    }
    if (is_true(db[0][2])) {
        out.push_back({"database_create_privilege", Severity::warning, "database " + name,
                       "With CREATE on the database a practice can create schemas whose objects "
                       "no policy covers.",
                       "REVOKE CREATE ON DATABASE " + name + from});
    }
    auto schemas = ctx.db.query(
        "SELECT quote_ident(nspname) FROM pg_namespace "
        "WHERE has_schema_privilege(current_user, oid, 'CREATE') "
        "AND nspowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user) "
        "AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast%' ORDER BY 1");
    for (const auto& r : schemas) {
        out.push_back({"schema_create_privilege", Severity::warning, "schema " + r[0],
                       "With CREATE on this schema a practice can add tables outside every "
                       "policy or functions and operators that shadow the ones others call.",
                       "REVOKE CREATE ON SCHEMA " + r[0] + from});
    }
}

void check_languages(CheckContext& ctx, Findings& out) {
    if (ctx.pool_superuser) {
        return;
    }
    auto rows = ctx.db.query(
        "SELECT quote_ident(lanname) FROM pg_language WHERE lanispl "
        "AND has_language_privilege(current_user, oid, 'USAGE') ORDER BY 1");
    for (const auto& r : rows) {
        out.push_back(
            {"procedural_language_usable", Severity::warning, "language " + r[0],
             "The pool role can run DO blocks in " + r[0] +
                 ", whose dynamic SQL (EXECUTE, set_config with a computed name) a "
                 "statement guard cannot see.",
             "REVOKE USAGE ON LANGUAGE " + r[0] + " FROM PUBLIC, " + ctx.pool_role_ident + ";"});
    }
}

void check_security_definer(CheckContext& ctx, Findings& out) {
    if (ctx.pool_superuser) {
        return;
    }
    auto rows = ctx.db.query(
        "SELECT p.oid::regprocedure::text, quote_ident(o.rolname), o.rolsuper OR o.rolbypassrls "
        "FROM pg_proc p JOIN pg_roles o ON o.oid = p.proowner "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE p.prosecdef AND has_function_privilege(current_user, p.oid, 'EXECUTE') "
        "AND NOT (n.nspname = 'pgtenant' AND p.proname = 'practice_id') ORDER BY 1");
    for (const auto& r : rows) {
        const bool bypasses = is_true(r[2]);
        out.push_back(
            {"security_definer_function", bypasses ? Severity::critical : Severity::warning, r[0],
             "The pool role can call this SECURITY DEFINER function, which runs as " + r[1] +
                 (bypasses ? ", a role that bypasses row-level security."
                           : " and sees what that role sees, not what the practice "
                             "may see."),
             "REVOKE EXECUTE ON ROUTINE " + r[0] + " FROM PUBLIC, " + ctx.pool_role_ident + ";"});
    }
}

void check_dangerous_functions(CheckContext& ctx, Findings& out) {
    if (ctx.pool_superuser) {
        return;
    }
    auto rows = ctx.db.query(
        "SELECT p.oid::regprocedure::text, p.proname FROM pg_proc p "
        "WHERE p.pronamespace = 'pg_catalog'::regnamespace AND (p.proname IN "
        "('pg_terminate_backend', 'pg_cancel_backend', 'pg_notify', 'loread', 'lowrite') "
        "OR p.proname LIKE 'lo\\_%') AND has_function_privilege(current_user, p.oid, 'EXECUTE') "
        "ORDER BY 1");
    struct Group {
        const char* id;
        Severity severity;
        const char* message;
        std::set<std::string> names;
        std::string fix;
    };
    Group signal{"pool_role_can_signal_backends",
                 ctx.sealed_severity(),
                 "Every practice shares the pool role, so one practice can cancel or terminate "
                 "the backends serving the others.",
                 {},
                 ""};
    Group lo{"pool_role_can_use_large_objects",
             ctx.sealed_severity(),
             "Large objects have no row-level security, so what one practice stores there any "
             "other practice can read by its oid.",
             {},
             ""};
    Group notify{"pool_role_can_notify",
                 Severity::info,
                 "pg_notify lets a practice send payloads to another practice's LISTEN on the "
                 "same database; pgtenant drops LISTEN on a practice switch.",
                 {},
                 ""};
    for (const auto& r : rows) {
        const std::string& name = r[1];
        Group& g = (name == "pg_terminate_backend" || name == "pg_cancel_backend") ? signal
                   : name == "pg_notify"                                           ? notify
                                                                                   : lo;
        g.names.insert(name);
        g.fix +=
            "REVOKE EXECUTE ON FUNCTION " + r[0] + " FROM PUBLIC, " + ctx.pool_role_ident + ";\n";
    }
    for (Group* g : {&signal, &lo, &notify}) {
        if (g->names.empty()) {
            continue;
        }
        std::string object;
        for (const auto& n : g->names) {
            object += (object.empty() ? "" : ", ") + n;
        }
        g->fix.pop_back();
        out.push_back({g->id, g->severity, object, g->message, g->fix});
    }
}

void check_statistics_exposure(CheckContext& ctx, Findings& out) {
    if (ctx.pool_superuser) {
        return;
    }
    // The view and the function behind it: revoking only the view leaves the function open.
    auto rows = ctx.db.query(
        "SELECT format('%I.%I', n.nspname, c.relname), 'TABLE' FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'pg_stat_statements' "
        "AND c.relkind = 'v' AND has_table_privilege(current_user, c.oid, 'SELECT') "
        "UNION ALL SELECT p.oid::regprocedure::text, 'FUNCTION' FROM pg_proc p "
        "WHERE p.proname = 'pg_stat_statements' "
        "AND has_function_privilege(current_user, p.oid, 'EXECUTE') ORDER BY 2, 1");
    if (rows.empty()) {
        return;
    }
    std::string object;
    std::string fix;
    for (const auto& r : rows) {
        object += (object.empty() ? "" : ", ") + r[0];
        fix += (fix.empty() ? "" : "\n") + std::string("REVOKE ALL ON ") + r[1] + " " + r[0] +
               " FROM PUBLIC, " + ctx.pool_role_ident + ";";
    }
    out.push_back({"pg_stat_statements_readable", ctx.sealed_severity(), object,
                   "pg_stat_statements shows the statements of every practice, since they all "
                   "run as the pool role.",
                   fix});
}

}  // namespace pgtenant::proxy::check_detail
