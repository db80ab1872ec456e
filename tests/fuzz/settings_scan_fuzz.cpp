// Fuzz target: the statement guard's tree reader (protocol/guard/tree_reader.cpp) fed JSON text
// directly. In the proxy its input is always libpg_query's parse tree (classify_fuzz checks it
// against a walk of that tree); here any bytes, so truncated, reordered and malformed trees
// too. Seeds: real parse trees.
//
// Checked besides "no crash, no out-of-bounds read": names are never empty and are lower-cased
// (ASCII), the answer depends on the bytes only, and a text without the patterns' key words
// writes nothing.
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "protocol/guard/tree_reader.h"

namespace pgtenant::fuzz {
namespace {

bool lower_case(std::string_view s) {
    for (char c : s)
        if (c >= 'A' && c <= 'Z') return false;
    return true;
}

void fuzz_one(std::string_view json) {
    const auto w = protocol::guard::read_tree(json).settings;
    for (const auto& n : w.names) FUZZ_CHECK(!n.empty() && lower_case(n));
    for (const auto& s : w.session_sets) {
        FUZZ_CHECK(lower_case(s.name));
        if (!s.understood) FUZZ_CHECK(s.value.has_value());
    }
    const auto again = protocol::guard::read_tree(std::string(json)).settings;
    FUZZ_CHECK(again.names == w.names && again.reset_all == w.reset_all &&
               again.computed_name == w.computed_name && again.sql_prepared == w.sql_prepared &&
               again.alters_defaults == w.alters_defaults &&
               again.session_sets.size() == w.session_sets.size());
    // A key may be spelled with \u escapes, which the reader decodes: only a text without
    // backslashes says by its bytes which keys it has.
    const bool set_words = json.find("VariableSetStmt") != std::string_view::npos ||
                           json.find("setstmt") != std::string_view::npos ||
                           json.find('\\') != std::string_view::npos;
    if (!set_words) FUZZ_CHECK(w.session_sets.empty() && !w.reset_all);
    if (!set_words && json.find("FuncCall") == std::string_view::npos) {
        FUZZ_CHECK(w.names.empty() && !w.computed_name);
    }
}

}  // namespace
}  // namespace pgtenant::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pgtenant::fuzz::fuzz_one(pgtenant::fuzz::as_view(data, size));
    return 0;
}
