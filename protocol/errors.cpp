#include "protocol/errors.h"

#include <fmt/format.h>

#include "protocol/wire.h"

namespace pgtenant::protocol {

void encode_error(std::string& out, const Error& e, bool notice) {
    MessageWriter w(out);
    w.begin(notice ? 'N' : 'E');
    w.byte('S').cstring(e.severity).byte('V').cstring(e.severity);
    w.byte('C').cstring(e.sqlstate).byte('M').cstring(e.message);
    if (!e.detail.empty()) w.byte('D').cstring(e.detail);
    if (!e.hint.empty()) w.byte('H').cstring(e.hint);
    if (!e.file.empty()) w.byte('F').cstring(e.file);
    if (!e.routine.empty()) w.byte('R').cstring(e.routine);
    w.byte(0).end();
}

void encode_error_fields(std::string& out, const ErrorFields& f) {
    MessageWriter w(out);
    w.begin('E');
    for (const auto& [code, value] : f.fields) w.byte(static_cast<uint8_t>(code)).cstring(value);
    w.byte(0).end();
}

namespace errors {
namespace {
Error make(std::string_view rule, std::string sqlstate, std::string message,
           std::string_view hint = {}, std::string severity = "ERROR") {
    Error e;
    e.severity = std::move(severity);
    e.sqlstate = std::move(sqlstate);
    e.message = std::move(message);
    e.hint = std::string(hint);
    e.rule = std::string(rule);
    return e;
}
}  // namespace

// Same text for an unknown user and a wrong password: a client learns nothing about which.
Error auth_failed(std::string_view user) {
    return make("auth_failed", "28P01",
                fmt::format("password authentication failed for user \"{}\"", user), {}, "FATAL");
}

Error auth_rejected(Rule rule, std::string_view why) {
    return make(rule.id, "28000", std::string(why), {}, "FATAL");
}
Error authentication_timeout() {
    return make("login_timeout", "57014", "canceling authentication due to timeout", {}, "FATAL");
}

Error protocol_violation(std::string_view why) {
    return make("protocol_violation", "08P01", fmt::format("protocol violation: {}", why), {},
                "FATAL");
}

Error unsupported_protocol(int32_t code) {
    return make("protocol_version", "0A000",
                fmt::format("unsupported frontend protocol {}.{}: pgtenant speaks protocol 3.0",
                            code >> 16, code & 0xffff),
                {}, "FATAL");
}

Error refused_by_policy(Rule rule, std::string_view why, std::string_view hint) {
    return make(rule.id, "42501", fmt::format("pgtenant refused this: {}", why), hint);
}

Error not_supported_in_pooling(Rule rule, std::string_view why, std::string_view hint) {
    return make(rule.id, "0A000", fmt::format("not supported in transaction pooling: {}", why),
                hint);
}

Error isolation_check_failed() {
    // The finding itself is for the operator (pgtenant's log), not for every client.
    return make("isolation_recheck", "55000",
                "pgtenant refuses new transactions: the database failed its isolation re-check",
                "An operator must fix what pgtenant's log reports (pgtenant check prints the SQL); "
                "transactions are served again once the next re-check passes.");
}

Error out_of_descriptors() {
    return make("out_of_descriptors", "53300",
                "too many client connections: pgtenant is out of file descriptors",
                "Raise pgtenant's open-files limit (ulimit -n, LimitNOFILE) or lower "
                "server.max_client_conn.",
                "FATAL");
}

Error message_memory_exhausted(std::size_t size, std::size_t budget) {
    return make("message_memory", "53200",
                fmt::format("out of memory for client messages: a message of {} bytes would take "
                            "partly received messages over {} bytes (server.message_memory_bytes)",
                            size, budget),
                "Retry later, or raise server.message_memory_bytes.", "FATAL");
}

Error message_too_slow(std::size_t size, long ms) {
    return make("message_timeout", "08P01",
                fmt::format("a message of {} bytes did not arrive in full within {} ms "
                            "(server.message_timeout_ms)",
                            size, ms),
                {}, "FATAL");
}

Error too_many_connections(int limit) {
    return make("max_client_conn", "53300",
                fmt::format("too many client connections: pgtenant accepts at most {} "
                            "(server.max_client_conn)",
                            limit),
                {}, "FATAL");
}

Error pool_wait_timeout(long ms) {
    return make("pool_wait_timeout", "53400",
                fmt::format("no server connection became free within {} ms; every pooled "
                            "connection is busy (pool.size, pool.wait_timeout_ms)",
                            ms));
}

Error practice_server_cap(long ms, std::string_view cap) {
    return make("practice_server_cap", "53400",
                fmt::format("no server connection within {} ms: this practice has its {} "
                            "server connections in use (its max_server_connections in the users "
                            "file, or pool.max_practice_server_connections)",
                            ms, cap));
}

Error practice_client_cap(int limit) {
    return make("practice_client_cap", "53300",
                fmt::format("too many client connections for this practice: at most {} "
                            "(its max_client_connections in the users file, or "
                            "server.max_practice_client_connections)",
                            limit),
                {}, "FATAL");
}

Error directory_unavailable() {
    return make("directory_lookup", "57P03",
                "pgtenant cannot look up this login now (tenant.directory_query); try again "
                "later",
                {}, "FATAL");
}

Error cannot_connect_now(std::string_view why) {
    return make("cannot_connect", "57P03",
                fmt::format("pgtenant cannot reach the database now: {}", why));
}

Error shutting_down() {
    return make("shutting_down", "57P01", "pgtenant is shutting down; reconnect later", {},
                "FATAL");
}

Error idle_transaction_timeout() {
    return make("idle_transaction_timeout", "25P03",
                "terminating connection due to idle-in-transaction timeout",
                "The transaction was rolled back (server.idle_transaction_timeout_ms).", "FATAL");
}

Error idle_session_timeout() {
    return make("client_idle_timeout", "57P05",
                "terminating connection due to idle-session timeout",
                "server.client_idle_timeout_ms", "FATAL");
}

Error login_removed(std::string_view login) {
    return make("login_removed", "28000",
                fmt::format("login \"{}\" was removed from the users file (or changed)", login),
                "Connect again with a login of the users file in force.", "FATAL");
}

Error terminated_by_admin() {
    return make("admin_kill", "57P01", "terminating connection due to administrator command", {},
                "FATAL");
}

Error console_only(std::string_view login) {
    return make("console_only", "28000",
                fmt::format("login \"{}\" is an admin login: it may connect to database "
                            "\"pgtenant\" (the admin console) only",
                            login),
                "Connect with dbname=pgtenant, or use a practice login for data.", "FATAL");
}

Error not_an_admin(std::string_view login) {
    return make("console_admin_only", "28000",
                fmt::format("database \"pgtenant\" is pgtenant's admin console, and login \"{}\" "
                            "is not an admin login",
                            login),
                "Admin logins have admin = true in the users file.", "FATAL");
}

Error console_command(std::string_view why, std::string_view sqlstate) {
    return make("console_command", std::string(sqlstate), std::string(why),
                "SHOW HELP lists the console's commands.");
}

Error console_simple_protocol_only() {
    return make("console_protocol", "0A000",
                "the admin console answers simple queries only (no extended protocol)",
                "Use psql, or a driver's simple-query mode.");
}

Error server_connection_lost(std::string_view why) {
    return make("server_connection_lost", "08006",
                fmt::format("the server connection was lost; any open transaction was rolled "
                            "back ({})",
                            why));
}

Error binding_failed(std::string_view server_message) {
    return make("binding_failed", "08P01",
                fmt::format("pgtenant could not bind this transaction to your practice, so "
                            "nothing of it ran: {}",
                            server_message));
}

Error copy_interrupted(std::string_view why) {
    return make("copy_interrupted", "08P01", std::string(why));
}

Error copy_sync_lost() {
    return make("copy_interrupted", "08P01",
                "terminating connection because protocol synchronization was lost", {}, "FATAL");
}

Error server_error(std::string_view rule, std::string_view sqlstate, std::string_view message) {
    return make(rule, std::string(sqlstate), std::string(message));
}

Error in_failed_transaction() {
    return make("failed_transaction", "25P02",
                "current transaction is aborted, commands ignored until end of transaction block");
}

Error statement_missing(std::string_view name) {
    return make("statement_missing", "26000",
                fmt::format("prepared statement \"{}\" does not exist", name));
}

Error statement_exists(std::string_view name) {
    return make("statement_exists", "42P05",
                fmt::format("prepared statement \"{}\" already exists", name));
}

Error unnamed_statement_missing() {
    return make("statement_missing", "26000", "unnamed prepared statement does not exist");
}

Error cached_plan_changed() {
    Error e = make("cached_plan_changed", "0A000", "cached plan must not change result type");
    e.file = "plancache.c";
    e.routine = "RevalidateCachedQuery";
    return e;
}

}  // namespace errors
}  // namespace pgtenant::protocol
