#pragma once
// The guard's one reader of libpg_query's parse tree, in its JSON form. It streams the text
// with Boost.JSON's SAX parser instead of building a DOM: the tree of a pathological query can
// be millions of levels deep and tens of megabytes, and only a few fields matter. Fields are
// matched by their place in the tree (never by their order or by byte patterns), so a
// reordered or hand-made tree reads the same as libpg_query's own.
#include <string_view>

#include "protocol/guard/facts.h"

namespace pgtenant::protocol::guard {

// The facts of every statement in `json` (libpg_query's {"version":..,"stmts":[..]}): what
// each top-level statement is, and the settings written anywhere in the tree. Unreadable JSON
// gives parse_error and nothing else.
Facts read_tree(std::string_view json);

}  // namespace pgtenant::protocol::guard
