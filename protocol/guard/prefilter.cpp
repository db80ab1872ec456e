#include "protocol/guard/prefilter.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <string>

#include "protocol/guard/effects.h"
#include "protocol/sql_names.h"

namespace pgtenant::protocol::guard {
namespace {

// Words that start or qualify every statement the guard can flag. Keywords cannot be quoted or
// escaped in SQL, so a text without any of them cannot contain such a statement.
// "set" catches SET, RESET and set_config; "u&" catches identifiers spelled with Unicode
// escapes, which could otherwise hide a function name from the other words.
constexpr std::array<std::string_view, 15> kKeywords = {
    "vacuum",  "database", "concurrently", "system",  "tablespace",
    "cluster", "discard",  "deallocate",   "reindex", "subscription",
    "prepare", "execute",  "set",          "u&",      "explain"};

constexpr char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
}
// ASCII only, as PostgreSQL's scanner (bytes from 0x80 are identifier characters there, handled
// apart), and inline: std::isalpha is a library call that consults the locale, on every byte.
constexpr bool ascii_alpha(char c) { return ascii_lower(c) >= 'a' && ascii_lower(c) <= 'z'; }
constexpr bool ascii_digit(char c) { return c >= '0' && c <= '9'; }

// For each byte, the keywords (bit i: keywords[i]) whose first, and whose second, character it
// is in either case: a position can start a keyword only if both masks share a bit, which
// nearly no position of an ordinary statement does.
struct KeywordMasks {
    std::array<uint16_t, 256> first{};
    std::array<uint16_t, 256> second{};
};
template <std::size_t N>
constexpr KeywordMasks masks_of(const std::array<std::string_view, N>& keywords) {
    static_assert(N <= 16);
    auto upper = [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; };
    KeywordMasks m;
    for (std::size_t i = 0; i < N; ++i) {
        const auto bit = static_cast<uint16_t>(1u << i);
        for (char c : {keywords[i][0], upper(keywords[i][0])})
            m.first[static_cast<unsigned char>(c)] |= bit;
        for (char c : {keywords[i][1], upper(keywords[i][1])})
            m.second[static_cast<unsigned char>(c)] |= bit;
    }
    return m;
}

// Whether `sql` holds one of `keywords` (lower case, two characters or more), in any case.
template <std::size_t N>
bool holds_any(std::string_view sql, const std::array<std::string_view, N>& keywords,
               const KeywordMasks& masks) {
    const std::size_t n = sql.size();
    if (n < 2) return false;
    uint16_t starts_here = masks.first[static_cast<unsigned char>(sql[0])];
    for (std::size_t i = 0; i + 1 < n; ++i) {
        const auto next = static_cast<unsigned char>(sql[i + 1]);
        unsigned candidates = starts_here & masks.second[next];
        starts_here = masks.first[next];
        while (candidates != 0) {
            std::string_view kw = keywords[std::countr_zero(candidates)];
            candidates &= candidates - 1;
            if (n - i < kw.size()) continue;
            std::size_t k = 2;
            while (k < kw.size() && ascii_lower(sql[i + k]) == kw[k]) ++k;
            if (k == kw.size()) return true;
        }
    }
    return false;
}

constexpr KeywordMasks kKeywordMasks = masks_of(kKeywords);
constexpr std::array<std::string_view, 2> kBlockWords = {"begin", "start"};
constexpr KeywordMasks kBlockMasks = masks_of(kBlockWords);

}  // namespace

bool may_need_parse(std::string_view sql) { return holds_any(sql, kKeywords, kKeywordMasks); }

std::span<const std::string_view> prefilter_words() { return kKeywords; }

bool may_begin_block(std::string_view sql) { return holds_any(sql, kBlockWords, kBlockMasks); }

bool may_be_snapshot_free(std::string_view sql) {
    std::size_t i = 0;
    for (;;) {  // past blanks, comments and empty statements before the first word
        i = skip_blanks(sql, i);
        if (i == std::string_view::npos) return false;
        if (i == sql.size() || sql[i] != ';') break;
        ++i;
    }
    std::string word;
    while (i < sql.size() && word.size() < 10 && ascii_alpha(sql[i])) word += ascii_lower(sql[i++]);
    static constexpr std::array<std::string_view, 9> kSetupWords = {
        "begin", "start", "set", "reset", "show", "commit", "rollback", "end", "abort"};
    return std::find(kSetupWords.begin(), kSetupWords.end(), word) != kSetupWords.end();
}

namespace {

// Words that may stand right before '(' without calling a function: PostgreSQL's reserved
// keywords and those that can name a column but never a function (varchar(10), EXISTS (...)).
// Not the unreserved ones (FILTER, OVER, ...): a function may have that name. Sorted.
constexpr auto kParenWords = std::to_array<std::string_view>({
    "all",       "and",    "any",       "array",    "as",      "between",   "bit",       "case",
    "cast",      "char",   "character", "coalesce", "decimal", "distinct",  "else",      "except",
    "exists",    "from",   "greatest",  "having",   "in",      "intersect", "interval",  "lateral",
    "least",     "limit",  "not",       "nullif",   "numeric", "offset",    "on",        "or",
    "returning", "row",    "select",    "some",     "then",    "time",      "timestamp", "union",
    "using",     "values", "varchar",   "when",     "where",
});
static_assert(std::is_sorted(kParenWords.begin(), kParenWords.end()));

bool word_start(char c) {
    return ascii_alpha(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool word_char(char c) { return word_start(c) || ascii_digit(c) || c == '$'; }

// A word, lower-cased, without allocating (the scan runs on every simple query). Longer than
// any name it is compared with: kept as "too long", which matches none.
class Word {
  public:
    void assign(std::string_view sql, std::size_t& i) {
        n_ = 0;
        for (; i < sql.size() && word_char(sql[i]); ++i)
            if (n_ < sizeof s_) s_[n_++] = ascii_lower(sql[i]);
        if (n_ == sizeof s_) n_ = sizeof s_ + 1;  // too long
    }
    void clear() { n_ = 0; }
    bool empty() const { return n_ == 0; }
    std::string_view view() const { return n_ > sizeof s_ ? "\x01" : std::string_view(s_, n_); }

  private:
    char s_[64];
    std::size_t n_ = 0;
};

}  // namespace

bool vouched_without_parse(std::string_view sql) {
    std::size_t i = skip_blanks(sql, 0);
    if (i == std::string_view::npos || i == sql.size()) return false;
    Word first;
    std::size_t k = i;
    first.assign(sql, k);
    static constexpr std::array<std::string_view, 14> kNeutralWords = {
        "select", "update", "delete",   "values", "table", "show",      "begin",
        "start",  "commit", "rollback", "end",    "abort", "savepoint", "release"};
    if (std::find(kNeutralWords.begin(), kNeutralWords.end(), first.view()) == kNeutralWords.end())
        return false;
    // A token scan: strings, quoted names, comments and parameters are read past; a '(' right
    // after a word must follow a harmless built-in function's name (unqualified or in
    // pg_catalog) or a keyword; anything unusual means "parse it".
    Word last;               // the word just before ("" when none)
    Word qualifier;          // the word before "last" and a '.', if any
    bool after_dot = false;  // the token before is a '.'
    for (std::size_t n = sql.size(); i < n;) {
        const char c = sql[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
            (c == '-' && i + 1 < n && sql[i + 1] == '-') ||
            (c == '/' && i + 1 < n && sql[i + 1] == '*')) {
            i = skip_blanks(sql, i);
            if (i == std::string_view::npos) return false;
            continue;
        }
        if (word_start(c)) {
            if (after_dot) {
                qualifier = last;
            } else {
                qualifier.clear();
            }
            last.assign(sql, i);
            if (last.view() == "into") return false;  // SELECT INTO makes a table
            after_dot = false;
            continue;
        }
        if (c == '(') {
            if (!last.empty()) {
                const auto name = last.view();
                const bool known =
                    qualifier.empty()
                        ? (protocol::guard::harmless_function(name) ||
                           std::binary_search(kParenWords.begin(), kParenWords.end(), name))
                        : (qualifier.view() == "pg_catalog" &&
                           protocol::guard::harmless_function(name));
                if (!known) return false;
            }
            last.clear();
            qualifier.clear();
            after_dot = false;
            ++i;
            continue;
        }
        if (c == '\'') {
            // A literal: '' inside is a quote; a backslash may be an escape (E''): parse it.
            for (++i;; ++i) {
                if (i >= n || sql[i] == '\\') return false;
                if (sql[i] == '\'') {
                    if (i + 1 < n && sql[i + 1] == '\'') {
                        ++i;
                        continue;
                    }
                    break;
                }
            }
            ++i;
        } else if (c == '"' || c == '$' || c == ';' || c == '`') {
            // A quoted name may be a function's, a $ a dollar quote (a $1 parameter too: it
            // never needs a ( after it, but telling them apart is not worth it), a ';' another
            // statement.
            if (c == ';') {
                for (++i; i < n;) {
                    i = skip_blanks(sql, i);
                    if (i == std::string_view::npos) return false;
                    if (i == n) return true;
                    if (sql[i] != ';') return false;
                    ++i;
                }
                return true;
            }
            if (c != '$' || i + 1 >= n || !ascii_digit(sql[i + 1])) return false;
            for (++i; i < n && ascii_digit(sql[i]);) ++i;
        } else {
            after_dot = c == '.' && !last.empty();
            if (after_dot) {
                ++i;
                continue;  // `last` stays: it qualifies the next word
            }
            ++i;
        }
        last.clear();
        qualifier.clear();
        after_dot = false;
    }
    return true;
}

}  // namespace pgtenant::protocol::guard
