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

// For each byte, the words (bit i: words[i]) whose first, and whose second, character it is in
// either case: a position can start a word only if both masks share a bit, which nearly no
// position of an ordinary statement does.
struct WordMasks {
    std::array<uint32_t, 256> first{};
    std::array<uint32_t, 256> second{};
};

// One table for both checks: the guard's keywords, then BEGIN and START (bits kBlockBits).
constexpr std::array<std::string_view, 2> kBlockWords = {"begin", "start"};
constexpr auto kAllWords = [] {
    std::array<std::string_view, kKeywords.size() + kBlockWords.size()> all{};
    std::size_t i = 0;
    for (auto w : kKeywords) all[i++] = w;
    for (auto w : kBlockWords) all[i++] = w;
    return all;
}();
constexpr uint32_t kKeywordBits = (1u << kKeywords.size()) - 1;
constexpr uint32_t kBlockBits = ((1u << kAllWords.size()) - 1) & ~kKeywordBits;

constexpr WordMasks masks_of(uint32_t wanted) {
    static_assert(kAllWords.size() <= 32);
    auto upper = [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; };
    WordMasks m;
    for (std::size_t i = 0; i < kAllWords.size(); ++i) {
        const auto bit = 1u << i;
        if ((wanted & bit) == 0) continue;
        for (char c : {kAllWords[i][0], upper(kAllWords[i][0])})
            m.first[static_cast<unsigned char>(c)] |= bit;
        for (char c : {kAllWords[i][1], upper(kAllWords[i][1])})
            m.second[static_cast<unsigned char>(c)] |= bit;
    }
    return m;
}
constexpr WordMasks kKeywordMasks = masks_of(kKeywordBits);
constexpr WordMasks kBlockMasks = masks_of(kBlockBits);
constexpr WordMasks kAllMasks = masks_of(kKeywordBits | kBlockBits);

// Which of `groups` (bit sets of kAllWords) have a word in `sql`, in any case: the scan stops
// once every group has one.
uint32_t groups_found(std::string_view sql, const WordMasks& masks,
                      std::span<const uint32_t> groups) {
    const std::size_t n = sql.size();
    uint32_t found = 0;
    const uint32_t all = (1u << groups.size()) - 1;
    if (n < 2) return found;
    uint32_t starts_here = masks.first[static_cast<unsigned char>(sql[0])];
    for (std::size_t i = 0; i + 1 < n; ++i) {
        const auto next = static_cast<unsigned char>(sql[i + 1]);
        uint32_t candidates = starts_here & masks.second[next];
        starts_here = masks.first[next];
        while (candidates != 0) {
            const int w = std::countr_zero(candidates);
            candidates &= candidates - 1;
            std::string_view kw = kAllWords[static_cast<std::size_t>(w)];
            if (n - i < kw.size()) continue;
            std::size_t k = 2;
            while (k < kw.size() && ascii_lower(sql[i + k]) == kw[k]) ++k;
            if (k < kw.size()) continue;
            for (std::size_t g = 0; g < groups.size(); ++g)
                if (groups[g] & (1u << w)) found |= 1u << g;
            if (found == all) return found;
        }
    }
    return found;
}

constexpr std::array<uint32_t, 1> kKeywordGroup = {kKeywordBits};
constexpr std::array<uint32_t, 1> kBlockGroup = {kBlockBits};
constexpr std::array<uint32_t, 2> kBothGroups = {kKeywordBits, kBlockBits};

}  // namespace

bool may_need_parse(std::string_view sql) {
    return groups_found(sql, kKeywordMasks, kKeywordGroup) != 0;
}

std::span<const std::string_view> prefilter_words() { return kKeywords; }

bool may_begin_block(std::string_view sql) {
    return groups_found(sql, kBlockMasks, kBlockGroup) != 0;
}

TextWords text_words(std::string_view sql) {
    const uint32_t found = groups_found(sql, kAllMasks, kBothGroups);
    return {(found & 1u) != 0, (found & 2u) != 0};
}

bool may_be_snapshot_free(std::string_view sql) {
    std::size_t i = 0;
    for (;;) {  // past blanks, comments and empty statements before the first word
        i = skip_blanks(sql, i);
        if (i == std::string_view::npos) return false;
        if (i == sql.size() || sql[i] != ';') break;
        ++i;
    }
    // The first word, lower-cased; one of 9 letters or more matches none of them.
    std::array<char, 9> word;
    std::size_t len = 0;
    while (i < sql.size() && len < word.size() && ascii_alpha(sql[i]))
        word[len++] = ascii_lower(sql[i++]);
    static constexpr std::array<std::string_view, 9> kSetupWords = {
        "begin", "start", "set", "reset", "show", "commit", "rollback", "end", "abort"};
    const std::string_view first(word.data(), len);
    return std::find(kSetupWords.begin(), kSetupWords.end(), first) != kSetupWords.end();
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

// Bytes that may start, and that may continue, an identifier or keyword (PostgreSQL's scanner:
// ASCII letters, '_' and every byte from 0x80; then digits and '$' too), as one table: the scan
// looks at every byte of every simple query.
constexpr uint8_t kStarts = 1, kContinues = 2;
constexpr auto kWordBytes = [] {
    std::array<uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c) {
        const char ch = static_cast<char>(c);
        if (ascii_alpha(ch) || ch == '_' || c >= 0x80) t[c] = kStarts | kContinues;
        if (ascii_digit(ch) || ch == '$') t[c] = kContinues;
    }
    return t;
}();
constexpr bool word_start(char c) { return kWordBytes[static_cast<unsigned char>(c)] & kStarts; }
constexpr bool word_char(char c) { return kWordBytes[static_cast<unsigned char>(c)] & kContinues; }

// A word of the text, compared in any case without copying it (most words are only passed).
class Word {
  public:
    void assign(std::string_view sql, std::size_t& i) {
        const std::size_t start = i;
        while (i < sql.size() && word_char(sql[i])) ++i;
        raw_ = sql.substr(start, i - start);
    }
    void clear() { raw_ = {}; }
    bool empty() const { return raw_.empty(); }
    // Whether it is `lower` (lower case) in any ASCII case.
    bool is(std::string_view lower) const {
        if (raw_.size() != lower.size()) return false;
        for (std::size_t k = 0; k < lower.size(); ++k)
            if (ascii_lower(raw_[k]) != lower[k]) return false;
        return true;
    }
    // Lower-cased into `buf`; a word as long as `buf` or longer, longer than any name it is
    // compared with, comes back as "\x01", which matches none.
    std::string_view lowered(std::array<char, 64>& buf) const {
        if (raw_.size() >= buf.size()) return "\x01";
        for (std::size_t k = 0; k < raw_.size(); ++k) buf[k] = ascii_lower(raw_[k]);
        return {buf.data(), raw_.size()};
    }

  private:
    std::string_view raw_;
};

// What a byte may start in vouched_without_parse's token scan, as one table: the scan looks at
// every byte of every simple query.
enum class Token : uint8_t {
    other,      // an operator or punctuation: ends what a '(' could follow
    blank,      // whitespace (vertical tab too: reading it as a blank is the careful way)
    word,       // an identifier or keyword
    digit,      // a number
    paren,      // '('
    literal,    // '\''
    dollar,     // '$': a parameter, or a dollar quote
    semicolon,  // another statement may follow
    dot,        // qualifies the next word
    dash,       // '-': a comment when doubled
    slash,      // '/': a comment before '*'
    refuse,     // '"' (a quoted name may be a function's) or '`': parse it
};
constexpr auto kTokens = [] {
    std::array<Token, 256> t{};
    for (int c = 0; c < 256; ++c) {
        if (word_start(static_cast<char>(c))) t[c] = Token::word;
        if (ascii_digit(static_cast<char>(c))) t[c] = Token::digit;
    }
    for (unsigned char c : std::string_view(" \t\n\r\f\v")) t[c] = Token::blank;
    t['('] = Token::paren;
    t['\''] = Token::literal;
    t['$'] = Token::dollar;
    t[';'] = Token::semicolon;
    t['.'] = Token::dot;
    t['-'] = Token::dash;
    t['/'] = Token::slash;
    t['"'] = Token::refuse;
    t['`'] = Token::refuse;
    return t;
}();
}  // namespace

bool vouched_without_parse(std::string_view sql) {
    const std::size_t n = sql.size();
    std::size_t i = skip_blanks(sql, 0);
    if (i == std::string_view::npos || i == n) return false;
    Word first;
    std::size_t k = i;
    first.assign(sql, k);
    static constexpr std::array<std::string_view, 14> kNeutralWords = {
        "select", "update", "delete",   "values", "table", "show",      "begin",
        "start",  "commit", "rollback", "end",    "abort", "savepoint", "release"};
    std::array<char, 64> buf;
    if (std::find(kNeutralWords.begin(), kNeutralWords.end(), first.lowered(buf)) ==
        kNeutralWords.end())
        return false;
    // A token scan: strings, comments and parameters are read past; a '(' right after a word
    // must follow a harmless built-in function's name (unqualified or in pg_catalog) or a
    // keyword; anything unusual means "parse it". Blanks and comments change nothing.
    Word last;               // the word just before ("" when none)
    Word qualifier;          // the word before "last" and a '.', if any
    bool after_dot = false;  // the token before is a '.'
    while (i < n) {
        const char c = sql[i];
        switch (kTokens[static_cast<unsigned char>(c)]) {
            case Token::blank:
                ++i;
                continue;
            case Token::dash:
            case Token::slash:
                if (i + 1 < n && sql[i + 1] == (c == '-' ? '-' : '*')) {
                    i = skip_blanks(sql, i);
                    if (i == std::string_view::npos) return false;
                    continue;
                }
                ++i;
                break;
            case Token::word:
                if (after_dot) {
                    qualifier = last;
                } else {
                    qualifier.clear();
                }
                last.assign(sql, i);
                if (last.is("into")) return false;  // SELECT INTO makes a table
                after_dot = false;
                continue;
            case Token::paren:
                if (!last.empty()) {
                    const auto name = last.lowered(buf);
                    const bool known =
                        qualifier.empty()
                            ? (protocol::guard::harmless_function(name) ||
                               std::binary_search(kParenWords.begin(), kParenWords.end(), name))
                            : (qualifier.is("pg_catalog") &&
                               protocol::guard::harmless_function(name));
                    if (!known) return false;
                }
                ++i;
                break;
            case Token::literal:
                // '' inside is a quote; a backslash may be an escape (E''): parse it.
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
                break;
            case Token::dollar:
                // A $1 parameter (never needs a '(' after it); else perhaps a dollar quote.
                if (i + 1 >= n || !ascii_digit(sql[i + 1])) return false;
                for (++i; i < n && ascii_digit(sql[i]);) ++i;
                break;
            case Token::semicolon:
                // Only empty statements may follow.
                for (++i; i < n;) {
                    i = skip_blanks(sql, i);
                    if (i == std::string_view::npos) return false;
                    if (i == n) return true;
                    if (sql[i] != ';') return false;
                    ++i;
                }
                return true;
            case Token::dot:
                ++i;
                if (!last.empty()) {
                    after_dot = true;
                    continue;  // `last` stays: it qualifies the next word
                }
                break;
            case Token::digit:
                while (++i < n && ascii_digit(sql[i])) {
                }
                break;
            case Token::refuse:
                return false;
            case Token::other:
                ++i;
                break;
        }
        last.clear();
        qualifier.clear();
        after_dot = false;
    }
    return true;
}

}  // namespace pgtenant::protocol::guard
