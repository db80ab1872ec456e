#include "protocol/sql_names.h"

namespace pgtenant::protocol {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// As PostgreSQL's scanner: letters, '_' and every non-ASCII byte start an identifier; digits
// and '$' may follow.
bool ident_start(char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u >= 0x80;
}
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '$'; }

}  // namespace

std::size_t skip_blanks(std::string_view sql, std::size_t i) {
    const std::size_t n = sql.size();
    // Whether the two bytes at j are `a` then `b` (compared byte by byte: this runs on every
    // blank of every statement the guard looks at).
    auto pair_at = [&](std::size_t j, char a, char b) {
        return j + 1 < n && sql[j] == a && sql[j + 1] == b;
    };
    while (i < n) {
        if (is_space(sql[i])) {
            ++i;
        } else if (pair_at(i, '-', '-')) {
            auto end = sql.find('\n', i);
            i = end == std::string_view::npos ? n : end + 1;
        } else if (pair_at(i, '/', '*')) {
            int depth = 0;
            do {
                if (i + 1 >= n) return std::string_view::npos;
                if (pair_at(i, '/', '*')) {
                    ++depth;
                    i += 2;
                } else if (pair_at(i, '*', '/')) {
                    --depth;
                    i += 2;
                } else {
                    ++i;
                }
            } while (depth > 0);
        } else {
            break;
        }
    }
    return i;
}

std::optional<TextSpan> statement_name_after(std::string_view sql, std::string_view keyword) {
    std::size_t i = skip_blanks(sql, 0);
    if (i == std::string_view::npos || sql.size() - i < keyword.size()) return std::nullopt;
    for (std::size_t k = 0; k < keyword.size(); ++k) {
        char c = sql[i + k];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != keyword[k]) return std::nullopt;
    }
    i += keyword.size();
    if (i < sql.size() && ident_char(sql[i])) return std::nullopt;  // PREPARED, EXECUTE_X
    i = skip_blanks(sql, i);
    if (i == std::string_view::npos || i >= sql.size()) return std::nullopt;
    const std::size_t start = i;
    if (sql[i] == '"') {
        for (++i; i < sql.size(); ++i) {
            if (sql[i] != '"') continue;
            if (i + 1 < sql.size() && sql[i + 1] == '"') {
                ++i;  // a doubled quote is part of the name
                continue;
            }
            return TextSpan{start, i + 1 - start};
        }
        return std::nullopt;
    }
    if (!ident_start(sql[i])) return std::nullopt;
    // U&"name": a Unicode escape form, left to the caller to refuse.
    if ((sql[i] == 'u' || sql[i] == 'U') && i + 1 < sql.size() && sql[i + 1] == '&')
        return std::nullopt;
    while (i < sql.size() && ident_char(sql[i])) ++i;
    return TextSpan{start, i - start};
}

}  // namespace pgtenant::protocol
