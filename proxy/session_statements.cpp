// Named prepared statements in transaction pooling: the client's names map to server names
// by text and parameter types, prepared on whichever connection a transaction lands on.
#include <spdlog/spdlog.h>

#include "protocol/builders.h"
#include "protocol/wire.h"
#include "proxy/session.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
using protocol::Origin;
using protocol::Request;

// Forwards one client message, translating named prepared statements to their server names
// and preparing them on this connection first when it lacks them (DESIGN §4).
void Session::send_client_message(char tag, std::string_view msg) {
    auto& conn = *server_;
    auto& tracker = conn.tracker();
    const std::string_view body = msg.substr(5);
    Request r;
    request_for_tag(tag, r);
    switch (tag) {
        case 'P': {
            auto p = protocol::decode_parse(body);
            if (!p || p->name.empty()) break;  // the unnamed statement is the client's own
            const auto& s = statements_.add(std::string(p->name), p->query, p->param_types);
            if (conn.statements().has(s.server_name)) {
                // Already here: the client still gets its ParseComplete, from a no-op Parse.
                build::close(to_server_, 'S', kNoopStatement);
                tracker.sent(Request::close, Origin::injected);
                build::parse(to_server_, kNoopStatement, "");
                pending_parses_.push_back({std::string(p->name), s.server_name, false});
            } else {
                if (auto victim = conn.statements().add(s.server_name)) close_on_server(*victim);
                build::parse(to_server_, s.server_name, s.query, s.param_types);
                pending_parses_.push_back({std::string(p->name), s.server_name, true});
            }
            tracker.sent(Request::parse);
            return;
        }
        case 'B': {
            protocol::MessageReader reader(body);
            reader.cstring();
            auto name = reader.cstring();
            const PreparedStatement* s = reader.ok() && !name.empty() ? statements_.find(name) : nullptr;
            if (!s) break;  // unnamed or unknown: the server answers as it would directly
            prepare_on_server(*s);
            build::rebind(to_server_, body, s->server_name);
            tracker.sent(r);
            return;
        }
        case 'D':
        case 'C': {
            protocol::MessageReader reader(body);
            char kind = static_cast<char>(reader.byte());
            auto name = reader.cstring();
            if (!reader.ok() || kind != 'S' || name.empty()) break;
            if (tag == 'C') {
                // The server copy stays for other clients; the client gets its CloseComplete.
                statements_.remove(name);
                build::close(to_server_, 'S', kNoneStatement);
                tracker.sent(r);
                return;
            }
            const PreparedStatement* s = statements_.find(name);
            if (!s) break;
            prepare_on_server(*s);
            build::describe(to_server_, 'S', s->server_name);
            tracker.sent(r);
            return;
        }
        default:
            break;
    }
    to_server_.append(msg);
    tracker.sent(r);
}

void Session::prepare_on_server(const PreparedStatement& s) {
    auto& conn = *server_;
    if (conn.statements().has(s.server_name)) return;
    if (auto victim = conn.statements().add(s.server_name)) close_on_server(*victim);
    build::parse(to_server_, s.server_name, s.query, s.param_types);
    conn.tracker().sent(Request::parse, Origin::hidden);
    pending_parses_.push_back({std::string(), s.server_name, true});
}

void Session::close_on_server(const std::string& server_name) {
    build::close(to_server_, 'S', server_name);
    server_->tracker().sent(Request::close, Origin::injected);
}

// A Parse this session sent failed (or was skipped after an earlier error): the statements
// it was to create do not exist, on the server or, for a client Parse, for the client.
void Session::forget_pending_parses(ServerConnection& conn) {
    for (const auto& p : pending_parses_) {
        if (p.created) conn.statements().erase(p.server_name);
        if (!p.client_name.empty()) statements_.remove(p.client_name);
    }
    pending_parses_.clear();
}

}  // namespace pgtenant::proxy
