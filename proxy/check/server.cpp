// Checks on the server and the deployment mode: minor versions with known row-level security
// fixes, compat mode, the sealed verifier (callable, and in C).
#include "proxy/check/db.h"

namespace pgtenant::proxy::check_detail {
namespace {

// RLS-related CVEs and the first minor release of each major that fixes them.
struct CveFix {
    const char* cve;
    const char* what;
    int fixed[5];  // server_version_num fixing it in 13, 14, 15, 16, 17 (0: not affected)
};

constexpr CveFix kCveFixes[] = {
    {"CVE-2023-2455",
     "row security policies disregard user ID changes after inlining",
     {130011, 140008, 150003, 0, 0}},
    {"CVE-2024-10976",
     "row security below subqueries disregards user ID changes",
     {130017, 140014, 150009, 160005, 170001}},
    {"CVE-2025-8713",
     "optimizer statistics can expose rows hidden by row security",
     {130022, 140019, 150014, 160010, 170006}},
};

}  // namespace

void check_server(CheckContext& ctx, Findings& out) {
    auto v = ctx.db.query(
        // Catalog lookup, not to_regprocedure: that raises when the schema lacks USAGE.
        "SELECT current_setting('server_version_num')::int, current_setting('server_version'), "
        "EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'pgtenant' AND p.proname = 'practice_id' AND p.pronargs = 0 "
        "AND has_schema_privilege(current_user, n.oid, 'USAGE') "
        "AND has_function_privilege(current_user, p.oid, 'EXECUTE')), "
        "(SELECT l.lanname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "JOIN pg_language l ON l.oid = p.prolang "
        "WHERE n.nspname = 'pgtenant' AND p.proname = 'practice_id' AND p.pronargs = 0)");
    const int num = std::stoi(v[0][0]);
    const std::string& version = v[0][1];
    const int major = num / 10000;
    std::string missing;
    if (major < 13) {
        missing = "major version " + std::to_string(major) + " is out of support";
    } else if (major <= 17) {
        for (const auto& c : kCveFixes) {
            const int fixed = c.fixed[major - 13];
            if (fixed != 0 && num < fixed) {
                missing += (missing.empty() ? "" : "; ") + std::string(c.cve) + " (" + c.what +
                           ", fixed in " + std::to_string(major) + "." +
                           std::to_string(fixed % 100) + ")";
            }
        }
    }
    if (!missing.empty()) {
        out.push_back(
            {"server_version_rls_cves", Severity::info, "server " + version,
             "This PostgreSQL release predates fixes for row-level security flaws: " + missing +
                 ".",
             "-- upgrade to the latest minor release of PostgreSQL " + std::to_string(major)});
    }
    if (!ctx.options.sealed) {
        out.push_back({"compat_mode", Severity::info,
                       "tenant setting " + ctx.options.tenant_setting,
                       "Compat mode does not protect against a client that sends set_config "
                       "itself; only pgtenant's statement guard stands in the way.",
                       "-- install the pgtenant schema, move policies to pgtenant.practice_id() "
                       "and enable sealed mode"});
    } else if (!is_true(v[0][2])) {
        out.push_back(
            {"sealed_verifier_missing", Severity::critical, "pgtenant.practice_id()",
             "Sealed mode is on but the pool role cannot call pgtenant.practice_id() (missing, "
             "or no USAGE on schema pgtenant or EXECUTE on the function), so every "
             "sealed policy fails.",
             "-- install pgtenant's sealed-mode SQL (pgtenant schema and verifier), then\n"
             "GRANT USAGE ON SCHEMA pgtenant TO " +
                 ctx.pool_role_ident + ";\nGRANT EXECUTE ON FUNCTION pgtenant.practice_id() TO " +
                 ctx.pool_role_ident + ";"});
    } else if (v[0][3] == "plpgsql") {
        out.push_back(
            {"sealed_verifier_plpgsql", Severity::info, "pgtenant.practice_id()",
             "The sealed verifier is the PL/pgSQL one, which costs PostgreSQL tens of "
             "microseconds in every transaction; the C one (library pgtenant_verifier) costs a "
             "few.",
             "-- on the database server, as root:\n"
             "--   install -m 755 build/auth/server_verifier/pgtenant_verifier.so "
             "\"$(pg_config --pkglibdir)\"\n"
             "-- then, as a superuser, run the install script again (it picks the C verifier):\n"
             "--   psql -v pool_role=" +
                 ctx.pool_role_ident + " -d <database> -f config/sealed_install.sql"});
    }
}

}  // namespace pgtenant::proxy::check_detail
