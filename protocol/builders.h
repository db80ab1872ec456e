#pragma once
// Builders for the messages pgtenant itself sends. Each appends one message to `out`.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgtenant::protocol::build {

// --- to the server ---
void startup(std::string& out, const std::vector<std::pair<std::string, std::string>>& params);
void cancel_request(std::string& out, int32_t pid, int32_t key);
void ssl_request(std::string& out);                          // SSLRequest: asks the server for TLS
void password(std::string& out, std::string_view password);  // PasswordMessage
void sasl_initial(std::string& out, std::string_view mechanism, std::string_view data);
void sasl_response(std::string& out, std::string_view data);
void query(std::string& out, std::string_view sql);
void parse(std::string& out, std::string_view name, std::string_view sql,
           const std::vector<int32_t>& param_types = {});
void describe(std::string& out, char kind, std::string_view name);  // kind 'S' or 'P'
void close(std::string& out, char kind, std::string_view name);
// A Bind identical to `body` (a Bind message body) but naming `statement`; nullopt if malformed.
bool rebind(std::string& out, std::string_view body, std::string_view statement);
// Bind of `statement` to `portal` with text parameters (nullopt = NULL), text results.
void bind_portal(std::string& out, std::string_view portal, std::string_view statement,
                 std::initializer_list<std::optional<std::string_view>> params);
// The same, to the unnamed portal.
inline void bind(std::string& out, std::string_view statement,
                 std::initializer_list<std::optional<std::string_view>> params) {
    bind_portal(out, {}, statement, params);
}
void execute(std::string& out, std::string_view portal = {}, int32_t max_rows = 0);
void sync(std::string& out);
void flush(std::string& out);
void terminate(std::string& out);

// --- to the client ---
void auth_ok(std::string& out);
void auth_sasl(std::string& out, std::string_view mechanism);
void auth_sasl_continue(std::string& out, std::string_view data);
void auth_sasl_final(std::string& out, std::string_view data);
void auth_md5(std::string& out, std::string_view salt4);
void parameter_status(std::string& out, std::string_view name, std::string_view value);
void backend_key_data(std::string& out, int32_t pid, int32_t key);
void ready_for_query(std::string& out, char status);
void command_complete(std::string& out, std::string_view tag);
// A RowDescription of text-format columns: (name, type OID) pairs.
void row_description(std::string& out, const std::vector<std::pair<std::string, int32_t>>& columns);
// A DataRow of text values (nullopt = NULL).
void data_row(std::string& out, const std::vector<std::optional<std::string>>& values);
// NegotiateProtocolVersion ('v'): the newest version pgtenant supports for the client's major
// version (the whole version code, 3.0 = 196608, as PostgreSQL sends it) and the "_pq_."
// options it does not recognise.
void negotiate_protocol_version(std::string& out, int32_t newest_version,
                                const std::vector<std::string>& unrecognised_options);

}  // namespace pgtenant::protocol::build
