// Named prepared statements in transaction pooling: the client's names map to server names
// by text and parameter types, prepared on whichever connection a transaction lands on.
//
// After DDL, PostgreSQL fails a prepared statement whose result columns changed since it was
// prepared (0A000 "cached plan must not change result type"), and drivers that cache the
// columns (pgJDBC) rely on it. A server copy prepared here on the client's behalf would not,
// so every statement's result shape is recorded when prepared (a Describe in the same write),
// and a copy prepared since with another shape makes the client's Bind fail as it would on
// PostgreSQL. That costs one round trip, only when a connection must prepare a statement the
// client already has.
#include <spdlog/spdlog.h>

#include "protocol/builders.h"
#include "protocol/wire.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
namespace errors = protocol::errors;
using protocol::Origin;
using protocol::Request;

// Forwards one client message, translating named prepared statements to their server names
// and preparing them on this connection first when it lacks them (DESIGN §4).
awaitable<void> Session::send_client_message(const protocol::ClientMessage& m) {
    auto& tracker = server_->tracker();
    const char tag = m.tag;
    Request r;
    request_for_tag(tag, r);
    if (!tracker.skipping_to_sync()) {
        if (tag == 'Q' && decision_.sql_prepared.kind != Conversation::SqlPrepared::Kind::none) {
            forward_sql_prepared(m);
            co_return;
        }
        switch (tag) {
            case 'P':
                if (m.name.empty()) {
                    conv_.parse_unnamed(m, decision_.binding);
                    co_return;
                }
                if (conv_.statements().find(m.name)) {
                    // The name is taken. PostgreSQL checks the text first (syntax, 25P02 in a
                    // failed transaction, analysis) and the name last: the server checks the
                    // text under a name nobody uses, then the client gets 42P05.
                    build::parse(to_server_, kNoneStatement, m.text, m.param_types);
                    tracker.sent(Request::parse, Origin::hidden);
                    build::close(to_server_, 'S', kNoneStatement);
                    tracker.sent(Request::close, Origin::injected);
                    refuse_via_server(m, errors::statement_exists(m.name));
                    co_return;
                }
                // Always prepared afresh, even when this connection has a copy: the client's
                // statement gets today's shape, as on PostgreSQL, whatever DDL ran since.
                conv_.prepare_on_server(
                    m.name, conv_.statements().add(std::string(m.name), m.text, m.param_types),
                    Origin::client);
                co_return;
            case 'B': {
                if (m.names_read && m.name.empty() && !unnamed_ready(m)) co_return;
                const auto* s =
                    m.names_read && !m.name.empty() ? conv_.statements().find(m.name) : nullptr;
                if (!s) break;
                conv_.note_may_begin(s->may_begin);
                co_await use_statement(m);
                co_return;
            }
            case 'D':
            case 'C':
                if (!m.names_read || m.kind != 'S') break;
                if (m.name.empty()) {
                    if (tag == 'C') {
                        conv_.forget_unnamed();
                    } else if (!unnamed_ready(m)) {
                        co_return;
                    }
                    break;
                }
                if (tag == 'C') {
                    // The server copy stays for other clients; the client gets its CloseComplete.
                    conv_.statements().remove(m.name);
                    build::close(to_server_, 'S', kNoneStatement);
                    tracker.sent(r);
                    co_return;
                }
                if (!conv_.statements().find(m.name)) break;
                co_await use_statement(m);
                co_return;
            default:
                break;
        }
    }
    // Unnamed or unknown statements, portals, and everything the server is skipping after an
    // error: the server answers as it would directly.
    to_server_.append(m.bytes);
    tracker.sent(r);
}

// A Bind or Describe of the client's statement m.name (which exists).
awaitable<void> Session::use_statement(const protocol::ClientMessage& m) {
    const PreparedStatement& s = *conv_.statements().find(m.name);
    if (conv_.ready_here(s)) {  // the usual case: nothing to prepare or wait for
        conv_.forward_use(m, s.server_name);
        co_return;
    }
    const std::string server_name = s.server_name;
    std::string parameters;
    switch (co_await ready_on_server(m.name, s, parameters)) {  // `s` may be gone after this
        case Readiness::gone:
            co_return;
        case Readiness::refused:
            // PostgreSQL describes a statement's parameters before it finds its result changed.
            refuse_via_server(m, errors::cached_plan_changed(), m.tag == 'D' ? parameters : "");
            co_return;
        case Readiness::ready:
            break;
    }
    conv_.forward_use(m, server_name);
}

// Makes the client's statement usable on this connection when its copy here is not
// (conv_.ready_here(): a copy prepared with the client's shape is used as it is, and the server
// itself fails it if DDL changed its columns). The copy is prepared afresh; when the client's
// shape is known, the serve loop waits for the new copy's shape and refuses the client's
// message if it differs.
awaitable<Session::Readiness> Session::ready_on_server(std::string_view client_name,
                                                       const PreparedStatement& s,
                                                       std::string& parameters) {
    const auto want = s.shape;
    const bool check = conv_.shape_matters(s);
    const auto describe = conv_.prepare_on_server(client_name, s, Origin::hidden);
    if (!check) co_return Readiness::ready;
    auto now = co_await current_shape(describe);
    if (!server_) co_return Readiness::gone;
    // No shape: the re-prepare failed and the client has that error; the server skips the rest.
    if (!now.shape || *now.shape == *want) co_return Readiness::ready;
    parameters = std::move(now.parameters);
    spdlog::debug("{} statement \"{}\" changed its result columns since the client prepared it",
                  prefix(), client_name);
    co_return Readiness::refused;
}

// Sends what is pending and waits for the answer to the hidden Describe `describe`.
awaitable<Conversation::ShapeCheck> Session::current_shape(protocol::Cookie describe) {
    // Not sent: the server skips to the Sync.
    if (describe == 0) co_return Conversation::ShapeCheck{};
    build::flush(to_server_);  // the server holds replies back until asked
    conv_.start_shape_check(describe);
    auto* conn = server_.get();
    co_await flush_to_server();
    while (server_.get() == conn && !conv_.shape_check_done()) co_await wait_relay();
    co_return conv_.take_shape_check();
}

// Before a Bind or Describe of the unnamed statement: the connection must hold the client's own
// (another client's may be there). False when the client has none: the server is made to fail
// the message as PostgreSQL would.
bool Session::unnamed_ready(const protocol::ClientMessage& m) {
    if (conv_.unnamed_ready()) return true;
    refuse_via_server(m, errors::unnamed_statement_missing());
    return false;
}

}  // namespace pgtenant::proxy
