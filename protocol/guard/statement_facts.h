#pragma once
// What one top-level statement is, and how it adds to the facts of its whole text.
#include <string>
#include <string_view>

#include "protocol/guard/facts.h"

namespace pgtenant::protocol::guard {

// Fields of one top-level statement, as the tree reader finds them.
struct StatementFacts {
    std::string type;  // e.g. "VacuumStmt"
    std::string kind;  // ReindexStmt.kind, DiscardStmt.target, TransactionStmt.kind
    bool is_vacuumcmd = false;
    bool concurrent = false;  // IndexStmt/DropStmt.concurrent, ALTER TABLE ... DETACH CONCURRENTLY
    bool has_relation = false;
    bool has_name = false;
    std::string name;                // its "name" field (DEALLOCATE, PREPARE, EXECUTE name)
    bool tablespace_option = false;  // ALTER DATABASE ... SET TABLESPACE
    bool analyze_option = false;     // EXPLAIN ANALYZE, EXPLAIN (ANALYZE [true|on|1])
};

// Adds statement `s`, the `facts.statement_count`th of its text, to `facts`.
void add_statement(const StatementFacts& s, Facts& facts);
// Once every statement is read: the names of a statement that stands alone.
void finish_text(const StatementFacts& last, Facts& facts);

// Whether an option's text value means off (EXPLAIN (ANALYZE off), REINDEX (CONCURRENTLY no)).
bool is_false_word(std::string_view s);

}  // namespace pgtenant::protocol::guard
