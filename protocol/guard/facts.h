#pragma once
// What the statement guard learns from a statement text's parse tree: the facts each rule
// (judge.h) and the session decide by. Plain values, cached by query text (guard.h).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pgtenant::protocol::guard {

// A session-level SET / RESET (not SET LOCAL), as the client's own setting to carry across
// server connections.
struct SessionSet {
    std::string name;                  // lower-cased
    std::optional<std::string> value;  // nullopt: back to the default (RESET, SET ... TO DEFAULT)
    bool understood = true;            // false: a value form pgtenant cannot reproduce
};

// The settings a text writes: SET / RESET anywhere (including ALTER ROLE ... SET and a
// function's SET clause) and calls of set_config(), with the setting name when it is a constant.
struct SettingWrites {
    std::vector<std::string> names;  // lower-cased; "" never appears
    bool reset_all = false;          // RESET ALL
    bool computed_name = false;      // set_config() whose name is not a string constant
    // SQL-level PREPARE / EXECUTE / DEALLOCATE <name> anywhere (EXPLAIN EXECUTE, CREATE TABLE
    // AS EXECUTE): server-session state that transaction pooling cannot carry.
    bool sql_prepared = false;
    std::vector<SessionSet> session_sets;  // top-level SET / RESET statements, in order
    bool alters_defaults = false;          // ALTER ROLE / ALTER DATABASE ... SET / RESET
};

// What statements may leave in the server session after their transaction, beyond the
// settings pgtenant follows (SettingWrites): a connection that last served another practice is
// reset for these only (proxy/session/binding.cpp).
enum Effect : uint8_t {
    kCursors = 1,     // DECLARE: a WITH HOLD cursor outlives the transaction
    kListen = 2,      // LISTEN
    kSequences = 4,   // nextval()/setval(), or INSERT/MERGE (column defaults): currval, lastval
    kStatements = 8,  // PREPARE among other statements: a statement under the client's name
    // What the guard cannot vouch for: a function it does not know as harmless, DO, CALL,
    // EXECUTE, SELECT INTO, DDL, COPY, any other statement type.
    kAnything = 0x80,
};

struct Facts {
    // At least one statement refuses to run inside a pipeline / transaction block
    // (VACUUM, CREATE/DROP DATABASE, CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY,
    // ALTER SYSTEM, CREATE/DROP TABLESPACE, CLUSTER without a table, ...).
    bool not_in_pipeline = false;
    bool discard_all = false;     // DISCARD ALL
    bool deallocate_all = false;  // DEALLOCATE ALL / DEALLOCATE PREPARE ALL
    std::string deallocate_name;  // the statement is DEALLOCATE <name>, alone
    std::string prepare_name;     // the statement is PREPARE <name> ..., alone
    std::string execute_name;     // the statement is EXECUTE <name> ..., alone
    // libpg_query could not parse it (the server will say why), or it was not parsed: it holds
    // a NUL byte or is over 1 MiB with a keyword. Treat it as ordinary; the server judges it.
    bool parse_error = false;
    int statement_count = 0;  // 0 when the pre-check skipped parsing
    // Every statement is BEGIN/START/COMMIT/ROLLBACK-like (not a savepoint), SET/RESET or SHOW:
    // none takes a snapshot, so SET TRANSACTION ISOLATION LEVEL may still follow them in their
    // transaction.
    bool snapshot_free = false;
    // A statement is EXPLAIN with ANALYZE on: its plan reports rows the row-level security
    // policies filtered out, i.e. whether other practices' rows match a condition.
    bool explain_analyze = false;
    bool may_begin = false;  // the text holds BEGIN or START (may_begin_block): may open a block
    uint8_t effects = 0;     // Effect bits; kAnything when not parsed
    SettingWrites settings;  // SET / RESET / set_config() the text contains
    std::string command;     // e.g. "VACUUM", for error messages; empty if ordinary
};

}  // namespace pgtenant::protocol::guard
