// The practice binding and the client's session settings (DESIGN §3.2, §4).
//
// Before a transaction begins on a server connection, the connection is given this client's
// settings in a transaction of their own (nothing the client's transaction does can revert
// them), after a hygiene reset when it last served another practice. The binding itself goes in
// front of the transaction's first statement that takes a snapshot, in the same write.
#include <spdlog/spdlog.h>

#include "protocol/builders.h"
#include "protocol/messages.h"
#include "protocol/wire.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
namespace errors = protocol::errors;
using protocol::Origin;
using protocol::Request;

// A transaction is about to begin on `conn`: bring it to this practice (a hygiene reset when it
// served another one), in the same write as the client's first message.
void Session::prepare_for_practice(ServerConnection& conn) {
    auto& tracker = conn.tracker();
    const std::size_t before = to_server_.size();
    if (conn.own_statements_lost()) restore_own_statements(conn, to_server_);
    if (conn.last_practice() != practice_) {
        if (!conn.last_practice().empty()) reset_for_switch(conn);
        conn.last_practice() = practice_;
    }
    if (to_server_.size() != before) {
        // In a transaction of their own: a command that may not run in a pipeline (VACUUM,
        // DISCARD ALL) may be the client's first.
        build::sync(to_server_);
        tracker.sent(Request::sync, Origin::injected);
    }
}

// `conn` last served another practice: undo what its statements since the last switch may
// have left in the session (ServerState::effects), and nothing else. Settings need no reset:
// pgtenant knows every one a vouched-for statement wrote, and apply_settings brings them to
// this client's. pgtenant's statements and the clients' (named after their text) stay, unless
// the pool role could read them (their text is another practice's) or a statement may have
// prepared one under a name of its own.
void Session::reset_for_switch(ServerConnection& conn) {
    namespace guard = protocol::guard;
    const uint8_t e = conn.effects();
    const bool full = (e & guard::kAnything) || conn.can_create();
    const bool statements = full || (e & guard::kStatements) || conn.statements_visible();
    std::string reset;
    auto add = [&](std::string_view statement) {
        if (!reset.empty()) reset += "; ";
        reset += statement;
    };
    if (full) {
        add(kPracticeSwitchReset);
    } else {
        if (e & guard::kCursors) add("CLOSE ALL");
        if (e & guard::kListen) add("UNLISTEN *");
        if (e & guard::kSequences) add("DISCARD SEQUENCES");
    }
    if (statements) add("DEALLOCATE ALL");
    conn.effects() = 0;
    if (reset.empty()) return;
    spdlog::debug("{} practice switch on server connection {} (effects {:#x}{}{}): {}", prefix(),
                  conn.id(), e, conn.can_create() ? ", pool role can create" : "",
                  conn.statements_visible() ? ", statements visible" : "", reset);
    build::query(to_server_, reset);
    conn.tracker().sent(Request::query, Origin::injected);
    if (statements) {
        // DEALLOCATE ALL drops pgtenant's statements too: prepare them again.
        append_own_statements(conn, to_server_);
        conn.statements().clear();
        conn.unnamed_owner() = {0, 0};
    }
    if (full) conn.params().clear();
    ++app_.practice_switch_resets;
    admin::Slot::add(slot_->practice_switch_resets, 1);
}

// The leased connection's settings differ from this client's (pending_settings_, appended by
// Conversation::append_settings): apply them before its transaction begins. That costs a round
// trip: the client's work must not run where they failed to apply. False when the client's message
// was answered with an error instead (and the session may have to end).
awaitable<bool> Session::apply_settings(char tag) {
    auto& conn = *server_;
    const auto changes = std::exchange(pending_settings_, {});
    if (!co_await probe_round_trip(tag, "while applying session settings")) co_return false;
    if (auto e = conv_.settings_result(changes, conn)) {
        // As PostgreSQL would at login with such a setting: the session cannot go on.
        e->rule = "session_settings";
        e->severity = "FATAL";
        e->message = "could not apply the session's settings: " + e->message;
        conv_.close_segment();
        co_await refuse(*e);
        client_gone_ = true;
        co_return false;
    }
    co_return true;
}

// Sends what is pending with a Sync of pgtenant's own and waits for the server's answer (a
// probe's error is then the Conversation's). False when the server connection was lost
// meanwhile: the client has its error for message `tag`, unless it is gone too.
awaitable<bool> Session::probe_round_trip(char tag, std::string_view doing) {
    build::sync(to_server_);
    server_->tracker().sent(Request::sync, Origin::probe);
    conv_.probe_started();
    auto* leased = server_.get();
    co_await flush_to_server();
    co_await wait_segment_done();
    if (server_.get() == leased) co_return true;
    if (client_gone_ || aborted_) co_return false;
    conv_.close_segment();
    local_reply_error(tag, errors::server_connection_lost(doing));
    co_await flush_local();
    co_return false;
}

// The binding, in front of the transaction's first statement that takes a snapshot: set the
// practice for this transaction only.
void Session::append_binding() {
    auto& conn = *server_;
    if (conn.own_statements_lost()) restore_own_statements(conn, to_server_);
    const bool sealed = app_.config->tenant.mode == config::TenantMode::sealed;
    const std::string_view token = sealed ? std::string_view(context_token(conn)) : "";
    auto& cached = conn.binding_bytes();
    if (cached.practice != practice_ || cached.token != token || cached.bytes.empty()) {
        const auto& setting = app_.config->tenant.setting;
        cached.practice = practice_;
        cached.token = token;
        cached.bytes.clear();
        if (sealed) {
            build::bind_portal(cached.bytes, kBindPortal, kBindSealedStatement,
                               {setting, practice_, token});
        } else {
            build::bind_portal(cached.bytes, kBindPortal, kBindStatement, {setting, practice_});
        }
        build::execute(cached.bytes, kBindPortal);
        build::close(cached.bytes, 'P', kBindPortal);  // not left in the client's pg_cursors
    }
    to_server_.append(cached.bytes);
    auto& tracker = conn.tracker();
    tracker.sent(Request::bind, Origin::injected);
    tracker.sent(Request::execute, Origin::injected);
    tracker.sent(Request::close, Origin::injected);
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
