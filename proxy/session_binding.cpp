// The practice binding and the client's session settings, injected in front of the first
// message of every transaction (DESIGN §3.2, §4).
#include <spdlog/spdlog.h>

#include "protocol/builders.h"
#include "protocol/wire.h"
#include "proxy/session.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
using protocol::Origin;
using protocol::Request;

// The binding, in front of the client's first message: bring the connection's session
// settings to what this client expects, then set the practice for this transaction only.
void Session::append_binding() {
    auto& conn = *server_;
    auto& tracker = conn.tracker();
    auto& have = conn.params();
    if (!conn.last_practice().empty() && conn.last_practice() != practice_) {
        // DEALLOCATE ALL in the reset drops pgtenant's statements too: prepare them again.
        build::query(to_server_, kPracticeSwitchReset);
        tracker.sent(Request::query, Origin::injected);
        append_pgtenant_statements(to_server_);
        for (int i = 0; i < kPgtenantStatementCount; ++i)
            tracker.sent(Request::parse, Origin::injected);
        have.clear();
        conn.statements().clear();
        ++app_.practice_switch_resets;
    }
    auto inject = [&](std::string_view statement,
                      std::initializer_list<std::optional<std::string_view>> args) {
        build::bind(to_server_, statement, args);
        build::execute(to_server_);
        tracker.sent(Request::bind, Origin::injected);
        tracker.sent(Request::execute, Origin::injected);
    };
    for (const auto& [name, value] : request_.params) {
        auto it = have.find(name);
        if (it != have.end() && it->second == value) continue;
        inject(kSetStatement, {name, value});
        have[name] = value;
    }
    for (auto it = have.begin(); it != have.end();) {
        if (request_.params.contains(it->first)) {
            ++it;
            continue;
        }
        inject(kResetStatement, {it->first});
        it = have.erase(it);
    }
    if (app_.config->tenant.mode == config::TenantMode::sealed) {
        inject(kBindSealedStatement, {app_.config->tenant.setting, practice_, context_token(conn)});
    } else {
        inject(kBindStatement, {app_.config->tenant.setting, practice_});
    }
    conn.last_practice() = practice_;
}

// The client's session-level SETs, once the segment that ran them succeeded: they become its
// own settings, applied on every connection it lands on (DESIGN §4).
void Session::apply_session_sets(ServerConnection& conn) {
    for (const auto& set : pending_sets_) {
        if (!set.understood) {
            conn.params()[set.name].assign(1, '\x01');  // unknown: the next client resets it
        } else if (set.value) {
            request_.params[set.name] = *set.value;
            conn.params()[set.name] = *set.value;
        } else {
            auto start = startup_params_.find(set.name);
            if (start != startup_params_.end()) {
                request_.params[set.name] = start->second;
            } else {
                request_.params.erase(set.name);
            }
            conn.params().erase(set.name);
        }
    }
    pending_sets_.clear();
}

// The signed context for this practice on this server connection (its backend pid is part of
// it, so the token is worthless on any other). Kept on the connection, which usually serves the
// same practice again (affinity), and reused while more than half its life remains: making one
// is an HMAC.
const std::string& Session::context_token(ServerConnection& conn) {
    auto keys = app_.keys();
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const auto lifetime = app_.config->tenant.token_lifetime.count();
    auto& t = conn.context_token();
    if (t.practice != practice_ || t.kid != keys->active().kid || t.expires - now < lifetime / 2) {
        t.expires = now + lifetime;
        t.practice = practice_;
        t.kid = keys->active().kid;
        t.token = auth::make_context_token(keys->active(), practice_, conn.pid(), t.expires);
    }
    return t.token;
}

}  // namespace pgtenant::proxy
