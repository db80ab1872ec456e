#include "proxy/admin/console.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "pgtenant_version.h"
#include "protocol/builders.h"
#include "protocol/errors.h"
#include "protocol/wire.h"
#include "proxy/admin/console_command.h"
#include "proxy/admin/console_tables.h"
#include "proxy/app.h"

namespace pgtenant::proxy::admin {

namespace errors = protocol::errors;
namespace build = protocol::build;

namespace {

// Runs f(handle, out) on each worker thread for each of that worker's sessions, in turn;
// returns everything put in `out`.
template <typename T, typename F>
awaitable<std::vector<T>> on_each_worker(App& app, F f) {
    std::vector<T> all;
    for (std::size_t i = 0; i < app.workers.size(); ++i) {
        auto part = co_await asio::co_spawn(
            app.workers[i],
            [&app, &f, i]() -> awaitable<std::vector<T>> {
                std::vector<T> out;
                app.registry.for_each(static_cast<int>(i), [&](ClientHandle& h) { f(h, out); });
                co_return out;
            },
            asio::use_awaitable);
        all.insert(all.end(), std::make_move_iterator(part.begin()),
                   std::make_move_iterator(part.end()));
    }
    co_return all;
}

awaitable<std::vector<ClientInfo>> gather_clients(App& app) {
    auto clients = co_await on_each_worker<ClientInfo>(
        app, [](ClientHandle& h, std::vector<ClientInfo>& out) { out.push_back(h.describe()); });
    std::sort(clients.begin(), clients.end(),
              [](const ClientInfo& a, const ClientInfo& b) { return a.id < b.id; });
    co_return clients;
}

awaitable<Snapshot> snapshot(App& app) {
    Snapshot s;
    s.config = app.config.get();
    s.version = PGTENANT_VERSION;
    s.pool = app.pool->stats();
    s.servers = app.pool->servers();
    s.clients = co_await gather_clients(app);
    s.practices = app.stats->practices();
    for (const auto& p : s.practices) s.totals.add(p.counters);
    s.window = app.periods.last(s.totals, std::chrono::steady_clock::now());
    const auto directory = app.directory();
    std::map<std::string, std::size_t> names;
    for (const auto& [name, login] : directory->logins())
        if (!login.admin) ++names[login.practice_id];
    s.directory.assign(names.begin(), names.end());
    s.users = directory->size();
    s.paused_all = app.pauses.all_paused();
    s.paused = app.pauses.paused_practices();
    s.connecting_clients = std::max<int>(0, app.clients - static_cast<int>(s.clients.size()));
    co_return s;
}

// Clients of `practice` (every practice when empty) holding a server connection.
// Server connections on loan (to `practice`, or to any).
int64_t leased(App& app, const std::string& practice) {
    int64_t n = 0;
    for (const auto& s : app.pool->servers())
        if (s.leased && (practice.empty() || s.practice == practice)) ++n;
    return n;
}

int64_t active(App& app, const std::string& practice) {
    if (!practice.empty()) return app.stats->practice(practice).read().active;
    int64_t n = 0;
    for (const auto& p : app.stats->practices()) n += p.counters.active;
    return n;
}

awaitable<void> sleep_ms(int ms) {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    co_await t.async_wait(use_tuple);
}

awaitable<std::size_t> kill(App& app, const std::string& practice) {
    auto killed =
        co_await on_each_worker<int>(app, [&practice](ClientHandle& h, std::vector<int>& out) {
            if (h.is_admin() || (!practice.empty() && h.practice() != practice)) return;
            h.terminate();
            out.push_back(1);
        });
    co_return killed.size();
}

// Runs one parsed command; false when it failed (its error is in `out`).
awaitable<bool> run(App& app, const Command& c, std::string& out) {
    using Kind = Command::Kind;
    const auto& backend_db = app.config->backend.database;
    if (!c.database.empty() && c.database != backend_db) {
        protocol::encode_error(out, errors::console_command("no such database: \"" + c.database +
                                                                "\" (pgtenant "
                                                                "serves \"" +
                                                                backend_db + "\")",
                                                            "3D000"));
        co_return false;
    }
    switch (c.kind) {
        case Kind::show: {
            if (c.subject == "HELP") {
                encode_table(show_help(), out);
                co_return true;
            }
            const Snapshot s = co_await snapshot(app);
            static const std::map<std::string, Table (*)(const Snapshot&)> tables = {
                {"POOLS", show_pools},
                {"CLIENTS", show_clients},
                {"SERVERS", show_servers},
                {"STATS", show_stats},
                {"STATS_TOTALS", show_stats_totals},
                {"STATS_AVERAGES", show_stats_averages},
                {"DATABASES", show_databases},
                {"PRACTICES", show_practices},
                {"CONFIG", show_config},
                {"LISTS", show_lists},
                {"VERSION", show_version}};
            encode_table(tables.at(c.subject)(s), out);
            co_return true;
        }
        case Kind::pause:
            if (c.practice.empty() ? !app.pauses.pause_all() : !app.pauses.pause(c.practice)) {
                protocol::encode_error(out, errors::console_command("already paused", "55000"));
                co_return false;
            }
            // As PgBouncer's: returns once the transactions under way have ended and every
            // connection handed to a client that was waiting for one has come back.
            while (active(app, c.practice) > 0 || leased(app, c.practice) > 0)
                co_await sleep_ms(10);
            build::command_complete(out, "PAUSE");
            co_return true;
        case Kind::resume:
            // Not paused: nothing to do (KILL does not pause, so scripts that RESUME after a
            // KILL, as with PgBouncer, succeed).
            c.practice.empty() ? app.pauses.resume_all() : app.pauses.resume(c.practice);
            build::command_complete(out, "RESUME");
            co_return true;
        case Kind::kill: {
            const auto n = co_await kill(app, c.practice);
            spdlog::info("console: KILL ended {} client(s)", n);
            build::command_complete(out, "KILL");
            co_return true;
        }
        case Kind::reload: {
            const std::string outcome = app.reload ? app.reload() : "nothing to reload";
            build::command_complete(out, "RELOAD");
            protocol::Error notice;
            notice.severity = "NOTICE";
            notice.sqlstate = "00000";
            notice.message = outcome;
            protocol::encode_error(out, notice, true);
            co_return true;
        }
        case Kind::shutdown:
            build::command_complete(out, "SHUTDOWN");
            if (app.drain) asio::post(app.workers.front(), app.drain);
            co_return true;
    }
    co_return true;
}

}  // namespace

awaitable<void> run_console(App& app, std::string_view text, const ConsoleCaller& caller,
                            std::string& out) {
    const auto commands = split_commands(text);
    if (commands.empty()) {
        protocol::MessageWriter(out).begin('I').end();  // EmptyQueryResponse
        co_return;
    }
    for (const auto& line : commands) {
        auto parsed = parse_command(line);
        if (auto* e = std::get_if<CommandError>(&parsed)) {
            const auto error = errors::console_command(e->message, e->sqlstate);
            spdlog::info("{} console: refused: {}", caller.who, e->message);
            protocol::encode_error(out, error);
            co_return;
        }
        const auto& command = std::get<Command>(parsed);
        if (command.kind != Command::Kind::show) {
            spdlog::info("{} console: {}", caller.who, command.text);
        }
        app.audit_event({.event = "admin",
                         .login = caller.login,
                         .client = caller.client,
                         .detail = command.text,
                         .session = caller.session});
        if (!co_await run(app, command, out)) co_return;
    }
}

}  // namespace pgtenant::proxy::admin
