#pragma once
// Where a SQL-level prepared statement's name is in the text of PREPARE or EXECUTE, so that
// pgtenant can put its server name in its place (the parse tree has no location for it).
#include <cstddef>
#include <optional>
#include <string_view>

namespace pgtenant::protocol {

struct TextSpan {
    std::size_t offset = 0;
    std::size_t length = 0;
};

// Past whitespace and comments (-- to the end of the line, /* */ nested) from `i`; npos if a
// comment does not end.
std::size_t skip_blanks(std::string_view sql, std::size_t i);

// The statement name after `keyword` ("prepare" or "execute", lower case), when `sql` begins
// with that keyword (after whitespace and comments) followed by the name, plain or in double
// quotes. Nothing for any other shape (a U&"" name, a keyword glued to other text).
std::optional<TextSpan> statement_name_after(std::string_view sql, std::string_view keyword);

}  // namespace pgtenant::protocol
