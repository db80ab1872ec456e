#pragma once
// Which settings a statement writes, read from libpg_query's JSON parse tree: SET / RESET
// (VariableSetStmt, anywhere, including ALTER ROLE ... SET) and calls of set_config(), with the
// setting name when it is a constant. Feeds the statement guard; the proxy decides which names
// are reserved.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgtenant::protocol {

// A session-level SET / RESET (not SET LOCAL), as the client's own setting to carry across
// server connections.
struct SessionSet {
    std::string name;                  // lower-cased
    std::optional<std::string> value;  // nullopt: back to the default (RESET, SET ... TO DEFAULT)
    bool understood = true;            // false: a value form pgtenant cannot reproduce
};

struct SettingWrites {
    std::vector<std::string> names;    // lower-cased; "" never appears
    bool reset_all = false;            // RESET ALL
    bool computed_name = false;        // set_config() whose name is not a string constant
    // SQL-level PREPARE / EXECUTE / DEALLOCATE <name> anywhere (EXPLAIN EXECUTE, CREATE TABLE
    // AS EXECUTE): server-session state that transaction pooling cannot carry.
    bool sql_prepared = false;
    std::vector<SessionSet> session_sets;  // top-level SET / RESET statements, in order
    bool alters_defaults = false;          // ALTER ROLE / ALTER DATABASE ... SET / RESET
};

// `json` is libpg_query's parse tree. Structural keys cannot be forged from SQL text: string
// contents in the JSON are escaped, so `"FuncCall":{` only ever matches a real node.
SettingWrites scan_setting_writes(std::string_view json);

}  // namespace pgtenant::protocol
