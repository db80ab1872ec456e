// Checks on objects built over tenant tables: views and materialized views, foreign keys and
// unique indexes that span practices.
#include "proxy/check/db.h"

namespace pgtenant::proxy::check_detail {

void check_views(CheckContext& ctx, Findings& out) {
    // Direct references only (pg_rewrite -> pg_depend -> table); a view over such a view is
    // reported through the inner one.
    auto rows = ctx.db.query(
        std::string(
            "SELECT format('%I.%I', vn.nspname, v.relname), v.relkind, "
            "string_agg(DISTINCT format('%I.%I', tn.nspname, t.relname), ', '), "
            "has_table_privilege(current_user, v.oid, 'SELECT'), "
            "(SELECT o.rolsuper OR o.rolbypassrls FROM pg_roles o WHERE o.oid = v.relowner), "
            "EXISTS (SELECT 1 FROM unnest(coalesce(v.reloptions, '{}')) AS opt WHERE "
            "lower(opt) IN ('security_invoker=true', 'security_invoker=on', "
            "'security_invoker=1', 'security_invoker=yes')) "
            "FROM pg_class v JOIN pg_namespace vn ON vn.oid = v.relnamespace "
            "JOIN pg_rewrite rw ON rw.ev_class = v.oid "
            "JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid "
            "AND d.refclassid = 'pg_class'::regclass "
            "JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = "
            "t.relnamespace WHERE v.relkind IN ('v', 'm') AND t.oid <> v.oid AND t.oid IN (") +
            kTenantTablesSql +
            ") GROUP BY v.oid, vn.nspname, v.relname, v.relkind, v.relowner, v.reloptions "
            "ORDER BY 1",
        ctx.tenant_params);
    for (const auto& r : rows) {
        const bool selectable = is_true(r[3]);
        if (r[1] == "m") {
            out.push_back({"materialized_view_over_tenant_table",
                           selectable ? Severity::critical : Severity::warning, r[0],
                           "A materialized view stores rows of every practice from " + r[2] +
                               " and row-level security never applies to it" +
                               (selectable ? ", and the pool role can read it." : "."),
                           "REVOKE ALL ON " + r[0] + " FROM PUBLIC, " + ctx.pool_role_ident +
                               ";  -- or DROP MATERIALIZED VIEW " + r[0] + ";"});
            continue;
        }
        if (is_true(r[5])) {
            continue;
        }
        const bool owner_bypasses = is_true(r[4]);
        out.push_back({"view_without_security_invoker",
                       owner_bypasses && selectable ? Severity::critical : Severity::warning, r[0],
                       "This view reads " + r[2] +
                           " with its owner's rights, not the caller's, so policies apply as the "
                           "owner" +
                           (owner_bypasses ? ", who bypasses row-level security." : "."),
                       "ALTER VIEW " + r[0] + " SET (security_invoker = true);"});
    }
}

void check_keys(CheckContext& ctx, Findings& out) {
    const std::string& col = ctx.key_column();
    // Keys are judged on tables with a key column; a table found by its policy alone (keyed on
    // another column, like practices(id)) is what the key columns point to.
    const auto keyed = [](const char* relation) {
        return std::string(" AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ") +
               relation + " AND a.attname = ANY ($1::text[]) AND NOT a.attisdropped)";
    };
    auto fks = ctx.db.query(
        std::string("SELECT quote_ident(con.conname), format('%I.%I', sn.nspname, s.relname), "
                    "format('%I.%I', tn.nspname, t.relname), "
                    "(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) FROM "
                    "unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) JOIN pg_attribute a ON "
                    "a.attrelid = con.conrelid AND a.attnum = k.attnum), "
                    "(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) FROM "
                    "unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord) JOIN pg_attribute a ON "
                    "a.attrelid = con.confrelid AND a.attnum = k.attnum), "
                    "EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = con.conrelid AND "
                    "a.attname = ANY ($1::text[]) AND a.attnum > 0 AND NOT a.attisdropped) "
                    "FROM pg_constraint con JOIN pg_class s ON s.oid = con.conrelid "
                    "JOIN pg_namespace sn ON sn.oid = s.relnamespace "
                    "JOIN pg_class t ON t.oid = con.confrelid JOIN pg_namespace tn ON tn.oid = "
                    "t.relnamespace WHERE con.contype = 'f' AND con.conparentid = 0 "
                    "AND con.confrelid IN (") +
            kTenantTablesSql +
            ") AND NOT EXISTS (SELECT 1 FROM unnest(con.confkey) AS k(attnum) JOIN pg_attribute "
            "a ON a.attrelid = con.confrelid AND a.attnum = k.attnum WHERE a.attname = ANY "
            "($1::text[]))" +
            keyed("con.confrelid") + " ORDER BY 2, 1",
        ctx.tenant_params);
    for (const auto& r : fks) {
        std::string fix = "ALTER TABLE " + r[1] + " DROP CONSTRAINT " + r[0] + ";\n";
        if (!is_true(r[5])) {
            fix += "-- add " + col + " to " + r[1] + " first, then:\n";
        }
        fix += "ALTER TABLE " + r[1] + " ADD CONSTRAINT " + r[0] + " FOREIGN KEY (" + col + ", " +
               r[3] + ") REFERENCES " + r[2] + " (" + col + ", " + r[4] + ");  -- needs UNIQUE (" +
               col + ", " + r[4] + ") on " + r[2];
        out.push_back({"foreign_key_without_tenant_column", Severity::warning, r[0] + " ON " + r[1],
                       "This foreign key into " + r[2] + " omits " + col +
                           ", and foreign-key checks ignore row-level security, so a row can "
                           "point at another practice's row and probe which keys exist there.",
                       fix});
    }
    auto idx = ctx.db.query(
        std::string("SELECT format('%I.%I', n.nspname, ic.relname), format('%I.%I', tn.nspname, "
                    "t.relname), i.indisprimary, coalesce(quote_ident(con.conname), ''), "
                    "(SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true), ', ' ORDER BY k) "
                    "FROM generate_series(1, i.indnkeyatts) AS k) "
                    "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
                    "JOIN pg_namespace n ON n.oid = ic.relnamespace "
                    "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = "
                    "t.relnamespace LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND "
                    "con.conrelid = i.indrelid AND con.contype IN ('p', 'u') "
                    "WHERE i.indisunique AND NOT ic.relispartition AND i.indrelid IN (") +
            kTenantTablesSql +
            ") AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid AND "
            "a.attname = ANY ($1::text[]) AND a.attnum = ANY (i.indkey::int2[])) "
            "AND NOT EXISTS (SELECT 1 FROM unnest($1::text[]) AS k(name) WHERE position(k.name IN "
            "coalesce(pg_get_expr(i.indexprs, i.indrelid), '')) > 0)" +
            keyed("i.indrelid") + " ORDER BY 2, 1",
        ctx.tenant_params);
    for (const auto& r : idx) {
        const bool primary = is_true(r[2]);
        const std::string& constraint = r[3];
        std::string fix;
        if (!constraint.empty()) {
            fix = "ALTER TABLE " + r[1] + " DROP CONSTRAINT " + constraint + ", ADD CONSTRAINT " +
                  constraint + (primary ? " PRIMARY KEY (" : " UNIQUE (") + col + ", " + r[4] +
                  ");";
            if (primary) {
                fix += "  -- foreign keys into it must then include " + col;
            }
        } else {
            fix = "DROP INDEX " + r[0] + ";\nCREATE UNIQUE INDEX ON " + r[1] + " (" + col + ", " +
                  r[4] + ");";
        }
        out.push_back(
            {primary ? "primary_key_without_tenant_column" : "unique_index_without_tenant_column",
             primary ? Severity::info : Severity::warning, r[0] + " ON " + r[1],
             "This unique index spans all practices, so a unique violation tells a practice that "
             "a value (" +
                 r[4] + ") exists in another practice" +
                 (primary ? "; harmless for random keys such as gen_random_uuid()." : "."),
             fix});
    }
}

}  // namespace pgtenant::proxy::check_detail
