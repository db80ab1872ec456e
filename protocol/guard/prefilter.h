#pragma once
// Cheap checks of a statement text that keep the common path free of parsing. Each may say
// yes wrongly (a word inside a string or a comment), never no wrongly.
#include <span>
#include <string_view>

namespace pgtenant::protocol::guard {

// Whether a statement of `sql` may be one the guard flags or refuses: `sql` contains one of
// prefilter_words(), in any ASCII case.
bool may_need_parse(std::string_view sql);
std::span<const std::string_view> prefilter_words();

// Whether `sql` may open a transaction block: it holds the word BEGIN or START in any case.
bool may_begin_block(std::string_view sql);

// Both of the above in one pass over the text.
struct TextWords {
    bool need_parse = false;  // may_need_parse(sql)
    bool may_begin = false;   // may_begin_block(sql)
};
TextWords text_words(std::string_view sql);

// Whether `sql` may consist only of statements that take no snapshot (its first word is BEGIN,
// START, SET, RESET, SHOW, COMMIT, ROLLBACK, END or ABORT): only then is parsing it for
// Facts::snapshot_free worth it.
bool may_be_snapshot_free(std::string_view sql);

// Whether `sql` leaves nothing in the server session after its transaction, judged without
// parsing: one statement (no ';' but at its end) that calls no function (no '(' at all) and
// begins with SELECT, UPDATE, DELETE, VALUES, TABLE, SHOW or a transaction command, without the
// word INTO (SELECT INTO makes a table). False means "parse it to know", never "it does".
bool vouched_without_parse(std::string_view sql);

}  // namespace pgtenant::protocol::guard
