#include "protocol/guard/statement_facts.h"

#include <utility>

#include "protocol/guard/effects.h"

namespace pgtenant::protocol::guard {
namespace {

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

// The statement's SQL command name and whether it must run outside a transaction block.
// Empty name: ordinary.
std::pair<std::string, bool> command_of(const StatementFacts& f) {
    const std::string& t = f.type;
    // Plain ANALYZE is a VacuumStmt too, and it is allowed in a transaction block.
    if (t == "VacuumStmt" && f.is_vacuumcmd) return {"VACUUM", true};
    if (t == "CreatedbStmt") return {"CREATE DATABASE", true};
    if (t == "DropdbStmt") return {"DROP DATABASE", true};
    if (t == "IndexStmt" && f.concurrent) return {"CREATE INDEX CONCURRENTLY", true};
    if (t == "DropStmt" && f.concurrent) return {"DROP INDEX CONCURRENTLY", true};
    if (t == "ReindexStmt") {
        if (f.concurrent) return {"REINDEX CONCURRENTLY", true};
        if (f.kind == "REINDEX_OBJECT_DATABASE") return {"REINDEX DATABASE", true};
        if (f.kind == "REINDEX_OBJECT_SYSTEM") return {"REINDEX SYSTEM", true};
        if (f.kind == "REINDEX_OBJECT_SCHEMA") return {"REINDEX SCHEMA", true};
    }
    if (t == "AlterSystemStmt") return {"ALTER SYSTEM", true};
    if (t == "CreateTableSpaceStmt") return {"CREATE TABLESPACE", true};
    if (t == "DropTableSpaceStmt") return {"DROP TABLESPACE", true};
    if (t == "ClusterStmt" && !f.has_relation) return {"CLUSTER", true};
    // Only some forms refuse a transaction block (create_slot, copy_data, ...): be conservative.
    if (t == "CreateSubscriptionStmt") return {"CREATE SUBSCRIPTION", true};
    if (t == "AlterSubscriptionStmt") return {"ALTER SUBSCRIPTION", true};
    if (t == "DropSubscriptionStmt") return {"DROP SUBSCRIPTION", true};
    if (t == "AlterDatabaseStmt" && f.tablespace_option) {
        return {"ALTER DATABASE SET TABLESPACE", true};
    }
    if (t == "TransactionStmt" && f.kind == "TRANS_STMT_COMMIT_PREPARED") {
        return {"COMMIT PREPARED", true};
    }
    if (t == "TransactionStmt" && f.kind == "TRANS_STMT_ROLLBACK_PREPARED") {
        return {"ROLLBACK PREPARED", true};
    }
    if (t == "AlterTableStmt" && f.concurrent) {
        return {"ALTER TABLE DETACH PARTITION CONCURRENTLY", true};
    }
    // PostgreSQL also refuses DISCARD ALL in a transaction block, but the proxy intercepts it
    // rather than treating it as maintenance, so it gets its own flag only.
    if (t == "DiscardStmt" && f.kind == "DISCARD_ALL") return {"DISCARD ALL", false};
    if (t == "DeallocateStmt" && !f.has_name) return {"DEALLOCATE ALL", false};
    return {"", false};
}

// Whether the statement takes no snapshot: BEGIN/COMMIT-like (a savepoint opens a
// subtransaction, so a binding after it would end at its rollback), SET/RESET, SHOW.
bool takes_no_snapshot(const StatementFacts& f) {
    const bool savepoint = f.kind == "TRANS_STMT_SAVEPOINT" || f.kind == "TRANS_STMT_RELEASE" ||
                           f.kind == "TRANS_STMT_ROLLBACK_TO";
    return (f.type == "TransactionStmt" && !savepoint) || f.type == "VariableSetStmt" ||
           f.type == "VariableShowStmt";
}

}  // namespace

bool is_false_word(std::string_view s) {
    std::string lower;
    for (char c : s) lower += lower_ascii(c);
    return lower == "false" || lower == "off" || lower == "no" || lower == "0" || lower == "f" ||
           lower == "n";
}

void add_statement(const StatementFacts& s, Facts& facts) {
    facts.effects |= statement_effects(s);
    facts.snapshot_free =
        (facts.statement_count == 1 || facts.snapshot_free) && takes_no_snapshot(s);
    if (s.type == "ExplainStmt" && s.analyze_option) facts.explain_analyze = true;
    auto [command, not_in_pipeline] = command_of(s);
    if (command.empty()) return;
    if (facts.command.empty()) facts.command = command;
    facts.not_in_pipeline = facts.not_in_pipeline || not_in_pipeline;
    facts.discard_all = facts.discard_all || command == "DISCARD ALL";
    facts.deallocate_all = facts.deallocate_all || command == "DEALLOCATE ALL";
}

void finish_text(const StatementFacts& last, Facts& facts) {
    if (facts.statement_count != 1 || !last.has_name) return;
    if (last.type == "DeallocateStmt") facts.deallocate_name = last.name;
    if (last.type == "PrepareStmt") facts.prepare_name = last.name;
    if (last.type == "ExecuteStmt") facts.execute_name = last.name;
}

}  // namespace pgtenant::protocol::guard
