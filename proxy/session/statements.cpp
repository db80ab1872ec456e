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
        if (tag == 'Q' && sql_prepared_.kind != SqlPrepared::Kind::none) {
            forward_sql_prepared(m);
            co_return;
        }
        switch (tag) {
            case 'P':
                if (m.name.empty()) {
                    unnamed_.exists = true;
                    unnamed_.query.assign(m.text);
                    unnamed_.param_types.assign(m.param_types.begin(), m.param_types.end());
                    unnamed_.binding = parse_binding_;
                    ++unnamed_.generation;
                    to_server_.append(m.bytes);
                    parse_unnamed(Origin::client);
                    co_return;
                }
                if (statements_.find(m.name)) {
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
                prepare_on_server(m.name,
                                  statements_.add(std::string(m.name), m.text, m.param_types),
                                  Origin::client);
                co_return;
            case 'B': {
                if (m.names_read && m.name.empty() && !unnamed_ready(m)) co_return;
                const auto* s =
                    m.names_read && !m.name.empty() ? statements_.find(m.name) : nullptr;
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
                        forget_unnamed();
                    } else if (!unnamed_ready(m)) {
                        co_return;
                    }
                    break;
                }
                if (tag == 'C') {
                    // The server copy stays for other clients; the client gets its CloseComplete.
                    statements_.remove(m.name);
                    build::close(to_server_, 'S', kNoneStatement);
                    tracker.sent(r);
                    co_return;
                }
                if (!statements_.find(m.name)) break;
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
    const PreparedStatement& s = *statements_.find(m.name);
    if (ready_here(s)) {  // the usual case: nothing to prepare or wait for
        forward_use(m, s.server_name);
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
    forward_use(m, server_name);
}

// The client's Bind or Describe of a statement, for its server copy `server_name`.
void Session::forward_use(const protocol::ClientMessage& m, const std::string& server_name) {
    if (m.tag == 'B') {
        build::rebind(to_server_, m.body(), server_name);
        send_tracked(Request::bind, Origin::client, {Tracked::Kind::use, server_name});
    } else {
        build::describe(to_server_, 'S', server_name);
        send_tracked(Request::describe, Origin::client, {Tracked::Kind::use, server_name});
    }
}

// Whether the client's statement must keep its result shape here: when it has one, and not in
// a failed transaction (there the server answers 25P02 to the Bind, or to the Parse of a
// re-prepare, before any result type is compared).
bool Session::shape_matters(const PreparedStatement& s) const {
    return s.shape && conv_.block() != Conversation::Block::failed;
}

// Whether this connection's copy of `s` can be used as it is: prepared here, and with the
// client's shape when that matters.
bool Session::ready_here(const PreparedStatement& s) {
    auto& here = server_->statements();
    if (!here.has(s.server_name)) return false;
    if (!shape_matters(s)) return true;
    auto have = here.shape(s.server_name);
    return !have || *have == *s.shape;
}

// Makes the client's statement usable on this connection when its copy here is not
// (ready_here(): a copy prepared with the client's shape is used as it is, and the server
// itself fails it if DDL changed its columns). The copy is prepared afresh; when the client's
// shape is known, the serve loop waits for the new copy's shape and refuses the client's
// message if it differs.
awaitable<Session::Readiness> Session::ready_on_server(std::string_view client_name,
                                                       const PreparedStatement& s,
                                                       std::string& parameters) {
    const auto want = s.shape;
    const bool check = shape_matters(s);
    const auto describe = prepare_on_server(client_name, s, Origin::hidden);
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

// Appends a Parse of `s` and a hidden Describe learning its shape, closing first whatever
// copy or least recently used statement must make room. Returns the Describe's cookie.
protocol::Cookie Session::prepare_on_server(std::string_view client_name,
                                            const PreparedStatement& s, Origin origin) {
    if (s.sql) {
        prepare_sql_on_server(s, origin);
    } else {
        add_on_server(s.server_name);
        build::parse(to_server_, s.server_name, s.query, s.param_types);
        // A client's Parse that fails leaves the client without the statement; a re-prepare
        // that fails leaves it as PostgreSQL would: existing, and failing when used.
        send_tracked(Request::parse, origin,
                     {Tracked::Kind::parse, s.server_name,
                      origin == Origin::client ? std::string(client_name) : "", s.id});
    }
    build::describe(to_server_, 'S', s.server_name);
    return send_tracked(Request::describe, Origin::hidden,
                        {Tracked::Kind::describe, s.server_name, std::string(client_name), s.id});
}

// Sends what is pending and waits for the answer to the hidden Describe `describe`.
awaitable<Session::ShapeCheck> Session::current_shape(protocol::Cookie describe) {
    if (describe == 0) co_return ShapeCheck{};  // not sent: the server skips to the Sync
    build::flush(to_server_);                   // the server holds replies back until asked
    shape_check_ = std::make_unique<ShapeCheck>(ShapeCheck{describe});
    auto* conn = server_.get();
    co_await flush_to_server();
    while (server_.get() == conn && !shape_check_->done) co_await wait_relay();
    ShapeCheck result = std::move(*shape_check_);
    shape_check_.reset();
    co_return result;
}

// Before a Bind or Describe of the unnamed statement: the connection must hold the client's own
// (another client's may be there). False when the client has none: the server is made to fail
// the message as PostgreSQL would.
bool Session::unnamed_ready(const protocol::ClientMessage& m) {
    if (!unnamed_.exists) {
        refuse_via_server(m, errors::unnamed_statement_missing());
        return false;
    }
    if (server_->unnamed_owner() == std::pair(id_, unnamed_.generation)) return true;
    build::parse(to_server_, {}, unnamed_.query, unnamed_.param_types);
    parse_unnamed(Origin::hidden);
    return true;
}

// Records the Parse of the client's unnamed statement just appended (the client's own, or
// pgtenant's on its behalf): this connection holds it, unless the Parse fails.
void Session::parse_unnamed(Origin origin) {
    unnamed_.parse = conv_.next_cookie();
    server_->tracker().sent(Request::parse, origin, unnamed_.parse);
    server_->unnamed_owner() = {id_, unnamed_.generation};
}

void Session::forget_unnamed() {
    unnamed_.exists = false;
    if (server_) server_->unnamed_owner() = {0, 0};
}

void Session::add_on_server(const std::string& server_name) {
    std::vector<std::string> close_first;
    server_->statements().add(server_name, close_first);
    for (const auto& name : close_first) close_on_server(name);
}

void Session::close_on_server(const std::string& server_name) {
    build::close(to_server_, 'S', server_name);
    if (!send_tracked(Request::close, Origin::injected, {Tracked::Kind::close, server_name}))
        server_->statements().mark_broken(server_name);  // the server skips it
}

}  // namespace pgtenant::proxy
