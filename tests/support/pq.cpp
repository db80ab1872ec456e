#include "tests/support/pq.h"

#include <poll.h>

#include <regex>
#include <thread>

namespace pgtenant::testing {
namespace {

using Clock = std::chrono::steady_clock;

void wait_socket(PGconn* conn, short events, Clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            throw std::runtime_error("timed out waiting for the server");
        }
        pollfd p{PQsocket(conn), events, 0};
        int n = ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 1000)));
        if (n != 0) {
            return;  // readable, writable, error or EINTR: let libpq find out which
        }
    }
}

void flush(PGconn* conn, Clock::time_point deadline) {
    int rc;
    while ((rc = PQflush(conn)) == 1) {
        wait_socket(conn, POLLOUT | POLLIN, deadline);
        PQconsumeInput(conn);
    }
}

// Gathers all results of one query: first error wins, else the last non-empty result.
QueryResult collect(PGconn* conn, Clock::time_point deadline) {
    QueryResult out;
    bool have = false;
    while (PGresult* res = next_result(conn, deadline)) {
        auto status = PQresultStatus(res);
        if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
            PQclear(res);
            throw std::runtime_error("unexpected COPY in a plain query; use copy_in/copy_out");
        }
        QueryResult r = to_query_result(res);
        if (!out.ok()) {
            continue;  // keep the first error, drain the rest
        }
        if (!r.ok() || !have || status != PGRES_EMPTY_QUERY) {
            out = std::move(r);
            have = true;
        }
    }
    if (!have) {
        out.error = PQerrorMessage(conn);
        if (out.error.empty()) {
            out.error = "no result";
        }
    }
    return out;
}

QueryResult send_failed(PGconn* conn) {
    QueryResult r;
    r.error = PQerrorMessage(conn);
    if (r.error.empty()) {
        r.error = "could not send the query";
    }
    return r;
}

}  // namespace

ConnectOutcome try_connect(const std::string& conninfo, std::chrono::milliseconds timeout) {
    ConnectOutcome out;
    PGconn* raw = PQconnectStart(conninfo.c_str());
    out.conn.reset(raw);
    if (raw == nullptr) {
        out.message = "out of memory";
        return out;
    }
    // Verbose errors put the SQLSTATE into the FATAL text, the only place libpq exposes it
    // for connection failures.
    PQsetErrorVerbosity(raw, PQERRORS_VERBOSE);
    auto deadline = Clock::now() + timeout;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (PQstatus(raw) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        try {
            wait_socket(raw, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        } catch (const std::runtime_error&) {
            out.message = "timed out connecting";
            return out;
        }
        st = PQconnectPoll(raw);
    }
    if (PQstatus(raw) == CONNECTION_OK) {
        PQsetErrorVerbosity(raw, PQERRORS_DEFAULT);
        return out;
    }
    out.message = PQerrorMessage(raw);
    static const std::regex fatal(R"((FATAL|ERROR|PANIC):  ([0-9A-Z]{5}): ([^\n]*))");
    std::smatch m;
    if (std::regex_search(out.message, m, fatal)) {
        out.sqlstate = m[2];
        out.message = m[3];
    }
    if (out.message.empty()) {
        out.message = "connection failed";
    }
    return out;
}

PgConn connect(const std::string& conninfo) {
    auto outcome = try_connect(conninfo);
    if (!outcome.ok()) {
        throw std::runtime_error("connect failed (" + outcome.sqlstate + "): " + outcome.message);
    }
    return std::move(outcome.conn);
}

PGresult* next_result(PGconn* conn, Clock::time_point deadline) {
    flush(conn, deadline);
    while (PQisBusy(conn)) {
        wait_socket(conn, POLLIN, deadline);
        if (!PQconsumeInput(conn)) {
            break;  // PQgetResult now reports the broken connection as an error result
        }
    }
    return PQgetResult(conn);
}

QueryResult to_query_result(PGresult* res) {
    QueryResult r;
    r.status = PQresultStatus(res);
    if (r.status == PGRES_FATAL_ERROR || r.status == PGRES_NONFATAL_ERROR ||
        r.status == PGRES_BAD_RESPONSE || r.status == PGRES_PIPELINE_ABORTED) {
        const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        r.sqlstate = state ? state : "";
        r.error = primary ? primary : PQresultErrorMessage(res);
        if (r.error.empty()) {
            r.error = PQresStatus(r.status);
        }
    }
    r.command_tuples = PQcmdTuples(res);
    r.command_status = PQcmdStatus(res);
    for (int i = 0; i < PQntuples(res); ++i) {
        std::vector<std::string> row;
        for (int j = 0; j < PQnfields(res); ++j) {
            row.emplace_back(PQgetisnull(res, i, j) ? "<NULL>" : PQgetvalue(res, i, j));
        }
        r.rows.push_back(std::move(row));
    }
    PQclear(res);
    return r;
}

QueryResult run(PGconn* conn, const std::string& sql, std::chrono::milliseconds timeout) {
    if (!PQsendQuery(conn, sql.c_str())) {
        return send_failed(conn);
    }
    return collect(conn, Clock::now() + timeout);
}

QueryResult run_params(PGconn* conn, const std::string& sql, const std::vector<Param>& params,
                       std::chrono::milliseconds timeout) {
    std::vector<const char*> values;
    for (const auto& p : params) {
        values.push_back(p ? p->c_str() : nullptr);
    }
    if (!PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0)) {
        return send_failed(conn);
    }
    return collect(conn, Clock::now() + timeout);
}

Rows query(PGconn* conn, const std::string& sql) {
    auto r = run(conn, sql);
    if (!r.ok()) {
        throw PgError(r.sqlstate, r.error + " [in: " + sql + "]");
    }
    return r.rows;
}

Rows query_params(PGconn* conn, const std::string& sql, const std::vector<Param>& params) {
    auto r = run_params(conn, sql, params);
    if (!r.ok()) {
        throw PgError(r.sqlstate, r.error + " [in: " + sql + "]");
    }
    return r.rows;
}

std::string sqlstate_of(PGconn* conn, const std::string& sql) {
    auto r = run(conn, sql);
    if (r.ok()) {
        return "";
    }
    return r.sqlstate.empty() ? "(no sqlstate: " + r.error + ")" : r.sqlstate;
}

std::vector<std::string> copy_out(PGconn* conn, const std::string& sql) {
    auto deadline = Clock::now() + kQueryTimeout;
    if (!PQsendQuery(conn, sql.c_str())) {
        throw PgError("", PQerrorMessage(conn));
    }
    PGresult* first = next_result(conn, deadline);
    if (first == nullptr || PQresultStatus(first) != PGRES_COPY_OUT) {
        auto r = first ? to_query_result(first) : QueryResult{};
        while (PGresult* rest = next_result(conn, deadline)) {
            PQclear(rest);
        }
        throw PgError(r.sqlstate, "COPY OUT did not start: " + r.error);
    }
    PQclear(first);
    std::string data;
    for (;;) {
        char* buf = nullptr;
        int n = PQgetCopyData(conn, &buf, 1);
        if (n > 0) {
            data.append(buf, static_cast<std::size_t>(n));
            PQfreemem(buf);
        } else if (n == 0) {
            wait_socket(conn, POLLIN, deadline);
            PQconsumeInput(conn);
        } else {
            break;
        }
    }
    auto final_result = collect(conn, deadline);
    if (!final_result.ok()) {
        throw PgError(final_result.sqlstate, final_result.error);
    }
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos < data.size()) {
        auto end = data.find('\n', pos);
        lines.push_back(data.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
        pos = end == std::string::npos ? data.size() : end + 1;
    }
    return lines;
}

QueryResult copy_in(PGconn* conn, const std::string& sql, const std::string& data) {
    auto deadline = Clock::now() + kQueryTimeout;
    if (!PQsendQuery(conn, sql.c_str())) {
        return send_failed(conn);
    }
    PGresult* first = next_result(conn, deadline);
    if (first == nullptr) {
        return send_failed(conn);
    }
    if (PQresultStatus(first) != PGRES_COPY_IN) {
        auto r = to_query_result(first);
        while (PGresult* rest = next_result(conn, deadline)) {
            PQclear(rest);
        }
        return r;
    }
    PQclear(first);
    if (PQputCopyData(conn, data.data(), static_cast<int>(data.size())) != 1 ||
        PQputCopyEnd(conn, nullptr) != 1) {
        return send_failed(conn);
    }
    return collect(conn, deadline);
}

std::vector<std::string> column(const Rows& rows, std::size_t index) {
    std::vector<std::string> out;
    for (const auto& row : rows) {
        out.push_back(index < row.size() ? row[index] : "<missing>");
    }
    return out;
}

}  // namespace pgtenant::testing
