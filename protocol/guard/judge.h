#pragma once
// The statement guard's rules: what a practice login may send, judged from a statement's facts
// alone. Pure: no session state, no I/O. Mistakes become visible errors with a real SQLSTATE and
// a stable rule id (DESIGN §3.5); enforcement against a hostile client is the sealed context's
// job, as no text check can see every way to call a function.
#include <optional>
#include <string>
#include <string_view>

#include "protocol/errors.h"
#include "protocol/guard/facts.h"
#include "protocol/sql_names.h"

namespace pgtenant::protocol::guard {

// What the configuration and the login allow (read anew for each message).
struct Policy {
    std::string_view tenant_setting;     // reserved: the practice comes from the login
    bool allow_maintenance = false;      // VACUUM and other commands outside a pipeline
    bool allow_explain_analyze = false;  // its row counts include rows RLS hid
    // A session-pooled login keeps SQL-level prepared statements on its own server connection.
    bool session_pooling = false;
    bool simple_query = true;  // a Query message ('Q'); false: a Parse ('P')
};

struct Verdict {
    std::optional<Error> refusal;  // its `rule` names the rule
    Facts facts;                   // what the statement is, and the settings it writes
    // A SQL-level PREPARE or EXECUTE alone in a simple query, served by pgtenant: where the
    // statement's name is in the text (sql_prepared.cpp puts its server name there).
    std::optional<TextSpan> sql_prepared_name;
};

// Judges statement text `sql`, whose facts are `facts`.
Verdict judge(std::string_view sql, Facts facts, const Policy& policy);

// The fast-path interface (FunctionCall) calls any function by oid, out of sight of the guard.
Error refuse_fast_path();

// True for names no client may set: the tenant setting, app.* and pgtenant.*, and settings
// that change the session's identity or bypass triggers (role, session_authorization,
// session_replication_role, ...). `name` is compared case-insensitively.
bool is_reserved_setting(std::string_view name, std::string_view tenant_setting);

}  // namespace pgtenant::protocol::guard
