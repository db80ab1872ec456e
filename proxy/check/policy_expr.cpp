// The policy reader: libpg_query parses "SELECT WHERE <expr>" into a JSON tree, walked here.
// A row is confined to the practice when the expression is a conjunction one of whose terms is
// confined, or a disjunction all of whose terms are; a term is confined when it compares a
// column with the tenant context alone (col = pgtenant.practice_id(), col IN (SELECT ... the
// context ...), EXISTS (... the context ...)).
#include "proxy/check/policy_expr.h"

#include <pg_query.h>

#include <boost/json.hpp>
#include <string>

namespace pgtenant::proxy::check_detail {
namespace {

namespace json = boost::json;

class Reader {
  public:
    explicit Reader(std::string_view setting) : setting_(setting) {}

    TenantScope scope(const json::value& where) const {
        if (!mentions_context(where)) return TenantScope::none;
        return confines(where);
    }

    void compared_columns(const json::value& v, std::vector<std::string>& out) const {
        auto [kind, body] = node(v);
        if (body == nullptr) return;
        if (kind == "BoolExpr" && str(*body, "boolop") != "NOT_EXPR") {
            if (const auto* args = body->if_contains("args"); args && args->is_array())
                for (const auto& a : args->get_array()) compared_columns(a, out);
            return;
        }
        const json::value* l = body->if_contains("lexpr");
        const json::value* r = body->if_contains("rexpr");
        if (kind != "A_Expr" || l == nullptr || r == nullptr || !is_equality(*body)) return;
        if (is_column(*l) && context_only(*r)) out.push_back(column_name(*l));
        if (is_column(*r) && context_only(*l)) out.push_back(column_name(*r));
    }

  private:
    // The node's single key and its body ({"A_Expr": {...}}), or an empty name.
    static std::pair<std::string_view, const json::object*> node(const json::value& v) {
        const auto* o = v.if_object();
        if (o == nullptr || o->size() != 1) return {{}, nullptr};
        const auto& [key, body] = *o->begin();
        return {key, body.if_object()};
    }

    static std::string_view str(const json::object& o, std::string_view key) {
        const auto* v = o.if_contains(key);
        return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : "";
    }

    static std::string lower(std::string_view s) {
        std::string out(s);
        for (auto& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
        return out;
    }

    // The names of a FuncCall's funcname list, lower-cased and joined by dots.
    static std::string function_name(const json::object& call) {
        std::string name;
        if (const auto* parts = call.if_contains("funcname"); parts && parts->is_array()) {
            for (const auto& p : parts->get_array()) {
                auto [kind, body] = node(p);
                if (kind != "String" || body == nullptr) continue;
                name += (name.empty() ? "" : ".") + lower(str(*body, "sval"));
            }
        }
        return name;
    }

    // A string constant, through casts: 'app.x'::text.
    static std::string constant_text(const json::value& v) {
        auto [kind, body] = node(v);
        if (body == nullptr) return {};
        if (kind == "TypeCast" && body->contains("arg")) return constant_text(body->at("arg"));
        if (kind != "A_Const") return {};
        const auto* s = body->if_contains("sval");
        if (s == nullptr || !s->is_object()) return {};
        return std::string(str(s->get_object(), "sval"));
    }

    bool is_context_call(const json::value& v) const {
        auto [kind, body] = node(v);
        if (kind != "FuncCall" || body == nullptr) return false;
        const std::string name = function_name(*body);
        if (name == "pgtenant.practice_id") return true;
        if (name != "current_setting" && name != "pg_catalog.current_setting") return false;
        const auto* args = body->if_contains("args");
        return args != nullptr && args->is_array() && !args->get_array().empty() &&
               lower(constant_text(args->get_array().front())) == lower(setting_);
    }

    // Whether `match` holds for `v` or a node below it, not looking below where `prune` holds.
    template <typename Match, typename Prune>
    static bool any_below(const json::value& v, const Match& match, const Prune& prune) {
        if (match(v)) return true;
        if (prune(v)) return false;
        if (const auto* o = v.if_object()) {
            for (const auto& [key, child] : *o)
                if (any_below(child, match, prune)) return true;
        } else if (const auto* a = v.if_array()) {
            for (const auto& child : *a)
                if (any_below(child, match, prune)) return true;
        }
        return false;
    }

    bool mentions_context(const json::value& v) const {
        return any_below(
            v, [this](const json::value& n) { return is_context_call(n); },
            [](const json::value&) { return false; });
    }

    // A sub-select's columns are its own tables'.
    static bool mentions_column(const json::value& v) {
        return any_below(
            v, [](const json::value& n) { return node(n).first == "ColumnRef"; },
            [](const json::value& n) { return node(n).first == "SubLink"; });
    }

    // A column of the row, possibly cast or collated.
    static bool is_column(const json::value& v) {
        auto [kind, body] = node(v);
        if (body == nullptr) return false;
        if (kind == "ColumnRef") return true;
        if ((kind == "TypeCast" || kind == "CollateClause") && body->contains("arg"))
            return is_column(body->at("arg"));
        return false;
    }

    // The last name of a column reference (through casts): "id" for p.id::text.
    static std::string column_name(const json::value& v) {
        auto [kind, body] = node(v);
        if (kind != "ColumnRef") return column_name(body->at("arg"));
        const auto& fields = body->at("fields").as_array();
        auto [field, name] = node(fields.back());
        return field == "String" && name != nullptr ? std::string(str(*name, "sval")) : "";
    }

    static bool is_equality(const json::object& a_expr) {
        const auto op = str(a_expr, "kind");
        return op == "AEXPR_IN" || (op == "AEXPR_OP" && operator_name(a_expr) == "=");
    }

    // The tenant context alone: no column of the row can make it match another practice.
    bool context_only(const json::value& v) const {
        return mentions_context(v) && !mentions_column(v);
    }

    TenantScope confines(const json::value& v) const {
        auto [kind, body] = node(v);
        if (body == nullptr) return TenantScope::open;
        if (kind == "BoolExpr") return confines_bool(*body);
        if (kind == "A_Expr") {
            const json::value* l = body->if_contains("lexpr");
            const json::value* r = body->if_contains("rexpr");
            if (l == nullptr || r == nullptr) return TenantScope::open;
            if (is_equality(*body) &&
                ((is_column(*l) && context_only(*r)) || (is_column(*r) && context_only(*l))))
                return TenantScope::restricted;
            return TenantScope::open;
        }
        if (kind == "SubLink") {
            // col IN (SELECT ... context ...), EXISTS (... context ...): the sub-select decides
            // which rows it returns; its own tables have their own policies.
            const auto type = str(*body, "subLinkType");
            const bool set = type == "ANY_SUBLINK" || type == "EXISTS_SUBLINK";
            return set && body->contains("subselect") && mentions_context(body->at("subselect"))
                       ? TenantScope::restricted
                       : TenantScope::open;
        }
        if (kind == "FuncCall" && !is_context_call(v) && mentions_context(v))
            return TenantScope::unknown;
        return TenantScope::open;
    }

    TenantScope confines_bool(const json::object& b) const {
        const auto op = str(b, "boolop");
        const auto* args = b.if_contains("args");
        if (args == nullptr || !args->is_array() || op == "NOT_EXPR") return TenantScope::open;
        bool any_restricted = false, any_unknown = false, any_open = false;
        for (const auto& a : args->get_array()) {
            switch (confines(a)) {
                case TenantScope::restricted:
                    any_restricted = true;
                    break;
                case TenantScope::unknown:
                    any_unknown = true;
                    break;
                default:
                    any_open = true;
            }
        }
        if (op == "AND_EXPR") {
            return any_restricted ? TenantScope::restricted
                   : any_unknown  ? TenantScope::unknown
                                  : TenantScope::open;
        }
        return any_open      ? TenantScope::open
               : any_unknown ? TenantScope::unknown
                             : TenantScope::restricted;
    }

    static std::string operator_name(const json::object& a_expr) {
        const auto* names = a_expr.if_contains("name");
        if (names == nullptr || !names->is_array() || names->get_array().empty()) return {};
        auto [kind, body] = node(names->get_array().back());
        return kind == "String" && body != nullptr ? std::string(str(*body, "sval")) : "";
    }

    std::string_view setting_;
};

bool mentions_text(std::string_view expr, std::string_view setting) {
    std::string e(expr);
    for (auto& c : e) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    return e.find("pgtenant.practice_id") != std::string::npos ||
           (!setting.empty() && e.find(setting) != std::string::npos);
}

// The WHERE clause of "SELECT WHERE <expr>", parsed; null when the grammar refuses it.
json::value parse_where(std::string_view expr) {
    const std::string sql = "SELECT WHERE " + std::string(expr);
    PgQueryParseResult parsed = pg_query_parse(sql.c_str());
    json::value tree;
    const bool ok = parsed.error == nullptr && parsed.parse_tree != nullptr;
    if (ok) {
        boost::system::error_code ec;
        tree = json::parse(parsed.parse_tree, ec);
    }
    pg_query_free_parse_result(parsed);
    const json::value* where = nullptr;
    boost::system::error_code ec;
    if (const auto* stmts = tree.is_object() ? tree.get_object().if_contains("stmts") : nullptr;
        stmts != nullptr && stmts->is_array() && stmts->get_array().size() == 1) {
        const auto* select = stmts->get_array()[0].find_pointer("/stmt/SelectStmt", ec);
        if (select != nullptr && select->is_object())
            where = select->get_object().if_contains("whereClause");
    }
    return where != nullptr ? *where : json::value(nullptr);
}

}  // namespace

TenantScope tenant_scope(std::string_view expr, std::string_view tenant_setting) {
    const json::value where = parse_where(expr);
    if (where.is_null()) {
        return mentions_text(expr, tenant_setting) ? TenantScope::restricted : TenantScope::none;
    }
    return Reader(tenant_setting).scope(where);
}

std::vector<std::string> context_columns(std::string_view expr, std::string_view tenant_setting) {
    std::vector<std::string> out;
    const json::value where = parse_where(expr);
    if (!where.is_null()) Reader(tenant_setting).compared_columns(where, out);
    return out;
}

}  // namespace pgtenant::proxy::check_detail
