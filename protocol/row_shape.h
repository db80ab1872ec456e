#pragma once
// The result shape of a prepared statement, as PostgreSQL compares it when it revalidates a
// cached plan after DDL ("cached plan must not change result type", 0A000): whether it returns
// rows, and the names, types and type modifiers of its columns, in order. Result formats and
// the table/column a column comes from are not part of it (a Describe of the statement and of
// a portal bound from it differ in formats only). Collations are not in RowDescription, so a
// change of collation alone goes unnoticed here.
#include <cstdint>
#include <optional>
#include <string_view>

namespace pgtenant::protocol {

using RowShape = uint64_t;

// The shape a Describe reported: `tag` 'T' (RowDescription, `body` after the length word) or
// 'n' (NoData). nullopt for any other tag or a malformed RowDescription.
std::optional<RowShape> row_shape(char tag, std::string_view body);

}  // namespace pgtenant::protocol
