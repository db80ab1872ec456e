// What becomes of a client message: the statement guard's verdict (protocol/guard: mistakes
// become visible errors, with a real SQLSTATE), where the practice binding goes in its
// transaction, the settings it writes, and what pgtenant answers itself.
#include "protocol/builders.h"
#include "proxy/session/conversation.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
namespace errors = protocol::errors;
namespace guard = protocol::guard;

Conversation::Decision Conversation::on_client_message(const protocol::ClientMessage& m,
                                                       const Policy& policy, std::string& local) {
    Decision d;
    if (m.tag == 'F') {
        d.refusal = guard::refuse_fast_path();
    } else if (m.tag == 'Q' || m.tag == 'P') {
        d.binding = decide_statement(m.tag, m.text, policy, d, local);
    } else if (m.tag == 'B') {
        d.binding = decide_bind(m, policy, d);
    }
    // A simple Query ends the unnamed statement, wherever it is answered.
    if (m.tag == 'Q') forget_unnamed();
    return d;
}

void Conversation::sent(const Decision& d) {
    note_writes(d.writes);
    if (server_) server_->effects() |= d.effects;
    if (!d.discards_statements || !server_) return;
    // The server runs the client's DEALLOCATE ALL / DISCARD ALL (or fails it where PostgreSQL
    // does): what it held is uncertain now, the client's statements are gone.
    server_->statements().mark_all_broken();
    server_->own_statements_lost() = true;
    if (block_ != Block::failed) statements_.clear();  // the unnamed one is not among them
}

// A Query's or Parse's statement text: where its transaction's binding goes, and its refusal
// when pgtenant refuses it.
Conversation::Binding Conversation::decide_statement(char tag, std::string_view sql,
                                                     const Policy& policy, Decision& d,
                                                     std::string& local) {
    const guard::Policy rules{policy.tenant_setting, policy.allow_maintenance,
                              policy.allow_explain_analyze, session_pooling_, tag == 'Q'};
    // Parsed to learn whether it takes a snapshot only while that matters. A Parse's text is
    // parsed to learn what it may leave in the session (cached by text, and prepared
    // statements repeat); a Query's only when parsed anyway (literals make each text new), as
    // is a text too long for the cache.
    const bool effects = tag == 'P' && sql.size() <= guard::kCachedTextBytes;
    auto v =
        policy.guard.judge(sql, rules, effects || (!bound_ && guard::may_be_snapshot_free(sql)));
    note_may_begin(v.facts.may_begin);
    if (v.refusal) {
        d.refusal = std::move(v.refusal);
        return Binding::before;
    }
    auto& c = v.facts;
    d.writes = std::move(c.settings);
    d.effects = c.effects;
    if (!c.deallocate_name.empty() && !session_pooling_) {
        return decide_deallocate(tag, c.deallocate_name, d, local);
    }
    if (v.sql_prepared_name) {
        // PREPARE or EXECUTE alone in a simple Query: pgtenant keeps the client's SQL-level
        // statements as it keeps protocol-level ones (sql_prepared.cpp).
        const bool prepare = !c.prepare_name.empty();
        std::string& name = prepare ? c.prepare_name : c.execute_name;
        if (!prepare && !statements_.find(name)) {
            d.refusal = errors::statement_missing(name);
        } else {
            using Kind = SqlPrepared::Kind;
            d.sql_prepared = {prepare ? Kind::prepare : Kind::execute, std::move(name),
                              *v.sql_prepared_name};
        }
        return Binding::before;
    }
    if (c.not_in_pipeline) return Binding::never;  // allowed by the policy, or refused above
    if (c.discard_all || c.deallocate_all) {
        if (auto binding = decide_discard(tag, c, d, local)) return *binding;
    }
    return c.snapshot_free ? Binding::deferred : Binding::before;
}

// DEALLOCATE of a prepared statement, protocol-level (psycopg 3 deallocates its own so) or
// SQL-level: the client's statement is forgotten; its server copies stay for other clients.
Conversation::Binding Conversation::decide_deallocate(char tag, const std::string& name,
                                                      Decision& d, std::string& local) {
    if (block_ == Block::failed) {
        d.refusal = errors::in_failed_transaction();
    } else if (!statements_.find(name)) {
        d.refusal = errors::statement_missing(name);
    } else if (tag == 'Q' && segment_ != Segment::open) {
        statements_.remove(name);
        build::command_complete(local, "DEALLOCATE");
        build::ready_for_query(local, server_ ? status() : 'I');
    } else {
        d.refusal = errors::not_supported_in_pooling(
            errors::Rule{"deallocate_in_pipeline"},
            "DEALLOCATE of a protocol-level statement other than on its own in a simple query");
    }
    return Binding::before;
}

// DISCARD ALL or DEALLOCATE ALL. On its own in a simple Query, it is answered here (nothing is
// outstanding on the server when a Query is handled): the client's session state lives in
// pgtenant, not on any one server connection. DISCARD ALL only outside a transaction block, as
// on PostgreSQL. Anywhere else the server runs it, and refuses it where PostgreSQL does.
// Returns the binding when it decides one.
std::optional<Conversation::Binding> Conversation::decide_discard(char tag, const guard::Facts& c,
                                                                  Decision& d, std::string& local) {
    const bool here =
        tag == 'Q' && c.statement_count == 1 && segment_ != Segment::open && !session_pooling_ &&
        (!server_ || block_ == Block::idle || (c.deallocate_all && block_ == Block::open));
    if (here) {
        if (c.discard_all) settings_.reset_all();
        statements_.clear();
        build::command_complete(local, c.discard_all ? "DISCARD ALL" : "DEALLOCATE ALL");
        build::ready_for_query(local, server_ ? status() : 'I');
        return Binding::before;
    }
    d.discards_statements = true;
    if (!c.discard_all) return std::nullopt;
    d.writes.reset_all = true;  // DISCARD ALL resets every setting
    return Binding::never;      // it may not run in a pipeline
}

// Where a Bind's statement puts the binding, as the statement's text says, and what it writes
// (a statement prepared in an earlier transaction writes its settings in this one).
Conversation::Binding Conversation::decide_bind(const protocol::ClientMessage& m,
                                                const Policy& policy, Decision& d) {
    if (!m.names_read) return Binding::before;
    if (m.name.empty()) {
        if (unnamed_.exists) d.effects = unnamed_.effects;
        return unnamed_binding().value_or(Binding::before);
    }
    const auto* s = statements_.find(m.name);
    if (!s) return Binding::before;
    auto c = policy.guard.facts(s->query, guard::may_be_snapshot_free(s->query));
    d.writes = std::move(c.settings);
    d.effects = s->effects;
    d.discards_statements = c.discard_all || c.deallocate_all;
    if (c.discard_all || c.not_in_pipeline) return Binding::never;  // allowed, or not prepared
    return c.snapshot_free ? Binding::deferred : Binding::before;
}

}  // namespace pgtenant::proxy
