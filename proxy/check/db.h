#pragma once
// Internals shared by the check_*.cpp files: a minimal libpq wrapper (libpq itself stays in
// db.cpp) and the facts every check needs (pool role, tenant tables).
#include <stdexcept>
#include <string>
#include <vector>

#include "proxy/check/check.h"

struct pg_conn;  // libpq's PGconn

namespace pgtenant::proxy::check_detail {

using Row = std::vector<std::string>;  // SQL NULL reads as ""
using Rows = std::vector<Row>;

// A failed connection, with the server's SQLSTATE when it sent one (28P01, 42501, ...).
class ConnectError : public std::runtime_error {
  public:
    ConnectError(const std::string& message, std::string sqlstate, std::string reason)
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)), reason_(std::move(reason)) {}
    const std::string& sqlstate() const noexcept { return sqlstate_; }
    // The server's own message when it sent one, else libpq's.
    const std::string& reason() const noexcept { return reason_; }

  private:
    std::string sqlstate_;
    std::string reason_;
};

// A statement's result, failed or not.
struct QueryOutcome {
    bool ok = false;
    std::string sqlstate;  // when it failed (empty when libpq itself failed)
    std::string message;   // the primary error message
    Rows rows;
    long affected = 0;  // rows an INSERT / UPDATE / DELETE touched
};

class CheckDb {
  public:
    // Throws ConnectError with libpq's message when the connection fails.
    explicit CheckDb(const std::string& conninfo);
    ~CheckDb();
    CheckDb(const CheckDb&) = delete;
    CheckDb& operator=(const CheckDb&) = delete;

    // Extended-protocol query with text parameters $1..$n; throws on any error.
    Rows query(const std::string& sql, const std::vector<std::string>& params = {});
    // The same, but an error is part of the outcome instead of an exception.
    QueryOutcome try_query(const std::string& sql, const std::vector<std::string>& params = {});

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
// A libpq conninfo value: single-quoted, backslash and quote escaped.
std::string conninfo_value(const std::string& v);
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
