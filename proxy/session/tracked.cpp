// Requests whose answers update the session's bookkeeping. Each carries a cookie through the
// connection's ReplyTracker; the relay hands every reply's cookie, and the cookies of requests
// an error ended unanswered, to settle(). Nothing here does I/O.
#include "protocol/messages.h"
#include "protocol/wire.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

using protocol::Cookie;

Cookie Session::send_tracked(protocol::Request r, protocol::Origin origin, Tracked t) {
    const Cookie cookie = conv_.next_cookie();
    if (!server_->tracker().sent(r, origin, cookie)) return 0;
    tracked_.emplace(cookie, std::move(t));
    return cookie;
}

void Session::settle(ServerConnection& conn, const protocol::ReplyTracker::Reply& reply, char tag,
                     std::string_view body) {
    if (!reply.completes && tag == 't' && shape_check_ && shape_check_->cookie == reply.cookie) {
        protocol::MessageWriter(shape_check_->parameters).begin('t').bytes(body).end();
    }
    if (reply.completes && reply.cookie != 0 && tag != 'E') {
        if (auto it = tracked_.find(reply.cookie); it != tracked_.end()) {
            if (it->second.kind == Tracked::Kind::describe)
                learn_shape(conn, it->second, reply.cookie, protocol::row_shape(tag, body));
            tracked_.erase(it);
        }
    }
    for (Cookie cookie : conn.tracker().failed()) settle_failed(conn, cookie, reply, tag, body);
    // A simple Query's error (the Query completes only at its ReadyForQuery): a SQL-level
    // PREPARE or EXECUTE failed, as the extended-protocol requests the tracker lists.
    if (tag == 'E' && !reply.completes && reply.cookie != 0)
        settle_failed(conn, reply.cookie, reply, tag, body);
}

// Request `cookie` ended without success: failed (`reply` is its error) or skipped.
void Session::settle_failed(ServerConnection& conn, Cookie cookie,
                            const protocol::ReplyTracker::Reply& reply, char tag,
                            std::string_view body) {
    if (cookie == unnamed_.parse) {
        // Failed: PostgreSQL dropped the old one first, so the client has none.
        unnamed_.exists = false;
        conn.unnamed_owner() = {0, 0};
    }
    auto it = tracked_.find(cookie);
    if (it == tracked_.end()) return;
    const Tracked& t = it->second;
    switch (t.kind) {
        case Tracked::Kind::parse:
            // Failed, or skipped after an error together with the Close before it: an
            // earlier copy may still be there. Either way the client's statement is not.
            conn.statements().mark_broken(t.server_name);
            if (!t.client_name.empty()) statements_.remove(t.client_name, t.client_id);
            break;
        case Tracked::Kind::describe:
            learn_shape(conn, t, cookie, std::nullopt);
            break;
        case Tracked::Kind::use:
            if (cookie == reply.cookie && tag == 'E') {
                // 0A000 here is "cached plan must not change result type" (or another
                // unsupported feature: re-preparing costs nothing then). The copy stays
                // broken on this connection: prepare it afresh before the next use.
                auto e = protocol::decode_error_fields(body);
                if (e && e->sqlstate() == "0A000") conn.statements().mark_broken(t.server_name);
            }
            break;
        case Tracked::Kind::close:
            conn.statements().mark_broken(t.server_name);  // skipped: still there
            break;
        case Tracked::Kind::refusal:
            break;
    }
    tracked_.erase(it);
}

// A hidden Describe was answered (`shape`) or ended unanswered (nullopt).
void Session::learn_shape(ServerConnection& conn, const Tracked& t, Cookie cookie,
                          std::optional<protocol::RowShape> shape) {
    if (shape) {
        conn.statements().set_shape(t.server_name, *shape);
        if (!t.client_name.empty()) statements_.learn_shape(t.client_name, t.client_id, *shape);
    }
    if (shape_check_ && shape_check_->cookie == cookie) {
        shape_check_->done = true;
        shape_check_->shape = shape;
        segment_done();  // the serve loop waits for this one
    }
}

bool Session::take_refusal(Cookie cookie, bool failed_block, std::string& out) {
    auto it = tracked_.find(cookie);
    if (it == tracked_.end() || it->second.kind != Tracked::Kind::refusal) return false;
    if (failed_block && !it->second.refusal->outranks_failed_block) return false;
    out.append(it->second.refusal->preamble);
    protocol::encode_error(out, it->second.refusal->error);
    return true;
}

// The connection is gone: nothing outstanding will be answered.
void Session::forget_tracked(ServerConnection& conn) {
    for (const auto& [cookie, t] : tracked_) {
        if (t.kind != Tracked::Kind::parse) continue;
        conn.statements().erase(t.server_name);
        if (!t.client_name.empty()) statements_.remove(t.client_name, t.client_id);
    }
    tracked_.clear();
    if (shape_check_) shape_check_->done = true;
}

}  // namespace pgtenant::proxy
