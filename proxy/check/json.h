#pragma once
// JSON output shared by `pgtenant check --json` and `pgtenant probe --json`.
#include <string>
#include <string_view>

namespace pgtenant::proxy {

// Appends `s` as a JSON string literal (quotes included). UTF-8 passes through unchanged;
// control characters are escaped.
void append_json_string(std::string& out, std::string_view s);

// `s` as a JSON string literal.
std::string json_quoted(std::string_view s);

}  // namespace pgtenant::proxy
