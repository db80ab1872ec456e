// Fuzz target: the statement guard (protocol/guard/) on arbitrary SQL text, with the real
// PostgreSQL grammar (libpg_query), its streaming reader of the parse tree and its rules.
//
// Checked besides "no crash":
//  - the keyword pre-check is sound: when it lets a text skip the parser, the parse tree holds
//    no statement the classifier flags and writes no setting;
//  - the tree reader's settings agree with a plain walk of the same tree (Boost.JSON DOM): the same
//  setting names, RESET ALL, set_config() with a computed
//    name, top-level session SETs, ALTER ROLE/DATABASE ... SET and SQL-level PREPARE/EXECUTE;
//  - results are consistent: a cached answer equals a fresh one, names are never empty;
//  - the judge refuses with a rule id and the SQLSTATE of its kind, and only what the facts
//    and the policy give reason to refuse.
#include <pg_query.h>

#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "protocol/guard/guard.h"
#include "protocol/guard/tree_reader.h"

namespace pgtenant::fuzz {
namespace {

namespace json = boost::json;
using protocol::guard::Facts;
using protocol::guard::StatementGuard;

// What the settings scan should find, gathered from the DOM.
struct Oracle {
    std::vector<std::string> names;
    bool reset_all = false;
    bool computed_name = false;
    bool alters_defaults = false;
    bool sql_prepared = false;
    std::vector<std::string> session_set_names;
    bool flagged_statement = false;  // anything classify() would report as a command
};

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
    return out;
}

const json::string* string_at(const json::value& v, std::string_view a, std::string_view b) {
    const auto* o = v.if_object();
    if (!o) return nullptr;
    const auto* x = o->if_contains(a);
    if (!x || !x->is_object()) return nullptr;
    const auto* y = x->as_object().if_contains(b);
    return y ? y->if_string() : nullptr;
}

void variable_set(const json::object& node, Oracle& o) {
    const auto* kind = node.if_contains("kind");
    if (kind && kind->is_string() && kind->as_string() == "VAR_RESET_ALL") {
        o.reset_all = true;
        return;
    }
    const auto* name = node.if_contains("name");
    if (name && name->is_string() && !name->as_string().empty())
        o.names.push_back(lower_ascii(name->as_string()));
}

void func_call(const json::object& node, Oracle& o) {
    const auto* funcname = node.if_contains("funcname");
    if (!funcname || !funcname->is_array() || funcname->as_array().empty()) return;
    const auto* last = string_at(funcname->as_array().back(), "String", "sval");
    if (!last || lower_ascii(*last) != "set_config") return;
    const auto* args = node.if_contains("args");
    if (args && args->is_array() && !args->as_array().empty()) {
        const auto& first = args->as_array().front();
        const auto* c = first.is_object() ? first.as_object().if_contains("A_Const") : nullptr;
        const auto* s = c ? string_at(*c, "sval", "sval") : nullptr;
        if (s && !s->empty()) {
            o.names.push_back(lower_ascii(*s));
            return;
        }
    }
    o.computed_name = true;
}

void walk(const json::value& v, Oracle& o) {
    if (const auto* a = v.if_array()) {
        for (const auto& e : *a) walk(e, o);
        return;
    }
    const auto* obj = v.if_object();
    if (!obj) return;
    for (const auto& [key, value] : *obj) {
        if (value.is_object()) {
            const auto& node = value.as_object();
            if (key == "VariableSetStmt" || key == "setstmt") variable_set(node, o);
            if (key == "FuncCall") func_call(node, o);
            if (key == "AlterRoleSetStmt" || key == "AlterDatabaseSetStmt")
                o.alters_defaults = true;
            if (key == "PrepareStmt" || key == "ExecuteStmt") o.sql_prepared = true;
            if (key == "DeallocateStmt" && node.contains("name")) o.sql_prepared = true;
        }
        walk(value, o);
    }
}

// An argument of SET the proxy can reproduce: a plain constant.
bool understood_arg(const json::value& v) {
    const auto* o = v.if_object();
    const auto* c = o ? o->if_contains("A_Const") : nullptr;
    if (!c || !c->is_object()) return false;
    for (const char* k : {"sval", "fval", "ival", "boolval"})
        if (c->as_object().contains(k)) return true;
    return false;
}

void top_level(const json::value& tree, Oracle& o) {
    const auto* stmts = tree.as_object().if_contains("stmts");
    if (!stmts || !stmts->is_array()) return;
    for (const auto& s : stmts->as_array()) {
        const auto* stmt = s.as_object().if_contains("stmt");
        if (!stmt || !stmt->is_object() || stmt->as_object().empty()) continue;
        const auto& [type, body] = *stmt->as_object().begin();
        const auto& node = body.as_object();
        const auto* kind = node.if_contains("kind");
        const std::string_view k =
            kind && kind->is_string() ? std::string_view(kind->as_string()) : "";
        static constexpr std::string_view kAlways[] = {
            "CreatedbStmt",          "DropdbStmt",           "AlterSystemStmt",
            "CreateTableSpaceStmt",  "DropTableSpaceStmt",   "CreateSubscriptionStmt",
            "AlterSubscriptionStmt", "DropSubscriptionStmt", "ReindexStmt",
            "ClusterStmt",           "DiscardStmt"};
        for (auto t : kAlways) o.flagged_statement = o.flagged_statement || type == t;
        if (type == "VacuumStmt" && node.contains("is_vacuumcmd")) o.flagged_statement = true;
        if (type == "DeallocateStmt" && !node.contains("name")) o.flagged_statement = true;
        if (type == "TransactionStmt" &&
            (k == "TRANS_STMT_COMMIT_PREPARED" || k == "TRANS_STMT_ROLLBACK_PREPARED"))
            o.flagged_statement = true;
        if (json::serialize(body).find("\"concurrent\":true") != std::string::npos)
            o.flagged_statement = true;
        if (type != "VariableSetStmt") continue;
        if (k != "VAR_SET_VALUE" && k != "VAR_SET_DEFAULT" && k != "VAR_RESET") continue;
        const auto* name = node.if_contains("name");
        if (!name || !name->is_string()) continue;
        bool understood = true;
        if (const auto* args = node.if_contains("args"); args && args->is_array())
            for (const auto& a : args->as_array()) understood = understood && understood_arg(a);
        if (understood && node.contains("is_local")) continue;  // SET LOCAL
        o.session_set_names.push_back(lower_ascii(name->as_string()));
    }
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

bool same(const Facts& a, const Facts& b) {
    auto sets = [](const Facts& c) {
        std::vector<std::string> out;
        for (const auto& s : c.settings.session_sets)
            out.push_back(s.name + "\n" + (s.value ? "=" + *s.value : "-") +
                          (s.understood ? "" : "?"));
        return out;
    };
    return a.not_in_pipeline == b.not_in_pipeline && a.discard_all == b.discard_all &&
           a.deallocate_all == b.deallocate_all && a.parse_error == b.parse_error &&
           a.statement_count == b.statement_count && a.command == b.command &&
           a.settings.names == b.settings.names && a.settings.reset_all == b.settings.reset_all &&
           a.settings.computed_name == b.settings.computed_name &&
           a.settings.sql_prepared == b.settings.sql_prepared &&
           a.settings.alters_defaults == b.settings.alters_defaults && sets(a) == sets(b);
}

void check_scan_against_tree(const char* tree_text, bool prechecked) {
    json::parse_options options;
    options.max_depth = 4096;
    json::error_code ec;
    json::monotonic_resource mr;
    const json::value tree = json::parse(tree_text, ec, &mr, options);
    if (ec) return;  // deeper than the walk goes: the scan is still run, not compared
    Oracle o;
    walk(tree, o);
    top_level(tree, o);
    const auto w = protocol::guard::read_tree(tree_text).settings;
    for (const auto& n : w.names) FUZZ_CHECK(!n.empty());
    FUZZ_CHECK(sorted(w.names) == sorted(o.names));
    FUZZ_CHECK(w.reset_all == o.reset_all);
    FUZZ_CHECK(w.computed_name == o.computed_name);
    FUZZ_CHECK(w.alters_defaults == o.alters_defaults);
    FUZZ_CHECK(w.sql_prepared == o.sql_prepared);
    std::vector<std::string> session_names;
    for (const auto& s : w.session_sets) session_names.push_back(s.name);
    FUZZ_CHECK(session_names == o.session_set_names);
    if (!prechecked) {
        // The pre-check let this text skip the parser: nothing in it may matter.
        FUZZ_CHECK(o.names.empty() && !o.reset_all && !o.computed_name);
        FUZZ_CHECK(!o.alters_defaults && !o.sql_prepared && o.session_set_names.empty());
        FUZZ_CHECK(!o.flagged_statement);
    }
}

// The judge under every combination of policy switches, in both protocols.
void check_judge(std::string_view sql, const Facts& c) {
    static StatementGuard guard(64);
    for (int bits = 0; bits < 16; ++bits) {
        const protocol::guard::Policy p{"app.current_practice_id", (bits & 1) != 0, (bits & 2) != 0,
                                        (bits & 4) != 0, (bits & 8) != 0};
        const auto v = guard.judge(sql, p);
        FUZZ_CHECK(same(v.facts, c));
        if (!v.refusal) {
            // What the rules always refuse never passes.
            FUZZ_CHECK(!c.settings.computed_name && !c.settings.alters_defaults);
            FUZZ_CHECK(!c.explain_analyze || p.allow_explain_analyze);
            for (const auto& n : c.settings.names)
                FUZZ_CHECK(!protocol::guard::is_reserved_setting(n, p.tenant_setting));
            continue;
        }
        FUZZ_CHECK(!v.refusal->rule.empty());
        FUZZ_CHECK(v.refusal->sqlstate == "42501" || v.refusal->sqlstate == "0A000");
        FUZZ_CHECK(!v.sql_prepared_name);
        FUZZ_CHECK(c.statement_count > 0);  // nothing the pre-check let skip the parser
    }
}

void fuzz_one(std::string_view sql) {
    static StatementGuard cached(64);
    StatementGuard uncached(0);
    const bool may = protocol::guard::may_need_parse(sql);
    const Facts c = cached.facts(sql);
    const Facts again = cached.facts(sql);
    const Facts fresh = uncached.facts(sql);
    FUZZ_CHECK(same(c, again) && same(c, fresh));
    if (!may) FUZZ_CHECK(same(c, Facts{}));
    for (const auto& n : c.settings.names) FUZZ_CHECK(!n.empty());
    if (!c.command.empty()) FUZZ_CHECK(c.statement_count > 0);
    if (c.discard_all || c.deallocate_all || c.not_in_pipeline) FUZZ_CHECK(!c.command.empty());
    check_judge(sql, c);

    // The parse tree itself, also for texts the pre-check skips.
    if (sql.find('\0') != std::string_view::npos || sql.size() > 8192) return;
    const std::string text(sql);
    PgQueryParseResult r = pg_query_parse(text.c_str());
    if (r.error == nullptr) {
        if (may) FUZZ_CHECK(!c.parse_error);  // a text of comments only has no statement
        check_scan_against_tree(r.parse_tree, may);
    } else if (may) {
        FUZZ_CHECK(c.parse_error);
    }
    pg_query_free_parse_result(r);
}

}  // namespace
}  // namespace pgtenant::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pgtenant::fuzz::fuzz_one(pgtenant::fuzz::as_view(data, size));
    return 0;
}
