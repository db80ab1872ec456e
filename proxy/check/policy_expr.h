#pragma once
// Reads a row-level security policy's expression (as pg_get_expr prints it) with PostgreSQL's
// own grammar and tells whether it confines rows to the caller's practice.
#include <string>
#include <string_view>
#include <vector>

namespace pgtenant::proxy::check_detail {

enum class TenantScope {
    none,        // the expression never reads the tenant context
    open,        // it reads it, but rows of other practices still pass (e.g. OR true)
    unknown,     // it hands the context to a function whose meaning pgtenant cannot see
    restricted,  // every row that passes has a column equal to the tenant context
};

// The tenant context is a call of pgtenant.practice_id() or current_setting(tenant_setting).
// An expression the grammar does not accept counts as restricted when it mentions the context
// (the server's grammar may be newer than pgtenant's) and none otherwise.
TenantScope tenant_scope(std::string_view expr, std::string_view tenant_setting);

// The columns the expression compares with the tenant context alone (`id` in
// "id = (SELECT pgtenant.practice_id())"), through AND and OR and casts: a table's key column
// when it has none of tenant.key_columns. Empty when the grammar does not accept it.
std::vector<std::string> context_columns(std::string_view expr, std::string_view tenant_setting);

}  // namespace pgtenant::proxy::check_detail
