// The client's prepared statements in transaction pooling, as Conversation keeps them: named
// ones map to server names by text and parameter types and are prepared on whichever
// connection a transaction lands on; the unnamed one is the client's own; SQL-level ones run as
// PREPARE / EXECUTE of their server names. Requests whose answers update this bookkeeping
// carry a cookie through the connection's ReplyTracker, and settle() hands each reply back.
// Nothing here does I/O: what is sent is appended to the leased connection's output.
#include "protocol/builders.h"
#include "protocol/wire.h"
#include "proxy/session/conversation.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
using protocol::Cookie;
using protocol::Origin;
using protocol::Request;

namespace {
// A statement the server must reject (at parse analysis, so a Parse of it fails too): the
// vehicle for pgtenant's own refusals while a server connection is in use, so transaction state
// stays the server's. It names pgtenant in the server's log, where it shows as an error; no role
// can create a relation in pg_catalog to make it succeed.
constexpr std::string_view kRefusedText =
    "SELECT FROM pg_catalog.\"pgtenant refused this statement (reason in pgtenant log)\"";

// `text` with the statement name at `span` replaced by `server_name`.
std::string with_name(std::string_view text, protocol::TextSpan span,
                      std::string_view server_name) {
    std::string out;
    out.reserve(text.size() + server_name.size());
    out.append(text.substr(0, span.offset));
    out.append(server_name);
    out.append(text.substr(span.offset + span.length));
    return out;
}
}  // namespace

// --- requests with bookkeeping ---

Cookie Conversation::send_tracked(Request r, Origin origin, Tracked t) {
    const Cookie cookie = next_cookie();
    if (!server_->tracker().sent(r, origin, cookie)) return 0;
    tracked_.emplace(cookie, std::move(t));
    return cookie;
}

void Conversation::settle(const protocol::ReplyTracker::Reply& reply, char tag,
                          std::string_view body) {
    if (!reply.completes && tag == 't' && shape_check_ && shape_check_->cookie == reply.cookie) {
        protocol::MessageWriter(shape_check_->parameters).begin('t').bytes(body).end();
    }
    if (reply.completes && reply.cookie != 0 && tag != 'E') {
        if (auto it = tracked_.find(reply.cookie); it != tracked_.end()) {
            if (it->second.kind == Tracked::Kind::describe)
                learn_shape(it->second, reply.cookie, protocol::row_shape(tag, body));
            tracked_.erase(it);
        }
    }
    for (Cookie cookie : server_->tracker().failed()) settle_failed(cookie, reply, tag, body);
    // A simple Query's error (the Query completes only at its ReadyForQuery): a SQL-level
    // PREPARE or EXECUTE failed, as the extended-protocol requests the tracker lists.
    if (tag == 'E' && !reply.completes && reply.cookie != 0)
        settle_failed(reply.cookie, reply, tag, body);
}

// Request `cookie` ended without success: failed (`reply` is its error) or skipped.
void Conversation::settle_failed(Cookie cookie, const protocol::ReplyTracker::Reply& reply,
                                 char tag, std::string_view body) {
    if (cookie == unnamed_.parse) {
        // Failed: PostgreSQL dropped the old one first, so the client has none.
        unnamed_.exists = false;
        server_->unnamed_owner() = {0, 0};
    }
    auto it = tracked_.find(cookie);
    if (it == tracked_.end()) return;
    const Tracked& t = it->second;
    switch (t.kind) {
        case Tracked::Kind::parse:
            // Failed, or skipped after an error together with the Close before it: an
            // earlier copy may still be there. Either way the client's statement is not.
            server_->statements().mark_broken(t.server_name);
            if (!t.client_name.empty()) statements_.remove(t.client_name, t.client_id);
            break;
        case Tracked::Kind::describe:
            learn_shape(t, cookie, std::nullopt);
            break;
        case Tracked::Kind::use:
            if (cookie == reply.cookie && tag == 'E') {
                // 0A000 here is "cached plan must not change result type" (or another
                // unsupported feature: re-preparing costs nothing then). The copy stays
                // broken on this connection: prepare it afresh before the next use.
                auto e = protocol::decode_error_fields(body);
                if (e && e->sqlstate() == "0A000") server_->statements().mark_broken(t.server_name);
            }
            break;
        case Tracked::Kind::close:
            server_->statements().mark_broken(t.server_name);  // skipped: still there
            break;
        case Tracked::Kind::refusal:
            break;
    }
    tracked_.erase(it);
}

// A hidden Describe was answered (`shape`) or ended unanswered (nullopt).
void Conversation::learn_shape(const Tracked& t, Cookie cookie,
                               std::optional<protocol::RowShape> shape) {
    if (shape) {
        server_->statements().set_shape(t.server_name, *shape);
        if (!t.client_name.empty()) statements_.learn_shape(t.client_name, t.client_id, *shape);
    }
    if (shape_check_ && shape_check_->cookie == cookie) {
        shape_check_->done = true;
        shape_check_->shape = shape;
        wake_ = true;  // the serve loop waits for this one
    }
}

bool Conversation::take_refusal(Cookie cookie, bool failed_block, std::string& out) {
    auto it = tracked_.find(cookie);
    if (it == tracked_.end() || it->second.kind != Tracked::Kind::refusal) return false;
    if (failed_block && !it->second.refusal->outranks_failed_block) return false;
    out.append(it->second.refusal->preamble);
    protocol::encode_error(out, it->second.refusal->error);
    return true;
}

void Conversation::forget_tracked() {
    for (const auto& [cookie, t] : tracked_) {
        if (t.kind != Tracked::Kind::parse) continue;
        server_->statements().erase(t.server_name);
        if (!t.client_name.empty()) statements_.remove(t.client_name, t.client_id);
    }
    tracked_.clear();
    if (shape_check_) shape_check_->done = true;
}

void Conversation::substitute(const protocol::ClientMessage& m, protocol::Error refusal,
                              std::string preamble, bool outranks_failed_block) {
    std::string& out = *out_;
    Request r;
    if (m.tag == 'Q' || m.tag == 'F') {  // both are answered by an error, then ReadyForQuery
        build::query(out, kRefusedText);
        r = Request::query;
    } else if (m.tag == 'P') {
        build::parse(out, m.name, kRefusedText);
        r = Request::parse;
    } else {
        // Bind, Describe: a Describe of a statement that never exists fails and changes nothing.
        build::describe(out, 'S', kNoneStatement);
        r = Request::describe;
    }
    // Not recorded when the server already skips to the Sync: it ignores the substitute, as it
    // would the client's message.
    send_tracked(r, Origin::substitute,
                 {Tracked::Kind::refusal,
                  {},
                  {},
                  0,
                  std::make_unique<Tracked::Refusal>(Tracked::Refusal{
                      std::move(refusal), std::move(preamble), outranks_failed_block})});
}

// --- named statements ---

// Whether the client's statement must keep its result shape here: when it has one, and not in
// a failed transaction (there the server answers 25P02 to the Bind, or to the Parse of a
// re-prepare, before any result type is compared).
bool Conversation::shape_matters(const PreparedStatement& s) const {
    return s.shape && block_ != Block::failed;
}

// Prepared here, and with the client's shape when that matters.
bool Conversation::ready_here(const PreparedStatement& s) {
    auto& here = server_->statements();
    if (!here.has(s.server_name)) return false;
    if (!shape_matters(s)) return true;
    auto have = here.shape(s.server_name);
    return !have || *have == *s.shape;
}

Cookie Conversation::prepare_on_server(std::string_view client_name, const PreparedStatement& s,
                                       Origin origin) {
    if (s.sql) {
        prepare_sql_on_server(s, origin);
    } else {
        add_on_server(s.server_name);
        build::parse(*out_, s.server_name, s.query, s.param_types);
        // A client's Parse that fails leaves the client without the statement; a re-prepare
        // that fails leaves it as PostgreSQL would: existing, and failing when used.
        send_tracked(Request::parse, origin,
                     {Tracked::Kind::parse, s.server_name,
                      origin == Origin::client ? std::string(client_name) : "", s.id});
    }
    build::describe(*out_, 'S', s.server_name);
    return send_tracked(Request::describe, Origin::hidden,
                        {Tracked::Kind::describe, s.server_name, std::string(client_name), s.id});
}

void Conversation::forward_use(const protocol::ClientMessage& m, const std::string& server_name) {
    if (m.tag == 'B') {
        build::rebind(*out_, m.body(), server_name);
        send_tracked(Request::bind, Origin::client, {Tracked::Kind::use, server_name});
    } else {
        build::describe(*out_, 'S', server_name);
        send_tracked(Request::describe, Origin::client, {Tracked::Kind::use, server_name});
    }
}

void Conversation::add_on_server(const std::string& server_name) {
    std::vector<std::string> close_first;
    server_->statements().add(server_name, close_first);
    for (const auto& name : close_first) close_on_server(name);
}

void Conversation::close_on_server(const std::string& server_name) {
    build::close(*out_, 'S', server_name);
    if (!send_tracked(Request::close, Origin::injected, {Tracked::Kind::close, server_name}))
        server_->statements().mark_broken(server_name);  // the server skips it
}

void Conversation::start_shape_check(Cookie describe) {
    shape_check_ = std::make_unique<ShapeCheck>(ShapeCheck{describe});
}

Conversation::ShapeCheck Conversation::take_shape_check() {
    ShapeCheck result = std::move(*shape_check_);
    shape_check_.reset();
    return result;
}

// --- the unnamed statement ---

void Conversation::parse_unnamed(const protocol::ClientMessage& m, Binding binding,
                                 uint8_t effects) {
    unnamed_.exists = true;
    unnamed_.effects = effects;
    unnamed_.query.assign(m.text);
    unnamed_.param_types.assign(m.param_types.begin(), m.param_types.end());
    unnamed_.binding = binding;
    ++unnamed_.generation;
    out_->append(m.bytes);
    record_unnamed_parse(Origin::client);
}

std::optional<Conversation::Binding> Conversation::unnamed_binding() const {
    if (!unnamed_.exists) return std::nullopt;
    return unnamed_.binding;
}

bool Conversation::unnamed_ready() {
    if (!unnamed_.exists) return false;
    if (server_->unnamed_owner() == std::pair(session_id_, unnamed_.generation)) return true;
    build::parse(*out_, {}, unnamed_.query, unnamed_.param_types);
    record_unnamed_parse(Origin::hidden);
    return true;
}

// The Parse of the client's unnamed statement just appended (the client's own, or pgtenant's
// on its behalf): this connection holds it, unless the Parse fails.
void Conversation::record_unnamed_parse(Origin origin) {
    unnamed_.parse = next_cookie();
    server_->tracker().sent(Request::parse, origin, unnamed_.parse);
    server_->unnamed_owner() = {session_id_, unnamed_.generation};
}

void Conversation::forget_unnamed() {
    unnamed_.exists = false;
    if (server_) server_->unnamed_owner() = {0, 0};
}

// --- SQL-level statements ---

bool Conversation::forward_sql_prepared(const protocol::ClientMessage& m, const SqlPrepared& sql) {
    const std::string_view text = m.text;
    const auto span = sql.span;
    if (sql.kind == SqlPrepared::Kind::prepare) {
        const auto& s = statements_.add(sql.name, text.substr(span.offset + span.length), {}, true);
        add_on_server(s.server_name);
        build::query(*out_, with_name(text, span, s.server_name));
        // Failed: the client has no such statement, as on PostgreSQL.
        send_tracked(Request::query, Origin::client,
                     {Tracked::Kind::parse, s.server_name, sql.name, s.id});
        return true;
    }
    const PreparedStatement* s = statements_.find(sql.name);
    if (!s) return false;  // not expected: it was there when the EXECUTE was read
    build::query(*out_, with_name(text, span, s->server_name));
    send_tracked(Request::query, Origin::client, {Tracked::Kind::use, s->server_name});
    return true;
}

void Conversation::append_sql_prepare(const std::string& server_name, std::string_view tail,
                                      Origin origin, bool tracked) {
    auto& tracker = server_->tracker();
    std::string text = "PREPARE ";
    text.append(server_name).append(tail);
    build::parse(*out_, {}, text);
    tracker.sent(Request::parse, origin);
    server_->unnamed_owner() = {0, 0};
    build::bind_portal(*out_, kBindPortal, {}, {});
    tracker.sent(Request::bind, origin);
    build::execute(*out_, kBindPortal);
    if (tracked) {
        send_tracked(Request::execute, origin, {Tracked::Kind::parse, server_name});
    } else {
        tracker.sent(Request::execute, origin);
    }
    build::close(*out_, 'P', kBindPortal);
    tracker.sent(Request::close, Origin::injected);
}

// A server copy of SQL-level statement `s`. Failed, it leaves the statement broken here, as a
// failed Parse would.
void Conversation::prepare_sql_on_server(const PreparedStatement& s, Origin origin) {
    add_on_server(s.server_name);
    append_sql_prepare(s.server_name, s.query, origin, true);
}

}  // namespace pgtenant::proxy
