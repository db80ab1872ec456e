#pragma once
// What a client session is, between transactions, when one pgtenant hands it over to its
// successor (a binary upgrade): the login, the practice, the client's settings, the values it was
// told, its prepared statements and its cancel key. With the client's socket, it is all the
// successor needs to go on serving the client as if nothing happened.
//
// Pure: a byte encoding and its decoder, no sockets. The decoder takes any bytes (they come from
// another process) and says nullopt for anything malformed.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/row_shape.h"
#include "proxy/client_params.h"

namespace pgtenant::proxy::handover {

struct StatementSnapshot {
    std::string name;   // the client's name for it
    std::string query;  // as the client prepared it (for SQL-level: "[(types)] AS body")
    std::vector<int32_t> param_types;
    std::optional<protocol::RowShape> shape;
    bool sql = false;  // prepared by PREPARE
};

struct UnnamedSnapshot {
    bool exists = false;
    std::string query;
    std::vector<int32_t> param_types;
    uint8_t binding = 0;  // Conversation::Binding
};

struct SessionSnapshot {
    std::string user;
    std::string practice;
    std::string database;
    bool from_lookup = false;  // the login came from tenant.directory_query
    SessionParams startup;     // the StartupMessage's settings
    SessionParams settings;    // the client's session settings now
    SessionParams told;        // reported settings the client was told values of its own for
    std::vector<StatementSnapshot> statements;
    UnnamedSnapshot unnamed;
    int32_t cancel_pid = 0;  // the BackendKeyData the client holds
    int32_t cancel_key = 0;
    int64_t connect_time_ms = 0;  // Unix time
    uint32_t transactions = 0;
    uint64_t old_session = 0;  // its number in the process it comes from (for the log)
    // What the client sent that the old process read but did not act on: the message that
    // would have begun a transaction there, and what came after it.
    std::string pending;
};

std::string encode(const SessionSnapshot& s);
std::optional<SessionSnapshot> decode(std::string_view bytes);

}  // namespace pgtenant::proxy::handover
