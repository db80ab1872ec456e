#pragma once
// Internals shared by the check_*.cpp files: a minimal libpq wrapper (libpq itself stays in
// db.cpp) and the facts every check needs (pool role, tenant tables).
#include <string>
#include <vector>

#include "proxy/check/check.h"

struct pg_conn;  // libpq's PGconn

namespace pgtenant::proxy::check_detail {

using Row = std::vector<std::string>;  // SQL NULL reads as ""
using Rows = std::vector<Row>;

class CheckDb {
  public:
    // Throws std::runtime_error with libpq's message when the connection fails.
    explicit CheckDb(const std::string& conninfo);
    ~CheckDb();
    CheckDb(const CheckDb&) = delete;
    CheckDb& operator=(const CheckDb&) = delete;

    // Extended-protocol query with text parameters $1..$n; throws on any error.
    Rows query(const std::string& sql, const std::vector<std::string>& params = {});

  private:
    pg_conn* conn_ = nullptr;
};

struct CheckContext {
    CheckDb& db;
    const CheckOptions& options;
    std::string pool_role;        // current_user
    std::string pool_role_ident;  // quote_ident(current_user)
    bool pool_superuser = false;
    std::vector<std::string> tenant_params;  // tenant_table_params(options)
    // Channels between practices that compat mode leaves to the statement guard anyway (a
    // client there can set the tenant setting itself) but that sealed mode must close.
    Severity sealed_severity() const {
        return options.sealed ? Severity::critical : Severity::warning;
    }
    // The first key column: the one fix SQL names.
    const std::string& key_column() const { return options.tenant_columns.front(); }
};

using Findings = std::vector<Finding>;

// SQL fragment: the oids of tenant tables and partitions. Its parameters $1 (the key columns)
// and $2 (the tenant setting) are tenant_table_params(); queries that use it pass those first.
extern const char* const kTenantTablesSql;
std::vector<std::string> tenant_table_params(const CheckOptions& options);

bool is_true(const std::string& value);  // libpq's "t"
std::string lower_ascii(std::string s);

// One function per concern; each appends its findings.
void check_role_attributes(CheckContext& ctx, Findings& out);
void check_role_membership(CheckContext& ctx, Findings& out);
void check_role_settings(CheckContext& ctx, Findings& out);
void check_owned_objects(CheckContext& ctx, Findings& out);
void check_tenant_table_rls(CheckContext& ctx, Findings& out);
void check_policies(CheckContext& ctx, Findings& out);
void check_table_privileges(CheckContext& ctx, Findings& out);
void check_views(CheckContext& ctx, Findings& out);
void check_keys(CheckContext& ctx, Findings& out);
void check_database_privileges(CheckContext& ctx, Findings& out);
void check_languages(CheckContext& ctx, Findings& out);
void check_security_definer(CheckContext& ctx, Findings& out);
void check_dangerous_functions(CheckContext& ctx, Findings& out);
void check_statistics_exposure(CheckContext& ctx, Findings& out);
void check_server(CheckContext& ctx, Findings& out);

}  // namespace pgtenant::proxy::check_detail
