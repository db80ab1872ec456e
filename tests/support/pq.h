#pragma once
// libpq helpers for tests. Everything is asynchronous underneath with a deadline, so a proxy
// that hangs fails the test with "timed out" instead of stalling the whole suite.
#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgtenant::testing {

struct PgConnDeleter {
    void operator()(PGconn* conn) const { PQfinish(conn); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;
using Rows = std::vector<std::vector<std::string>>;
using Param = std::optional<std::string>;  // nullopt is SQL NULL

constexpr std::chrono::milliseconds kQueryTimeout{30000};

// A server (or proxy) error: what() carries the SQLSTATE and the message.
class PgError : public std::runtime_error {
  public:
    PgError(std::string sqlstate, const std::string& message)
        : std::runtime_error(sqlstate + ": " + message), sqlstate_(std::move(sqlstate)) {}
    const std::string& sqlstate() const { return sqlstate_; }

  private:
    std::string sqlstate_;
};

struct QueryResult {
    ExecStatusType status = PGRES_FATAL_ERROR;
    std::string sqlstate;        // empty when no error, or when libpq itself failed
    std::string error;           // primary message; empty on success
    std::string command_tuples;  // PQcmdTuples of the last command, e.g. "0" for UPDATE 0
    std::string command_status;  // PQcmdStatus, e.g. "COMMIT" (or "ROLLBACK" for a failed one)
    Rows rows;                   // SQL NULL is returned as "<NULL>"

    bool ok() const { return error.empty(); }
};

struct ConnectOutcome {
    PgConn conn;
    std::string sqlstate;  // from the server's FATAL, when there was one
    std::string message;   // libpq's error text, empty on success

    bool ok() const { return conn != nullptr && message.empty(); }
};

// Never throws; the outcome says why a connection failed, including the SQLSTATE.
ConnectOutcome try_connect(const std::string& conninfo,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));
// Throws std::runtime_error with libpq's message when the connection fails.
PgConn connect(const std::string& conninfo);

// Sends sql as one simple Query and gathers every result: the first error wins, otherwise
// the last result's rows are returned (as PQexec would). Throws only on timeout.
QueryResult run(PGconn* conn, const std::string& sql,
                std::chrono::milliseconds timeout = kQueryTimeout);
// Extended protocol (Parse/Bind/Describe/Execute/Sync) with text parameters.
QueryResult run_params(PGconn* conn, const std::string& sql, const std::vector<Param>& params,
                       std::chrono::milliseconds timeout = kQueryTimeout);

// Rows of a query that must succeed; throws PgError otherwise.
Rows query(PGconn* conn, const std::string& sql);
Rows query_params(PGconn* conn, const std::string& sql, const std::vector<Param>& params);
// The SQLSTATE a statement fails with, or "" when it succeeds.
std::string sqlstate_of(PGconn* conn, const std::string& sql);

// Waits for and returns the next result (nullptr at the end of a query's results).
// Works in pipeline mode too. Throws on timeout or a broken connection.
PGresult* next_result(PGconn* conn, std::chrono::steady_clock::time_point deadline);
QueryResult to_query_result(PGresult* res);  // takes ownership of res

// COPY ... TO STDOUT: the data lines (without trailing newlines). Throws PgError on failure.
std::vector<std::string> copy_out(PGconn* conn, const std::string& sql);
// COPY ... FROM STDIN with the given data; returns the final result (error or COPY n).
QueryResult copy_in(PGconn* conn, const std::string& sql, const std::string& data);

// The column of every row, for "every row belongs to practice X" checks.
std::vector<std::string> column(const Rows& rows, std::size_t index);

}  // namespace pgtenant::testing
