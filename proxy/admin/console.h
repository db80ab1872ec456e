#pragma once
// The admin console: the commands of one simple Query, run against the running pgtenant.
#include <string>
#include <string_view>

#include "proxy/asio.h"

namespace pgtenant::proxy {
struct App;
}

namespace pgtenant::proxy::admin {

struct ConsoleCaller {
    std::string_view who;  // the admin session's log prefix
    std::string_view login;
    std::string_view client;  // address:port
    uint64_t session = 0;
};

// Appends the replies to `text`'s commands (all but the closing ReadyForQuery) to `out`. As
// PostgreSQL with several statements in one Query, an error ends the Query: later commands do
// not run.
awaitable<void> run_console(App& app, std::string_view text, const ConsoleCaller& caller,
                            std::string& out);

}  // namespace pgtenant::proxy::admin
