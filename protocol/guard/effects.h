#pragma once
// What a statement may leave in the server session after its transaction (Facts::effects), from
// what the tree reader finds: each function it calls and each top-level statement's type.
// Anything not known to be harmless is kAnything: a connection it ran on is reset in full
// before another practice's transaction.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/guard/statement_facts.h"

namespace pgtenant::protocol::guard {

// A call of `funcname` (lower-cased, as written: schema-qualified or not). Built-in functions
// that keep no session state are harmless; nextval() and setval() leave currval/lastval behind;
// any other - a function of the application's or of an extension, or one in another schema -
// may do anything.
uint8_t function_effects(const std::vector<std::string>& funcname);
// Whether `name` (lower-cased, unqualified or in pg_catalog) is a built-in function that keeps
// nothing in the session.
bool harmless_function(std::string_view name);

// A top-level statement of type s.type (its effects inside the tree come from the reader).
uint8_t statement_effects(const StatementFacts& s);

}  // namespace pgtenant::protocol::guard
