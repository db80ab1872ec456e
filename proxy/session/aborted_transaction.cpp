#include "proxy/session/aborted_transaction.h"

#include <cctype>
#include <initializer_list>

#include "protocol/builders.h"
#include "protocol/messages.h"
#include "protocol/wire.h"

namespace pgtenant::proxy {

namespace build = protocol::build;

namespace {

// Skips blanks, comments and `;` (all an empty statement can hold).
void skip_noise(std::string_view s, std::size_t& i, bool semicolons) {
    for (;;) {
        while (i < s.size() &&
               (std::isspace(static_cast<unsigned char>(s[i])) || (semicolons && s[i] == ';')))
            ++i;
        if (s.substr(i, 2) == "--") {
            while (i < s.size() && s[i] != '\n') ++i;
        } else if (s.substr(i, 2) == "/*") {
            int depth = 0;  // block comments nest in PostgreSQL
            do {
                if (s.substr(i, 2) == "/*") {
                    ++depth;
                    i += 2;
                } else if (s.substr(i, 2) == "*/") {
                    --depth;
                    i += 2;
                } else if (i < s.size()) {
                    ++i;
                } else {
                    return;  // unterminated: the caller sees no word here
                }
            } while (depth > 0);
        } else {
            return;
        }
    }
}

// Reads the next word (letters only, any case), lower-cased; empty at anything else.
std::string next_word(std::string_view s, std::size_t& i) {
    skip_noise(s, i, false);
    std::string w;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i])))
        w += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i++])));
    return w;
}

bool one_of(const std::string& w, std::initializer_list<std::string_view> words) {
    for (auto x : words)
        if (w == x) return true;
    return false;
}

// ROLLBACK or ABORT, as opposed to COMMIT or END.
bool is_rollback(std::string_view sql) {
    std::size_t i = 0;
    return one_of(next_word(sql, i), {"rollback", "abort"});
}

}  // namespace

bool AbortedTransaction::ends_block(std::string_view sql) {
    std::size_t i = 0;
    if (!one_of(next_word(sql, i), {"rollback", "abort", "commit", "end"})) return false;
    std::size_t after = i;
    auto w = next_word(sql, after);
    if (one_of(w, {"work", "transaction"})) {
        i = after;
        w = next_word(sql, after);
    }
    if (w == "and") {
        if (next_word(sql, after) != "no" || next_word(sql, after) != "chain") return false;
        i = after;
    }
    skip_noise(sql, i, true);
    return i == sql.size();
}

void AbortedTransaction::fail(std::string& out) {
    // The cause was logged when the connection was lost; what follows it is new.
    if (cause_reported_) {
        answer_error(protocol::errors::in_failed_transaction(), out);
    } else {
        protocol::encode_error(out, cause_);
    }
    cause_reported_ = true;
}

void AbortedTransaction::answer_error(protocol::Error e, std::string& out) {
    protocol::encode_error(out, e);
    answered_ = std::move(e);
}

void AbortedTransaction::ready(std::string& out) {
    build::ready_for_query(out, ended_ ? 'I' : 'E');
    over_ = ended_;
}

void AbortedTransaction::on_message(std::string_view msg, ClientStatements& statements,
                                    std::string& out) {
    const char tag = msg[0];
    const std::string_view body = msg.substr(5);
    if (tag == 'S') {
        skip_until_sync_ = false;
        ready(out);
        return;
    }
    if (skip_until_sync_ || over_) return;
    switch (tag) {
        case 'Q': {
            auto sql = protocol::decode_query(body);
            if (sql && ends_block(*sql)) {
                // The loss is news to a client that commits: it must not read "success".
                if (!cause_reported_ && !is_rollback(*sql)) {
                    fail(out);
                } else {
                    build::command_complete(out, "ROLLBACK");
                }
                ended_ = true;
            } else if (sql && sql->find_first_not_of(" \t\r\n\f;") == std::string_view::npos) {
                out += std::string_view("I\0\0\0\4", 5);  // EmptyQueryResponse
            } else {
                fail(out);
            }
            ready(out);
            return;
        }
        case 'P': {
            auto p = protocol::decode_parse(body);
            if (p && ends_block(p->query) && (cause_reported_ || is_rollback(p->query))) {
                if (p->name.empty()) {
                    unnamed_ends_ = true;
                } else if (statements.find(p->name)) {
                    answer_error(protocol::errors::statement_exists(p->name), out);
                    skip_until_sync_ = true;
                    return;
                } else {
                    statements.add(std::string(p->name), p->query, p->param_types);
                }
                out += std::string_view("1\0\0\0\4", 5);  // ParseComplete
                return;
            }
            break;
        }
        case 'B': {
            protocol::MessageReader r(body);
            auto portal = r.cstring();
            auto name = r.cstring();
            const auto* s = name.empty() ? nullptr : statements.find(name);
            if (r.ok() && (name.empty() ? unnamed_ends_ : s && ends_block(s->query))) {
                if (portal.empty()) portal_ends_ = true;
                out += std::string_view("2\0\0\0\4", 5);  // BindComplete
                return;
            }
            break;
        }
        case 'D': {
            // Describing a transaction end: it takes no parameters and returns no rows.
            protocol::MessageReader r(body);
            const char kind = static_cast<char>(r.byte());
            auto name = r.cstring();
            const auto* s = name.empty() ? nullptr : statements.find(name);
            const bool ends = kind == 'P'
                                  ? name.empty() && portal_ends_
                                  : (name.empty() ? unnamed_ends_ : s && ends_block(s->query));
            if (r.ok() && ends) {
                if (kind == 'S') out += std::string_view("t\0\0\0\6\0\0", 7);  // no parameters
                out += std::string_view("n\0\0\0\4", 5);                       // NoData
                return;
            }
            break;
        }
        case 'E': {
            protocol::MessageReader r(body);
            if (r.cstring().empty() && r.ok() && portal_ends_) {
                build::command_complete(out, "ROLLBACK");
                ended_ = true;
                return;
            }
            break;
        }
        case 'C':
            out += std::string_view("3\0\0\0\4", 5);  // CloseComplete
            return;
        case 'H':
        case 'd':
        case 'c':
        case 'f':
            return;  // Flush; COPY data outside COPY is ignored, as by the server
        case 'F':
            fail(out);
            ready(out);
            return;
        default:
            break;
    }
    fail(out);
    skip_until_sync_ = true;
}

}  // namespace pgtenant::proxy
