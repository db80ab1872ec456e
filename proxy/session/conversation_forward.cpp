// A client message on its way to the server connection: named prepared statements translated
// to their server names and prepared first where the connection lacks them (DESIGN §4), the
// client's unnamed statement kept its own, SQL-level PREPARE / EXECUTE rewritten. Nothing here
// waits: where the serve loop must learn a statement's current shape first, forward() says so,
// and finish_use() goes on with the answer.
//
// After DDL, PostgreSQL fails a prepared statement whose result columns changed since it was
// prepared (0A000 "cached plan must not change result type"), and drivers that cache the
// columns (pgJDBC) rely on it. A server copy prepared here on the client's behalf would not,
// so every statement's result shape is recorded when prepared (a Describe in the same write),
// and a copy prepared since with another shape makes the client's Bind fail as it would on
// PostgreSQL. That costs one round trip, only when a connection must prepare a statement the
// client already has.
#include "protocol/builders.h"
#include "proxy/session/conversation.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
namespace errors = protocol::errors;
using protocol::Origin;
using protocol::Request;

Conversation::Forwarded Conversation::forward(const protocol::ClientMessage& m, const Decision& d) {
    auto& tracker = server_->tracker();
    std::string& out = *out_;
    const char tag = m.tag;
    Request r;
    request_for_tag(tag, r);
    if (!tracker.skipping_to_sync()) {
        if (tag == 'Q' && d.sql_prepared.kind != SqlPrepared::Kind::none) {
            if (forward_sql_prepared(m, d.sql_prepared)) return {};
            // Not expected: the statement was there when the EXECUTE was read.
            return refuse(m, errors::statement_missing(d.sql_prepared.name));
        }
        switch (tag) {
            case 'P':
                if (m.name.empty()) {
                    parse_unnamed(m, d.binding, d.effects);
                    return {};
                }
                if (statements_.find(m.name)) {
                    // The name is taken. PostgreSQL checks the text first (syntax, 25P02 in a
                    // failed transaction, analysis) and the name last: the server checks the
                    // text under a name nobody uses, then the client gets 42P05.
                    build::parse(out, kNoneStatement, m.text, m.param_types);
                    tracker.sent(Request::parse, Origin::hidden);
                    build::close(out, 'S', kNoneStatement);
                    tracker.sent(Request::close, Origin::injected);
                    return refuse(m, errors::statement_exists(m.name));
                }
                // Always prepared afresh, even when this connection has a copy: the client's
                // statement gets today's shape, as on PostgreSQL, whatever DDL ran since.
                prepare_on_server(m.name,
                                  statements_.add(std::string(m.name), m.text, m.param_types,
                                                  false, d.effects),
                                  Origin::client);
                return {};
            case 'B': {
                if (m.names_read && m.name.empty() && !unnamed_ready())
                    return refuse(m, errors::unnamed_statement_missing());
                const auto* s =
                    m.names_read && !m.name.empty() ? statements_.find(m.name) : nullptr;
                if (!s) break;
                note_may_begin(s->may_begin);
                return use_statement(m, *s);
            }
            case 'D':
            case 'C':
                if (!m.names_read || m.kind != 'S') break;
                if (m.name.empty()) {
                    if (tag == 'C') {
                        forget_unnamed();
                    } else if (!unnamed_ready()) {
                        return refuse(m, errors::unnamed_statement_missing());
                    }
                    break;
                }
                if (tag == 'C') {
                    // The server copy stays for other clients; the client gets its CloseComplete.
                    statements_.remove(m.name);
                    build::close(out, 'S', kNoneStatement);
                    tracker.sent(r);
                    return {};
                }
                if (const auto* s = statements_.find(m.name)) return use_statement(m, *s);
                break;
            default:
                break;
        }
    }
    // Unnamed or unknown statements, portals, and everything the server is skipping after an
    // error: the server answers as it would directly.
    out.append(m.bytes);
    tracker.sent(r);
    return {};
}

// A Bind or Describe `m` of the client's statement `s`. A copy prepared here with the client's
// shape is used as it is (the server itself fails it if DDL changed its columns). Otherwise the
// copy is prepared afresh; when the client's shape matters, the serve loop must learn the new
// copy's shape before the client's message goes on (finish_use).
Conversation::Forwarded Conversation::use_statement(const protocol::ClientMessage& m,
                                                    const PreparedStatement& s) {
    if (ready_here(s)) {  // the usual case: nothing to prepare or wait for
        forward_use(m, s.server_name);
        return {};
    }
    const bool check = shape_matters(s);
    const auto describe = prepare_on_server(m.name, s, Origin::hidden);
    if (!check) {
        forward_use(m, s.server_name);
        return {};
    }
    pending_use_ = {s.server_name, *s.shape};
    return {Forwarded::Kind::shape_check, {}, describe};
}

Conversation::Forwarded Conversation::finish_use(const protocol::ClientMessage& m,
                                                 ShapeCheck check) {
    auto pending = std::move(pending_use_);
    // No shape: the re-prepare failed and the client has that error; the server skips the rest.
    if (!check.shape || *check.shape == pending.want) {
        forward_use(m, pending.server_name);
        return {};
    }
    // PostgreSQL describes a statement's parameters before it finds its result changed.
    return refuse(m, errors::cached_plan_changed(), m.tag == 'D' ? check.parameters : "");
}

Conversation::Forwarded Conversation::refuse(const protocol::ClientMessage& m,
                                             protocol::Error refusal, std::string preamble) {
    Forwarded f{Forwarded::Kind::refused, refusal};
    substitute(m, std::move(refusal), std::move(preamble));
    return f;
}

}  // namespace pgtenant::proxy
