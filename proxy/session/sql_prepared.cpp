// SQL-level prepared statements in transaction pooling: PREPARE, EXECUTE and DEALLOCATE sent
// as SQL (psycopg2 applications, raw-SQL paths of ORMs) work as protocol-level ones do. The
// client's names are its own; on the server a statement is named after its text ("pgt_<hash>"
// of everything after the name), so PREPARE q ... runs there as PREPARE pgt_<hash> ..., and
// EXECUTE q (...) as EXECUTE pgt_<hash> (...), prepared first on a connection that lacks it.
// DEALLOCATE is answered by pgtenant (conversation_decide.cpp), as for protocol-level
// statements; the rewriting is Conversation's (conversation_statements.cpp). Here: the round
// trip some of them need first.
//
// Only each alone in a simple Query: anywhere else pgtenant cannot put the server name in
// the text or the statement on the connection in time, and refuses (0A000).
#include <spdlog/spdlog.h>

#include "protocol/builders.h"
#include "protocol/messages.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
namespace errors = protocol::errors;
using protocol::Origin;
using protocol::Request;

// Before the client's PREPARE or EXECUTE is sent, what the server must answer first, in a
// round trip of its own: for an EXECUTE on a connection that lacks the statement, its PREPARE
// there (the EXECUTE's text must find it); for a PREPARE of a name the client already uses,
// the statement under a name nobody uses (PostgreSQL analyses the statement before it finds
// the name taken). `refusal` is then the client's error, as PostgreSQL would give it. False
// when the server connection was lost meanwhile (the client has its error).
awaitable<bool> Session::sql_prepared_checked(const protocol::ClientMessage& m,
                                              std::optional<protocol::Error>& refusal,
                                              bool& outranks_failed_block) {
    const bool prepare = decision_.sql_prepared.kind == Conversation::SqlPrepared::Kind::prepare;
    const PreparedStatement* s = conv_.statements().find(decision_.sql_prepared.name);
    std::optional<protocol::RowShape> want;
    std::string server_name;
    if (prepare) {
        if (!s) co_return true;
        const std::string_view text = m.text;
        const auto& span = decision_.sql_prepared.span;
        conv_.append_sql_prepare(std::string(kNoneStatement),
                                 text.substr(span.offset + span.length), Origin::probe, false);
        build::close(to_server_, 'S', kNoneStatement);
        server_->tracker().sent(Request::close, Origin::injected);
    } else {
        if (conv_.ready_here(*s)) co_return true;
        want = conv_.shape_matters(*s) ? s->shape : std::nullopt;
        server_name = s->server_name;
        conv_.prepare_on_server({}, *s, Origin::probe);
    }
    if (!co_await probe_round_trip('Q', "while preparing a statement")) co_return false;
    if (auto e = conv_.take_probe_error()) {
        refusal = std::move(*e);
        outranks_failed_block = true;  // the failure the server's 25P02 is about
    } else if (prepare) {
        refusal = errors::statement_exists(decision_.sql_prepared.name);
    } else if (auto now = server_->statements().shape(server_name); want && now && *now != *want) {
        refusal = errors::cached_plan_changed();
    }
    co_return true;
}

}  // namespace pgtenant::proxy
