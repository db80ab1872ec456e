#pragma once
// Errors pgtenant itself raises, as named factories with real SQLSTATEs (DESIGN §5).
// Every message says what was refused and why, in one sentence.
#include <cstddef>
#include <string>
#include <string_view>

#include "protocol/messages.h"

namespace pgtenant::protocol {

struct Error {
    std::string severity = "ERROR";  // ERROR or FATAL
    std::string sqlstate;
    std::string message;
    std::string detail;
    std::string hint;
    // Where in PostgreSQL's source the error comes from, for the errors pgtenant raises in
    // PostgreSQL's stead: drivers recognise some by routine (pgJDBC and postgres.js re-prepare
    // on "RevalidateCachedQuery").
    std::string file;
    std::string routine;
    // What raised it, for pgtenant's log (never sent): a short stable id such as
    // "reserved_setting" or "pool_wait_timeout".
    std::string rule;
};

// Appends an ErrorResponse ('E'); notice = true appends a NoticeResponse ('N') instead.
void encode_error(std::string& out, const Error& e, bool notice = false);
// Re-encodes decoded fields (e.g. a server error pgtenant adjusted).
void encode_error_fields(std::string& out, const ErrorFields& f);

namespace errors {

// The rule a refusal enforces, named in the log (a short stable id: "explain_analyze").
struct Rule {
    std::string_view id;
};

Error auth_failed(std::string_view user);              // 28P01
Error auth_rejected(Rule rule, std::string_view why);  // 28000
Error authentication_timeout();                        // 57014, FATAL
Error protocol_violation(std::string_view why);        // 08P01
Error unsupported_protocol(int32_t code);              // 0A000
Error refused_by_policy(Rule rule, std::string_view why, std::string_view hint = {});  // 42501
Error not_supported_in_pooling(Rule rule, std::string_view why,
                               std::string_view hint = {});  // 0A000
Error too_many_connections(int limit);                       // 53300
// A client message that may not be held now: every byte of server.message_memory_bytes is taken
// by other partly received messages.
Error message_memory_exhausted(std::size_t size, std::size_t budget);  // 53200
// A client message that did not arrive in full within server.message_timeout_ms.
Error message_too_slow(std::size_t size, long ms);         // 08P01
Error out_of_descriptors();                                // 53300
Error pool_wait_timeout(long ms);                          // 53400
Error practice_server_cap(long ms, std::string_view cap);  // 53400
Error practice_client_cap(int limit);                      // 53300, FATAL
Error directory_unavailable();                             // 57P03, FATAL: the lookup failed
Error cannot_connect_now(std::string_view why);            // 57P03
Error isolation_check_failed();                            // 55000
Error shutting_down();                                     // 57P01
// server.idle_transaction_timeout_ms and server.client_idle_timeout_ms, with PostgreSQL's words
// for its idle_in_transaction_session_timeout and idle_session_timeout.
Error idle_transaction_timeout();  // 25P03, FATAL
Error idle_session_timeout();      // 57P05, FATAL
// A reload removed the session's login (or gave it another practice).
Error login_removed(std::string_view login);  // 28000, FATAL
// KILL in the console: as pg_terminate_backend.
Error terminated_by_admin();  // 57P01, FATAL
// The console: an admin login elsewhere, a practice login on the console.
Error console_only(std::string_view login);  // 28000, FATAL
Error not_an_admin(std::string_view login);  // 28000, FATAL
// A console command that cannot run: 42601 (unknown), 3D000 (no such database), 22023 (a bad
// practice id), 55000 (not now).
Error console_command(std::string_view why, std::string_view sqlstate = "42601");
Error console_simple_protocol_only();                   // 0A000
Error server_connection_lost(std::string_view why);     // 08006
Error binding_failed(std::string_view server_message);  // 08P01
// A message other than COPY data while the server takes the client's COPY data: an ERROR, then
// the FATAL PostgreSQL ends such a session with.
Error copy_interrupted(std::string_view why);  // 08P01
Error copy_sync_lost();                        // 08P01, FATAL
// An error of the server's, to pgtenant's own request made for the client (re-preparing its
// statement, applying its settings): the client gets it as the server said it.
Error server_error(std::string_view rule, std::string_view sqlstate, std::string_view message);
// PostgreSQL's own errors, word for word: where pgtenant answers in the server's stead.
Error unnamed_statement_missing();               // 26000
Error statement_missing(std::string_view name);  // 26000
Error statement_exists(std::string_view name);   // 42P05
Error in_failed_transaction();                   // 25P02
// A prepared statement whose result columns changed since the client prepared it
// (pgtenant re-prepared it on another connection).
Error cached_plan_changed();  // 0A000

}  // namespace errors
}  // namespace pgtenant::protocol
