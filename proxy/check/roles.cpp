// Checks about the pool role itself: attributes, memberships, persisted settings, ownership.
#include "proxy/check/db.h"

namespace pgtenant::proxy::check_detail {
void check_role_attributes(CheckContext& ctx, Findings& out) {
    auto rows = ctx.db.query(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication "
        "FROM pg_roles WHERE rolname = current_user");
    if (rows.empty()) {
        return;
    }
    const auto& r = rows[0];
    const std::string object = "role " + ctx.pool_role;
    const std::string alter = "ALTER ROLE " + ctx.pool_role_ident;
    if (is_true(r[0])) {
        out.push_back({"pool_role_superuser", Severity::critical, object,
                       "The pool role is a superuser, so row-level security never applies to it "
                       "and every practice can read every row.",
                       alter + " NOSUPERUSER;"});
    }
    if (is_true(r[1])) {
        out.push_back({"pool_role_bypassrls", Severity::critical, object,
                       "The pool role has BYPASSRLS, so no row-level security policy filters "
                       "its queries.",
                       alter + " NOBYPASSRLS;"});
    }
    if (is_true(r[2])) {
        out.push_back({"pool_role_createrole", Severity::critical, object,
                       "The pool role has CREATEROLE, so it can grant itself membership in the "
                       "role that owns the tenant tables and switch their RLS off.",
                       alter + " NOCREATEROLE;"});
    }
    if (is_true(r[3])) {
        out.push_back({"pool_role_createdb", Severity::warning, object,
                       "The pool role has CREATEDB, so a client can create databases it owns "
                       "outside every policy.",
                       alter + " NOCREATEDB;"});
    }
    if (is_true(r[4])) {
        out.push_back({"pool_role_replication", Severity::warning, object,
                       "The pool role has REPLICATION, which lets it stream every row of every "
                       "practice where pg_hba.conf allows replication connections.",
                       alter + " NOREPLICATION;"});
    }
}

void check_role_membership(CheckContext& ctx, Findings& out) {
    if (ctx.pool_superuser) {
        return;  // pg_has_role is true for every role; the superuser finding says it all
    }
    // Transitive membership (pg_has_role MEMBER, with or without INHERIT: SET ROLE works
    // either way), and the direct grants of the pool role that lead there, for the fix. The
    // fix names each grant's grantor: from PostgreSQL 16 on, a REVOKE run by anyone else
    // leaves the grant in place with only a warning.
    auto rows = ctx.db.query(
        std::string("SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, "
                    "r.rolcreatedb, EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid "
                    "AND c.oid IN (") +
            kTenantTablesSql +
            ")), (SELECT string_agg(format('REVOKE %I FROM %I%s;', d.rolname, current_user, "
            "' GRANTED BY ' || quote_ident(g.rolname)), E'\\n' ORDER BY d.rolname) "
            "FROM pg_auth_members m JOIN pg_roles d ON d.oid = m.roleid "
            "LEFT JOIN pg_roles g ON g.oid = m.grantor WHERE m.member = (SELECT oid FROM pg_roles "
            "WHERE rolname = current_user) "
            "AND pg_has_role(d.oid, r.oid, 'MEMBER')) "
            "FROM pg_roles r WHERE r.rolname <> current_user "
            "AND pg_has_role(current_user, r.oid, 'MEMBER') ORDER BY r.rolname",
        ctx.tenant_params);
    for (const auto& r : rows) {
        const std::string object = "role " + r[0];
        const std::string& fix = r[6];
        if (is_true(r[1]) || is_true(r[2])) {
            out.push_back({"pool_role_member_of_privileged_role", Severity::critical, object,
                           "The pool role can SET ROLE to " + r[0] +
                               ", which is a superuser or has BYPASSRLS, and so escape every "
                               "row-level security policy.",
                           fix});
        }
        if (is_true(r[5])) {
            out.push_back({"pool_role_member_of_table_owner", Severity::critical, object,
                           "The pool role can SET ROLE to " + r[0] +
                               ", which owns tenant tables and can disable their row-level "
                               "security.",
                           fix});
        }
        if (is_true(r[3])) {
            out.push_back({"pool_role_member_of_createrole", Severity::critical, object,
                           "The pool role can SET ROLE to " + r[0] +
                               ", which has CREATEROLE and can grant itself the table owner's "
                               "role.",
                           fix});
        }
        if (is_true(r[4])) {
            out.push_back({"pool_role_member_of_createdb", Severity::warning, object,
                           "The pool role can SET ROLE to " + r[0] +
                               ", which has CREATEDB and can create databases outside every "
                               "policy.",
                           fix});
        }
    }
}

void check_role_settings(CheckContext& ctx, Findings& out) {
    auto rows = ctx.db.query(
        "SELECT s.setrole = 0, coalesce(r.rolname, ''), s.setdatabase = 0, "
        "coalesce(d.datname, ''), cfg FROM pg_db_role_setting s "
        "LEFT JOIN pg_roles r ON r.oid = s.setrole "
        "LEFT JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) AS cfg "
        "WHERE (s.setrole = 0 OR r.rolname = current_user) "
        "AND (s.setdatabase = 0 OR d.datname = current_database()) ORDER BY 1, 2, 3, 4, 5");
    const std::string tenant = lower_ascii(ctx.options.tenant_setting);
    for (const auto& r : rows) {
        const bool all_roles = is_true(r[0]);
        const bool all_dbs = is_true(r[2]);
        const std::string& cfg = r[4];
        const auto eq = cfg.find('=');
        const std::string name = lower_ascii(cfg.substr(0, eq));
        const std::string value = eq == std::string::npos ? "" : cfg.substr(eq + 1);
        if (name == "track_activities" && lower_ascii(value) == "off") {
            continue;  // the hardening pgtenant recommends
        }
        std::string scope = all_roles ? "every role" : "role " + r[1];
        scope += all_dbs ? "" : " in database " + r[3];
        std::string fix;
        if (all_roles && !all_dbs) {
            fix = "ALTER DATABASE \"" + r[3] + "\" RESET " + name + ";";
        } else {
            fix = std::string("ALTER ROLE ") + (all_roles ? "ALL" : ctx.pool_role_ident) +
                  (all_dbs ? "" : " IN DATABASE \"" + r[3] + "\"") + " RESET " + name + ";";
        }
        const bool reserved = name == tenant || name.rfind("pgtenant.", 0) == 0;
        if (reserved) {
            out.push_back({"persisted_tenant_setting", Severity::critical, scope + ": " + cfg,
                           "A persisted " + name +
                               " binds every backend to a practice before pgtenant does, so an "
                               "unbound transaction reads that practice instead of failing.",
                           fix});
        } else {
            out.push_back({"persisted_role_setting", Severity::info, scope + ": " + cfg,
                           "A persisted setting applies to every practice's session; make sure "
                           "it does not weaken isolation (search_path, row_security, ...).",
                           fix});
        }
    }
    // The text is there when track_activities is on, and readable by the pool role through
    // the view or the functions behind it.
    auto track = ctx.db.query(
        "SELECT current_setting('track_activities') = 'on', "
        "has_table_privilege('pg_catalog.pg_stat_activity', 'SELECT') "
        "OR has_function_privilege('pg_catalog.pg_stat_get_activity(integer)', 'EXECUTE') "
        "OR has_function_privilege('pg_catalog.pg_stat_get_backend_activity(integer)', "
        "'EXECUTE')");
    if (is_true(track[0][0]) && is_true(track[0][1])) {
        const std::string from = " FROM PUBLIC, " + ctx.pool_role_ident + ";";
        out.push_back(
            {"track_activities_on", ctx.sealed_severity(), "setting track_activities",
             "With track_activities on, every practice can read the query text of other "
             "practices' sessions in pg_stat_activity, because they all share the pool role "
             "(their literals too: names, dates, ids).",
             "ALTER ROLE " + ctx.pool_role_ident +
                 " SET track_activities = off;\n"
                 "-- or keep it on for monitoring and take the text away from the pool role:\n"
                 "-- REVOKE SELECT ON pg_catalog.pg_stat_activity" +
                 from +
                 "\n-- REVOKE EXECUTE ON FUNCTION pg_catalog.pg_stat_get_activity(integer), "
                 "pg_catalog.pg_stat_get_backend_activity(integer)" +
                 from});
    }
}

void check_owned_objects(CheckContext& ctx, Findings& out) {
    auto rels = ctx.db.query(
        std::string("SELECT format('%I.%I', n.nspname, c.relname), c.oid IN (") + kTenantTablesSql +
            "), CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' "
            "WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
            "AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
            "AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%' "
            "ORDER BY 1",
        ctx.tenant_params);
    for (const auto& r : rels) {
        const std::string fix =
            "ALTER " + r[2] + " " + r[0] + " OWNER TO CURRENT_USER;  -- run as the migration role";
        if (is_true(r[1])) {
            out.push_back({"pool_role_owns_tenant_table", Severity::critical, r[0],
                           "The pool role owns this tenant table, so any client can ALTER it to "
                           "disable or unforce row-level security.",
                           fix});
        } else {
            out.push_back({"pool_role_owns_relation", Severity::warning, r[0],
                           "The pool role owns this relation, so any practice can alter, drop or "
                           "grant it; objects should belong to a migration role.",
                           fix});
        }
    }
    auto funcs = ctx.db.query(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "WHERE p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) ORDER BY 1");
    for (const auto& r : funcs) {
        out.push_back(
            {"pool_role_owns_function", Severity::warning, r[0],
             "The pool role owns this function, so any practice can replace its body "
             "with code that every other practice then runs.",
             "ALTER ROUTINE " + r[0] + " OWNER TO CURRENT_USER;  -- run as the migration role"});
    }
    auto schemas = ctx.db.query(
        "SELECT quote_ident(nspname) FROM pg_namespace "
        "WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
        "AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%' "
        "ORDER BY 1");
    for (const auto& r : schemas) {
        out.push_back(
            {"pool_role_owns_schema", Severity::warning, "schema " + r[0],
             "The pool role owns this schema, so any practice can create objects in "
             "it that shadow the ones other practices' queries resolve.",
             "ALTER SCHEMA " + r[0] + " OWNER TO CURRENT_USER;  -- run as the migration role"});
    }
}

}  // namespace pgtenant::proxy::check_detail
