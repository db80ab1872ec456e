#include "proxy/server_state.h"

#include "protocol/builders.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
using protocol::Origin;
using protocol::Request;

void append_pgtenant_statements(std::string& out) {
    build::parse(out, kBindStatement, "SELECT pg_catalog.set_config($1, $2, true)");
    // The token travels only as a bind parameter: query text is visible in pg_stat_activity.
    build::parse(out, kBindSealedStatement,
                 "SELECT pg_catalog.set_config($1, $2, true), "
                 "pg_catalog.set_config('pgtenant.context', $3, true)");
    build::parse(out, kSetStatement, "SELECT pg_catalog.set_config($1, $2, false)");
    build::parse(out, kResetStatement,
                 "SELECT pg_catalog.set_config(name, reset_val, false) FROM pg_catalog.pg_settings "
                 "WHERE pg_catalog.lower(name) = pg_catalog.lower($1)");
    build::parse(
        out, kReadStatement,
        "SELECT pg_catalog.current_setting(n, true) "
        "FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS t(n, i) ORDER BY i");
}

void append_own_statements(ServerState& server, std::string& out) {
    append_pgtenant_statements(out);
    for (int i = 0; i < kPgtenantStatementCount; ++i)
        server.tracker().sent(Request::parse, Origin::injected);
}

void restore_own_statements(ServerState& server, std::string& out) {
    for (auto name :
         {kBindStatement, kBindSealedStatement, kSetStatement, kResetStatement, kReadStatement}) {
        build::close(out, 'S', name);
        server.tracker().sent(Request::close, Origin::injected);
    }
    append_own_statements(server, out);
    server.own_statements_lost() = false;
}

}  // namespace pgtenant::proxy
