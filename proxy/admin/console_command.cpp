#include "proxy/admin/console_command.h"

#include <algorithm>
#include <cctype>

namespace pgtenant::proxy::admin {

namespace {

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// Words, with '...' and "..." taken whole (quotes removed).
std::optional<std::vector<std::string>> words(std::string_view text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        if (space(text[i])) {
            ++i;
            continue;
        }
        if (text[i] == '\'' || text[i] == '"') {
            const char q = text[i];
            const auto end = text.find(q, i + 1);
            if (end == std::string_view::npos) return std::nullopt;
            out.emplace_back(text.substr(i + 1, end - i - 1));
            i = end + 1;
            continue;
        }
        std::size_t j = i;
        while (j < text.size() && !space(text[j])) ++j;
        out.emplace_back(text.substr(i, j - i));
        i = j;
    }
    return out;
}

std::optional<std::string> canonical_uuid(std::string_view s) {
    if (s.size() != 36) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
        out += c;
    }
    return out;
}

CommandError error(std::string message, std::string sqlstate = "42601") {
    return {std::move(message), std::move(sqlstate)};
}

}  // namespace

const std::vector<std::string>& show_subjects() {
    static const std::vector<std::string> subjects = {
        "POOLS",     "CLIENTS",   "SERVERS", "STATS", "STATS_TOTALS", "STATS_AVERAGES",
        "DATABASES", "PRACTICES", "CONFIG",  "LISTS", "VERSION",      "HELP"};
    return subjects;
}

std::vector<std::string> split_commands(std::string_view text) {
    std::vector<std::string> out;
    std::string current;
    char quote = 0;
    auto flush = [&] {
        if (std::any_of(current.begin(), current.end(), [](char c) { return !space(c); }))
            out.push_back(current);
        current.clear();
    };
    for (char c : text) {
        if (quote) {
            if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == ';') {
            flush();
            continue;
        }
        current += c;
    }
    flush();
    return out;
}

std::variant<Command, CommandError> parse_command(std::string_view text) {
    auto w = words(text);
    if (!w) return error("unterminated quoted string in console command");
    if (w->empty()) return error("empty console command");
    Command c;
    c.text = std::string(text);
    const std::string verb = upper((*w)[0]);
    const std::size_t n = w->size();
    if (verb == "SHOW") {
        if (n != 2) return error("SHOW takes one word: SHOW POOLS, SHOW CLIENTS, ... (SHOW HELP)");
        c.subject = upper((*w)[1]);
        const auto& all = show_subjects();
        if (std::find(all.begin(), all.end(), c.subject) == all.end())
            return error("unknown SHOW subject \"" + (*w)[1] + "\"");
        return c;
    }
    if (verb == "RELOAD" || verb == "SHUTDOWN") {
        if (n != 1) return error(verb + " takes no arguments");
        c.kind = verb == "RELOAD" ? Command::Kind::reload : Command::Kind::shutdown;
        return c;
    }
    if (verb == "PAUSE" || verb == "RESUME" || verb == "KILL") {
        c.kind = verb == "PAUSE"    ? Command::Kind::pause
                 : verb == "RESUME" ? Command::Kind::resume
                                    : Command::Kind::kill;
        if (n == 1) return c;
        if (n == 2) {
            c.database = (*w)[1];
            return c;
        }
        if (n == 3 && upper((*w)[1]) == "PRACTICE") {
            auto id = canonical_uuid((*w)[2]);
            if (!id) return error("not a practice id (a UUID): \"" + (*w)[2] + "\"", "22023");
            c.practice = *id;
            return c;
        }
        return error(verb + " takes a database name or PRACTICE '<uuid>'");
    }
    return error("unknown console command \"" + (*w)[0] + "\"");
}

}  // namespace pgtenant::proxy::admin
