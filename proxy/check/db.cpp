// The libpq side of `pgtenant check`: one blocking connection, parameterised catalog queries.
#include "proxy/check/db.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>

namespace pgtenant::proxy::check_detail {

// Tables and partitions (relkind r/p) outside the system schemas that have a key column ($1,
// a text[]) or a policy, on themselves or a partitioned ancestor, that reads the tenant context
// (pgtenant.practice_id() or the setting $2). Policies survive DISABLE ROW LEVEL SECURITY, so a
// table whose isolation was switched off is still found.
const char* const kTenantTablesSql =
    "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
    "AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid "
    "AND a.attname = ANY ($1::text[]) AND a.attnum > 0 AND NOT a.attisdropped) "
    "OR EXISTS (SELECT 1 FROM pg_policy p WHERE (p.polrelid = c.oid OR p.polrelid IN "
    "(SELECT relid FROM pg_partition_ancestors(c.oid))) AND (SELECT strpos(e, "
    "'pgtenant.practice_id') > 0 OR strpos(e, $2) > 0 FROM lower(concat(pg_get_expr(p.polqual, "
    "p.polrelid), ' ', pg_get_expr(p.polwithcheck, p.polrelid))) AS e)))";

std::vector<std::string> tenant_table_params(const CheckOptions& options) {
    std::string columns = "{";
    for (const auto& c : options.tenant_columns) {
        columns += columns.size() > 1 ? ",\"" : "\"";
        for (char ch : c) {
            if (ch == '"' || ch == '\\') columns += '\\';
            columns += ch;
        }
        columns += '"';
    }
    return {columns + "}", lower_ascii(options.tenant_setting)};
}

CheckDb::CheckDb(const std::string& conninfo) {
    conn_ = PQconnectdb(conninfo.c_str());
    if (conn_ == nullptr) {
        throw std::runtime_error("cannot connect to PostgreSQL: out of memory");
    }
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string message = PQerrorMessage(conn_);
        PQfinish(conn_);
        conn_ = nullptr;
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
            message.pop_back();
        }
        throw std::runtime_error("cannot connect to PostgreSQL: " + message);
    }
}

CheckDb::~CheckDb() {
    if (conn_ != nullptr) {
        PQfinish(conn_);
    }
}

Rows CheckDb::query(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) {
        values.push_back(p.c_str());
    }
    PGresult* res = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                 values.data(), nullptr, nullptr, 0);
    std::unique_ptr<PGresult, decltype(&PQclear)> guard(res, &PQclear);
    auto status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        std::string message = res ? PQresultErrorMessage(res) : PQerrorMessage(conn_);
        throw std::runtime_error("catalog query failed: " + message);
    }
    Rows rows;
    const int n = PQntuples(res);
    const int cols = PQnfields(res);
    rows.reserve(static_cast<std::size_t>(n));
    for (int r = 0; r < n; ++r) {
        Row row;
        row.reserve(static_cast<std::size_t>(cols));
        for (int c = 0; c < cols; ++c) {
            row.emplace_back(PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c));
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

bool is_true(const std::string& value) { return value == "t"; }

std::string lower_ascii(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace pgtenant::proxy::check_detail
