// The parse tree, streamed. Each node the guard reads opens a "capture" when its object
// starts: the top-level statement's type object, and anywhere in the tree a SET
// (VariableSetStmt, or ALTER ROLE/DATABASE's "setstmt"), a function call (FuncCall) and a
// DEALLOCATE. Until the object closes, the events below it go to the capture, which knows each
// field by its path from the node ("args.[].A_Const.sval.sval"). A capture that opens inside
// another takes the events until it closes; memory grows with the tree's depth only by one bit
// per open container.
#include "protocol/guard/tree_reader.h"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/guard/effects.h"
#include "protocol/guard/statement_facts.h"

namespace pgtenant::protocol::guard {
namespace {

// Fields are read this many containers below their node at most (deeper: not looked at).
constexpr std::size_t kMaxFieldDepth = 7;
constexpr std::size_t kMaxKeyChars = 64;

std::string lower(std::string s) {
    for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
    return s;
}

bool plain_identifier(std::string_view v) {
    auto ok_first = [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; };
    auto ok_rest = [&](char c) { return ok_first(c) || (c >= '0' && c <= '9') || c == '$'; };
    if (v.empty() || !ok_first(v[0])) return false;
    for (char c : v)
        if (!ok_rest(c)) return false;
    return true;
}

// A SET's arguments as the text PostgreSQL would show for the setting: a list is quoted where
// an element is not a plain identifier (search_path is always a list).
std::string join_values(const std::vector<std::string>& values, std::string_view name) {
    const bool list = values.size() > 1 || name == "search_path";
    std::string joined;
    for (const auto& v : values) {
        if (!joined.empty()) joined += ", ";
        if (!list || plain_identifier(v)) {
            joined += v;
            continue;
        }
        joined += '"';
        for (char c : v) joined += c == '"' ? std::string("\"\"") : std::string(1, c);
        joined += '"';
    }
    return joined;
}

// One node being read, and what it found.
struct Capture {
    enum class Kind : uint8_t { statement, variable_set, func_call, deallocate };
    Kind kind;
    std::size_t depth;              // of the node's object among the open containers
    bool top_level = false;         // variable_set: the statement itself
    std::vector<std::string> path;  // keys (or "[]") of the containers open below the node
    std::size_t beyond = 0;         // containers open below kMaxFieldDepth
    // variable_set
    std::string set_kind;
    std::string name;
    bool has_name = false;
    bool is_local = false;
    std::vector<std::string> values;
    bool understood = true;
    bool arg_is_const = false;
    // func_call
    std::vector<std::string> funcname;
    int args = 0;
    bool first_arg_is_string = false;
    std::string first_arg;

    // The value of the argument being read. An argument opens before its value in every tree
    // libpg_query makes; in another (a fuzzer's), a value without one is ignored.
    void set_value(std::string v) {
        if (!values.empty()) values.back() = std::move(v);
    }
    std::string field(std::string_view key = {}) const {
        std::string f;
        for (const auto& p : path) f += p + ".";
        if (key.empty() && !f.empty()) f.pop_back();
        return f += key;
    }
};

// Whether `f` is `value` (e.g. "Integer.ival") of the argument of a REINDEX parameter or of an
// option (EXPLAIN, ALTER DATABASE).
bool is_def_arg(std::string_view f, std::string_view value) {
    for (std::string_view list : {"params.[].DefElem.arg.", "options.[].DefElem.arg."}) {
        if (f.size() == list.size() + value.size() && f.starts_with(list) && f.ends_with(value))
            return true;
    }
    return false;
}

class Reader {
  public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    Facts facts;

    bool on_document_begin(boost::json::error_code&) { return true; }
    bool on_document_end(boost::json::error_code&) {
        finish_text(statement_, facts);
        // A PREPARE alone is kept under pgtenant's name; among other statements it is not.
        if (prepares_ > 0 && facts.prepare_name.empty()) facts.effects |= kStatements;
        return true;
    }
    bool on_object_begin(boost::json::error_code&) { return open(false); }
    bool on_object_end(std::size_t, boost::json::error_code&) { return close(); }
    bool on_array_begin(boost::json::error_code&) { return open(true); }
    bool on_array_end(std::size_t, boost::json::error_code&) { return close(); }
    bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
        key_.append(s.data(),
                    std::min(s.size(), kMaxKeyChars - std::min(key_.size(), kMaxKeyChars)));
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t n, boost::json::error_code& ec) {
        on_key_part(s, n, ec);
        pending_key_ = std::move(key_);
        key_.clear();
        return true;
    }
    bool on_string_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
        if (reading()) string_.append(s.data(), s.size());
        return true;
    }
    bool on_string(boost::json::string_view s, std::size_t n, boost::json::error_code& ec) {
        on_string_part(s, n, ec);
        if (reading())
            each_reading([&](Capture& c) { on_text(c, c.field(pending_key_), string_); });
        string_.clear();
        return true;
    }
    bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_int64(int64_t i, boost::json::string_view, boost::json::error_code&) {
        if (reading()) each_reading([&](Capture& c) { on_int(c, c.field(pending_key_), i); });
        return true;
    }
    bool on_uint64(uint64_t, boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_double(double, boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_bool(bool b, boost::json::error_code&) {
        if (reading()) each_reading([&](Capture& c) { on_flag(c, c.field(pending_key_), b); });
        return true;
    }
    bool on_null(boost::json::error_code&) { return true; }
    bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }

  private:
    // Container depths: 0 root, 1 "stmts", 2 one statement, 3 "stmt", 4 the <Type> object.
    static constexpr std::size_t kStatementDepth = 2;
    static constexpr std::size_t kTypeDepth = 4;

    // Whether the innermost captures read the value at hand.
    bool reading() const { return !captures_.empty() && captures_.back().beyond == 0; }

    // Calls f on each innermost capture (several may share one node).
    template <typename F>
    void each_reading(F f) {
        const std::size_t depth = captures_.back().depth;
        for (auto it = captures_.rbegin(); it != captures_.rend() && it->depth == depth; ++it)
            f(*it);
    }

    bool open(bool is_array) {
        const std::size_t depth = open_.size();
        std::string key = (!open_.empty() && open_.back()) ? "[]" : std::move(pending_key_);
        pending_key_.clear();
        open_.push_back(is_array);
        if (depth <= kTypeDepth) {
            top_.resize(depth);
            top_.push_back(key);
        }
        const std::size_t before = captures_.size();
        if (depth == kStatementDepth && top_[1] == "stmts") {
            statement_ = StatementFacts{};
            ++facts.statement_count;
        }
        if (!is_array) start_captures(depth, key);
        if (captures_.size() > before || captures_.empty()) return true;
        each_reading([&](Capture& c) {
            if (c.beyond > 0 || c.path.size() >= kMaxFieldDepth) {
                ++c.beyond;
                return;
            }
            c.path.push_back(key);
            on_open(c, c.field());
        });
        return true;
    }

    bool close() {
        const std::size_t depth = open_.size() - 1;
        pending_key_.clear();  // what follows in an array has no key
        if (!captures_.empty() && captures_.back().depth == depth) {
            while (!captures_.empty() && captures_.back().depth == depth) {
                finish(captures_.back());
                captures_.pop_back();
            }
        } else if (!captures_.empty()) {
            each_reading([&](Capture& c) {
                if (c.beyond > 0) {
                    --c.beyond;
                    return;
                }
                on_close(c, c.field());
                c.path.pop_back();
            });
        }
        if (depth == kStatementDepth && top_.size() > 1 && top_[1] == "stmts") {
            add_statement(statement_, facts);
        }
        open_.pop_back();
        return true;
    }

    // The nodes an object under `key` at `depth` starts.
    void start_captures(std::size_t depth, const std::string& key) {
        using Kind = Capture::Kind;
        auto& w = facts.settings;
        if (depth == kTypeDepth && top_[1] == "stmts" && top_[3] == "stmt" &&
            statement_.type.empty()) {
            statement_.type = key;
            captures_.push_back({Kind::statement, depth});
            if (key == "VariableSetStmt") captures_.push_back({Kind::variable_set, depth, true});
        } else if (key == "VariableSetStmt" || key == "setstmt") {
            captures_.push_back({Kind::variable_set, depth});
        }
        if (key == "FuncCall") captures_.push_back({Kind::func_call, depth});
        // What a statement may leave behind (Effect), wherever in the tree it appears.
        if (key == "InsertStmt" || key == "MergeStmt") facts.effects |= kSequences;
        if (key == "DeclareCursorStmt") facts.effects |= kCursors;
        if (key == "ListenStmt") facts.effects |= kListen;
        if (key == "PrepareStmt") ++prepares_;
        if (key == "intoClause" || key == "DoStmt" || key == "CallStmt" || key == "ExecuteStmt")
            facts.effects |= kAnything;
        if (key == "DeallocateStmt") captures_.push_back({Kind::deallocate, depth});
        if (key == "PrepareStmt" || key == "ExecuteStmt") w.sql_prepared = true;
        if (key == "AlterRoleSetStmt" || key == "AlterDatabaseSetStmt") w.alters_defaults = true;
    }

    // --- a container opens or closes below a capture's node (`f`: its path) ---
    void on_open(Capture& c, const std::string& f) {
        switch (c.kind) {
            case Capture::Kind::statement:
                if (f == "relation") statement_.has_relation = true;
                if (f == "params.[].DefElem" || f == "options.[].DefElem") {
                    defname_.clear();
                    def_value_ = true;  // an option without an argument means "on"
                }
                // Zero values are omitted from the tree.
                if (is_def_arg(f, "Boolean") || is_def_arg(f, "Integer")) def_value_ = false;
                break;
            case Capture::Kind::variable_set:
                if (f == "args.[]") {
                    c.values.emplace_back();
                    c.arg_is_const = false;
                }
                if (f == "args.[].A_Const") c.arg_is_const = true;
                // Zero values are omitted from the tree.
                if (f == "args.[].A_Const.ival" || f == "args.[].A_Const.fval") c.set_value("0");
                if (f == "args.[].A_Const.boolval") c.set_value("off");
                break;
            case Capture::Kind::func_call:
                if (f == "args.[]") ++c.args;
                if (f == "args.[].A_Const.sval" && c.args == 1) c.first_arg_is_string = true;
                break;
            case Capture::Kind::deallocate:
                break;
        }
    }

    void on_close(Capture& c, const std::string& f) {
        if (c.kind == Capture::Kind::variable_set && f == "args.[]" && !c.arg_is_const) {
            c.understood = false;
        }
        if (c.kind != Capture::Kind::statement) return;
        const bool on = def_value_;
        if (f == "params.[].DefElem" && defname_ == "concurrently" && on)
            statement_.concurrent = true;
        if (f == "options.[].DefElem" && defname_ == "tablespace")
            statement_.tablespace_option = true;
        if (f == "options.[].DefElem" && defname_ == "analyze" && on)
            statement_.analyze_option = true;
    }

    // --- a value below a capture's node (`f`: its path) ---
    void on_text(Capture& c, const std::string& f, const std::string& s) {
        switch (c.kind) {
            case Capture::Kind::statement:
                if (f == "kind" || f == "target") statement_.kind = s;
                if (f == "name") {
                    statement_.has_name = true;
                    statement_.name = s;
                }
                if (f == "params.[].DefElem.defname" || f == "options.[].DefElem.defname")
                    defname_ = s;
                if (is_def_arg(f, "String.sval")) def_value_ = !is_false_word(s);
                break;
            case Capture::Kind::variable_set:
                if (f == "kind") c.set_kind = s;
                if (f == "name") {
                    c.has_name = true;
                    c.name = lower(s);
                }
                if (f == "args.[].A_Const.sval.sval" || f == "args.[].A_Const.fval.fval") {
                    c.set_value(s);  // values keep their case
                }
                break;
            case Capture::Kind::func_call:
                if (f == "funcname.[].String.sval") c.funcname.push_back(lower(s));
                if (f == "args.[].A_Const.sval.sval" && c.args == 1) c.first_arg = lower(s);
                break;
            case Capture::Kind::deallocate:
                if (f == "name") c.has_name = true;
                break;
        }
    }

    void on_int(Capture& c, const std::string& f, int64_t i) {
        if (c.kind == Capture::Kind::statement && is_def_arg(f, "Integer.ival"))
            def_value_ = i != 0;
        if (c.kind == Capture::Kind::variable_set && f == "args.[].A_Const.ival.ival") {
            c.set_value(std::to_string(i));
        }
    }

    void on_flag(Capture& c, const std::string& f, bool b) {
        if (c.kind == Capture::Kind::statement) {
            if (f == "is_vacuumcmd") statement_.is_vacuumcmd = b;
            if (f == "concurrent" || f == "cmds.[].AlterTableCmd.def.PartitionCmd.concurrent") {
                statement_.concurrent = statement_.concurrent || b;
            }
            if (is_def_arg(f, "Boolean.boolval")) def_value_ = b;
        }
        if (c.kind == Capture::Kind::variable_set) {
            if (f == "is_local") c.is_local = b;
            if (f == "args.[].A_Const.boolval.boolval") c.set_value(b ? "on" : "off");
        }
    }

    // --- a capture's node closes ---
    void finish(const Capture& c) {
        auto& w = facts.settings;
        switch (c.kind) {
            case Capture::Kind::statement:
                break;
            case Capture::Kind::variable_set:
                if (c.set_kind == "VAR_RESET_ALL") {
                    w.reset_all = true;
                } else if (c.has_name && !c.name.empty()) {
                    w.names.push_back(c.name);
                }
                if (c.top_level) add_session_set(c);
                // Who the session is: never pgtenant's to carry (the guard refuses them too).
                if (c.name == "role" || c.name == "session_authorization")
                    facts.effects |= kAnything;
                break;
            case Capture::Kind::func_call:
                facts.effects |= function_effects(c.funcname);
                if (c.funcname.empty() || c.funcname.back() != "set_config") break;
                if (c.first_arg_is_string && !c.first_arg.empty()) {
                    w.names.push_back(c.first_arg);
                } else {
                    w.computed_name = true;  // a parameter, an expression: cannot be checked
                }
                break;
            case Capture::Kind::deallocate:
                w.sql_prepared = w.sql_prepared || c.has_name;
                break;
        }
    }

    // A top-level SET / RESET of the session (SET LOCAL ends with the transaction).
    void add_session_set(const Capture& c) {
        const bool value = c.set_kind == "VAR_SET_VALUE";
        if (!value && c.set_kind != "VAR_SET_DEFAULT" && c.set_kind != "VAR_RESET") return;
        if (!c.has_name || c.is_local) return;
        SessionSet set{c.name, std::nullopt, c.understood};
        if (value) set.value = c.understood ? join_values(c.values, c.name) : std::string();
        facts.settings.session_sets.push_back(std::move(set));
    }

    int prepares_ = 0;               // PrepareStmt nodes
    std::vector<bool> open_;         // each open container: is it an array
    std::vector<std::string> top_;   // keys of the open containers down to the statement type
    std::vector<Capture> captures_;  // innermost last
    StatementFacts statement_;       // the top-level statement being read
    std::string defname_;            // the DefElem being read (REINDEX params, options)
    bool def_value_ = true;
    std::string pending_key_;
    std::string key_;
    std::string string_;
};

}  // namespace

Facts read_tree(std::string_view json) {
    boost::json::parse_options options;
    options.max_depth = std::size_t(-1);  // depth lives on the parser's heap stack, not ours
    // The tree quotes the client's bytes, which need not be UTF-8 (client_encoding LATIN1):
    // refusing them would leave the statement unclassified.
    options.allow_invalid_utf8 = true;
    boost::json::basic_parser<Reader> parser(options);
    boost::json::error_code ec;
    parser.write_some(false, json.data(), json.size(), ec);
    if (ec) {
        Facts unreadable;  // libpg_query produced something we cannot read: do not guess
        unreadable.parse_error = true;
        unreadable.effects = kAnything;
        return unreadable;
    }
    return std::move(parser.handler().facts);
}

}  // namespace pgtenant::protocol::guard
