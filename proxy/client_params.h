#pragma once
// What a client may say in its StartupMessage (DESIGN §3.1). The practice never comes from here:
// reserved tenant names and session-identity settings are refused, ordinary settings are
// tracked so pgtenant can apply them on every server connection the client lands on.
#include <map>
#include <optional>
#include <string>

#include "protocol/errors.h"
#include "protocol/messages.h"

namespace pgtenant::proxy {

// Lower-cased setting name -> value, as the client wants them for its whole session.
using SessionParams = std::map<std::string, std::string>;

struct StartupRequest {
    std::string user;
    std::string database;
    SessionParams params;
};

// `tenant_setting` is the configured setting name (e.g. app.current_practice_id).
// Returns the error to send (and then close) when the request is refused.
std::optional<protocol::Error> parse_startup_request(const protocol::StartupMessage& msg,
                                                     const std::string& tenant_setting,
                                                     StartupRequest& out);

std::string lower(std::string_view s);

}  // namespace pgtenant::proxy
