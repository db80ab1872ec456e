// What becomes of a client message: the statement guard (mistakes become visible errors, with
// a real SQLSTATE), where the practice binding goes in its transaction, the settings it writes,
// and what pgtenant answers itself. (Enforcement against a hostile client is the sealed
// context's job: no text check can see every way to call a function.)
#include <fmt/format.h>

#include "protocol/builders.h"
#include "proxy/session/conversation.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
namespace errors = protocol::errors;

Conversation::Decision Conversation::on_client_message(const protocol::ClientMessage& m,
                                                       const Policy& policy, std::string& local) {
    Decision d;
    if (m.tag == 'F') {
        // The fast-path interface calls any function by oid, out of sight of the statement
        // guard (set_config among them); drivers use it only for large objects.
        d.refusal = errors::refused_by_policy(errors::Rule{"fast_path"},
                                              "the fast-path function call interface is not served",
                                              "Call the function with SELECT instead.");
    } else if (m.tag == 'Q' || m.tag == 'P') {
        d.binding = decide_statement(m.tag, m.text, policy, d, local);
        note_may_begin(protocol::may_begin_block(m.text));
    } else if (m.tag == 'B') {
        d.binding = decide_bind(m, policy, d);
    }
    // A simple Query ends the unnamed statement, wherever it is answered.
    if (m.tag == 'Q') forget_unnamed();
    return d;
}

void Conversation::sent(const Decision& d) {
    note_writes(d.writes);
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
    auto& refusal = d.refusal;
    // Parsed to learn whether it takes a snapshot only while that matters.
    auto c = policy.classifier.classify(sql, !bound_ && protocol::may_be_snapshot_free(sql));
    // The statement guard: mistakes become visible errors. (Enforcement against a hostile
    // client is the sealed context's job: no text check can see every way to call a function.)
    for (const auto& name : c.settings.names) {
        if (is_reserved_setting(name, policy.tenant_setting)) {
            refusal = errors::refused_by_policy(
                errors::Rule{"reserved_setting"},
                fmt::format(
                    "the setting \"{}\" is reserved; the practice comes only from the login",
                    name));
            return Binding::before;
        }
    }
    if (c.settings.alters_defaults) {
        refusal = errors::refused_by_policy(
            errors::Rule{"alter_defaults"},
            "ALTER ROLE / ALTER DATABASE ... SET changes the defaults of every practice's "
            "sessions");
        return Binding::before;
    }
    if (c.settings.computed_name) {
        refusal = errors::refused_by_policy(
            errors::Rule{"computed_setting_name"},
            "set_config() with a setting name that is not a string constant cannot be checked",
            "Write the setting name as a literal, e.g. set_config('search_path', $1, false).");
        return Binding::before;
    }
    if (c.explain_analyze && !policy.allow_explain_analyze) {
        // Row-level security filters rows after the scan: the plan's "Rows Removed by Filter"
        // tells whether another practice has a row matching the condition.
        refusal = errors::refused_by_policy(
            errors::Rule{"explain_analyze"},
            "EXPLAIN ANALYZE is not allowed for practice logins: its row counts include rows "
            "of other practices that row-level security hides",
            "Use plain EXPLAIN, or ask an administrator to set tenant.allow_explain_analyze = "
            "true.");
        return Binding::before;
    }
    d.writes = std::move(c.settings);
    const bool session_pooling = session_pooling_;
    if (!c.deallocate_name.empty() && !session_pooling) {
        // DEALLOCATE of a prepared statement, protocol-level (psycopg 3 deallocates its own so)
        // or SQL-level: the client's statement is forgotten; its server copies stay for other
        // clients.
        const bool known = statements_.find(c.deallocate_name) != nullptr;
        if (block_ == Block::failed) {
            refusal = errors::in_failed_transaction();
        } else if (!known) {
            refusal = errors::statement_missing(c.deallocate_name);
        } else if (tag == 'Q' && segment_ != Segment::open) {
            statements_.remove(c.deallocate_name);
            build::command_complete(local, "DEALLOCATE");
            build::ready_for_query(local, server_ ? status() : 'I');
        } else {
            refusal = errors::not_supported_in_pooling(
                errors::Rule{"deallocate_in_pipeline"},
                "DEALLOCATE of a protocol-level statement other than on its own in a simple query");
        }
        return Binding::before;
    }
    if (c.settings.sql_prepared && !session_pooling) {
        // Each alone in a simple Query, pgtenant keeps the client's SQL-level statements as it
        // keeps protocol-level ones (sql_prepared.cpp).
        const bool prepare = !c.prepare_name.empty();
        if (tag == 'Q' && (prepare || !c.execute_name.empty())) {
            // The name's place in the text, where its server name goes (sql_prepared.cpp).
            auto span = protocol::statement_name_after(sql, prepare ? "prepare" : "execute");
            std::string& name = prepare ? c.prepare_name : c.execute_name;
            if (!span) {
                refusal = errors::not_supported_in_pooling(
                    errors::Rule{"unicode_statement_name"},
                    "a prepared statement name written as U&\"...\" is not served",
                    "Write the name plainly or in double quotes.");
            } else if (!prepare && !statements_.find(name)) {
                refusal = errors::statement_missing(name);
            } else {
                using Kind = SqlPrepared::Kind;
                d.sql_prepared = {prepare ? Kind::prepare : Kind::execute, std::move(name), *span};
            }
            return Binding::before;
        }
        refusal = errors::not_supported_in_pooling(
            errors::Rule{"sql_prepared"},
            "SQL-level PREPARE, EXECUTE and DEALLOCATE are carried across server connections "
            "only each alone in a simple query (not in a multi-statement query, the extended "
            "protocol, EXPLAIN or CREATE TABLE AS)",
            "Send each in a query of its own, use protocol-level prepared statements (PQprepare, "
            "your driver's server-side prepare), or a login with pool_mode = \"session\".");
        return Binding::before;
    }
    if (c.not_in_pipeline) {
        if (!policy.allow_maintenance) {
            refusal = errors::refused_by_policy(
                errors::Rule{"maintenance_statement"},
                fmt::format("{} is a maintenance command that practice logins may not run",
                            c.command),
                "An administrator can run it directly on the database, or set "
                "tenant.allow_maintenance = true.");
            return Binding::before;
        }
        return Binding::never;
    }
    if (c.discard_all || c.deallocate_all) {
        const char* what = c.discard_all ? "DISCARD ALL" : "DEALLOCATE ALL";
        // On its own in a simple Query, it is answered here (nothing is outstanding on the
        // server when a Query is handled): the client's session state lives in pgtenant, not on
        // any one server connection. DISCARD ALL only outside a transaction block, as on
        // PostgreSQL.
        const bool here =
            tag == 'Q' && c.statement_count == 1 && segment_ != Segment::open && !session_pooling &&
            (!server_ || block_ == Block::idle || (c.deallocate_all && block_ == Block::open));
        if (here) {
            if (c.discard_all) settings_.reset_all();
            statements_.clear();
            build::command_complete(local, what);
            build::ready_for_query(local, server_ ? status() : 'I');
            return Binding::before;
        }
        // Anywhere else the server runs it, and refuses it where PostgreSQL does.
        d.discards_statements = true;
        if (c.discard_all) {
            d.writes.reset_all = true;  // DISCARD ALL resets every setting
            return Binding::never;      // it may not run in a pipeline
        }
    }
    return c.snapshot_free ? Binding::deferred : Binding::before;
}

// Where a Bind's statement puts the binding, as the statement's text says, and what it writes
// (a statement prepared in an earlier transaction writes its settings in this one).
Conversation::Binding Conversation::decide_bind(const protocol::ClientMessage& m,
                                                const Policy& policy, Decision& d) {
    if (!m.names_read) return Binding::before;
    if (m.name.empty()) {
        return unnamed_binding().value_or(Binding::before);
    }
    const auto* s = statements_.find(m.name);
    if (!s) return Binding::before;
    auto c = policy.classifier.classify(s->query, protocol::may_be_snapshot_free(s->query));
    d.writes = std::move(c.settings);
    d.discards_statements = c.discard_all || c.deallocate_all;
    if (c.discard_all || c.not_in_pipeline) return Binding::never;  // allowed, or not prepared
    return c.snapshot_free ? Binding::deferred : Binding::before;
}

}  // namespace pgtenant::proxy
