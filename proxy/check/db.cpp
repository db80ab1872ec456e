// The libpq side of `pgtenant check`: one blocking connection, parameterised catalog queries.
#include "proxy/check/db.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>

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

namespace {

// connect_timeout from the conninfo (libpq enforces it only in its blocking PQconnectdb).
int connect_timeout_s(const std::string& conninfo) {
    int seconds = 30;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr);
    for (auto* o = options; o != nullptr && o->keyword != nullptr; ++o) {
        if (std::string_view(o->keyword) == "connect_timeout" && o->val != nullptr) {
            seconds = std::max(2, std::atoi(o->val));
        }
    }
    PQconninfoFree(options);
    return seconds;
}

// Drives PQconnectPoll until done; false on timeout.
bool finish_connect(PGconn* conn, int timeout_s) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd p{PQsocket(conn), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT),
                 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
            return false;
        }
        st = PQconnectPoll(conn);
    }
    return true;
}

struct ServerError {
    std::string sqlstate;
    std::string reason;  // the server's message, "" when the server sent none
};

// Verbose connection errors carry the server's SQLSTATE ("FATAL:  28P01: ..."), the only
// place libpq exposes it before a connection exists; it is cut out of `message`.
ServerError take_server_error(std::string& message) {
    for (const char* severity : {"FATAL:  ", "ERROR:  ", "PANIC:  "}) {
        auto at = message.find(severity);
        if (at == std::string::npos) continue;
        const auto code = at + std::strlen(severity);
        if (message.size() < code + 7 || message.compare(code + 5, 2, ": ") != 0) continue;
        ServerError e{message.substr(code, 5), ""};
        message.erase(code, 7);
        auto end = message.find('\n', code);
        if (end != std::string::npos) message.erase(end);  // LOCATION and the like
        e.reason = message.substr(code);
        return e;
    }
    return {};
}

}  // namespace

CheckDb::CheckDb(const std::string& conninfo) {
    conn_ = PQconnectStart(conninfo.c_str());
    if (conn_ == nullptr) {
        throw ConnectError("cannot connect to PostgreSQL: out of memory", "", "out of memory");
    }
    PQsetErrorVerbosity(conn_, PQERRORS_VERBOSE);
    const bool finished = finish_connect(conn_, connect_timeout_s(conninfo));
    if (!finished || PQstatus(conn_) != CONNECTION_OK) {
        std::string message = finished ? PQerrorMessage(conn_) : "timeout expired";
        PQfinish(conn_);
        conn_ = nullptr;
        ServerError server = take_server_error(message);
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
            message.pop_back();
        }
        throw ConnectError("cannot connect to PostgreSQL: " + message, server.sqlstate,
                           server.reason.empty() ? message : server.reason);
    }
    PQsetErrorVerbosity(conn_, PQERRORS_DEFAULT);
}

CheckDb::~CheckDb() {
    if (conn_ != nullptr) {
        PQfinish(conn_);
    }
}

QueryOutcome CheckDb::try_query(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) {
        values.push_back(p.c_str());
    }
    PGresult* res = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                 values.data(), nullptr, nullptr, 0);
    std::unique_ptr<PGresult, decltype(&PQclear)> guard(res, &PQclear);
    QueryOutcome out;
    auto status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
        const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
        out.sqlstate = state ? state : "";
        out.message = primary ? primary : (res ? PQresultErrorMessage(res) : PQerrorMessage(conn_));
        return out;
    }
    out.ok = true;
    out.affected = std::atol(PQcmdTuples(res));
    const int n = PQntuples(res);
    const int cols = PQnfields(res);
    out.rows.reserve(static_cast<std::size_t>(n));
    for (int r = 0; r < n; ++r) {
        Row row;
        row.reserve(static_cast<std::size_t>(cols));
        for (int c = 0; c < cols; ++c) {
            row.emplace_back(PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c));
        }
        out.rows.push_back(std::move(row));
    }
    return out;
}

Rows CheckDb::query(const std::string& sql, const std::vector<std::string>& params) {
    QueryOutcome r = try_query(sql, params);
    if (!r.ok) {
        throw std::runtime_error("catalog query failed: " + r.message);
    }
    return std::move(r.rows);
}

bool is_true(const std::string& value) { return value == "t"; }

std::string conninfo_value(const std::string& v) {
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "'";
}

std::string lower_ascii(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace pgtenant::proxy::check_detail
