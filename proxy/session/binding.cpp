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

namespace {
// A text[] literal of setting names (quoted, so any byte but NUL is safe).
std::string text_array(const std::vector<std::string>& names) {
    std::string out = "{";
    for (const auto& n : names) {
        if (out.size() > 1) out += ',';
        out += '"';
        for (char c : n) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

// Parses of pgtenant's own statements, as injected requests.
void append_own_statements(std::string& out, protocol::ReplyTracker& tracker) {
    append_pgtenant_statements(out);
    for (int i = 0; i < kPgtenantStatementCount; ++i)
        tracker.sent(Request::parse, Origin::injected);
}
}  // namespace

// A transaction is about to begin on `conn`: bring it to this practice (a hygiene reset when it
// served another one), in the same write as the client's first message.
void Session::prepare_for_practice(ServerConnection& conn) {
    auto& tracker = conn.tracker();
    const std::size_t before = to_server_.size();
    if (conn.own_statements_lost()) restore_own_statements(conn);
    if (conn.last_practice() != practice_) {
        if (!conn.last_practice().empty()) {
            // DEALLOCATE ALL in the reset drops pgtenant's statements too: prepare them again.
            build::query(to_server_, kPracticeSwitchReset);
            tracker.sent(Request::query, Origin::injected);
            append_own_statements(to_server_, tracker);
            conn.params().clear();
            conn.statements().clear();
            conn.unnamed_owner() = {0, 0};
            ++app_.practice_switch_resets;
        }
        conn.last_practice() = practice_;
    }
    if (to_server_.size() != before) {
        // In a transaction of their own: a command that may not run in a pipeline (VACUUM,
        // DISCARD ALL) may be the client's first.
        build::sync(to_server_);
        tracker.sent(Request::sync, Origin::injected);
    }
}

// The leased connection's settings differ from this client's: apply them before its transaction
// begins. That costs a round trip: the client's work must not run where they failed to apply.
// False when the client's message was answered with an error instead (and the session may have
// to end).
awaitable<bool> Session::apply_settings(char tag) {
    auto& conn = *server_;
    auto& tracker = conn.tracker();
    auto changes = settings_.changes_for(conn.params());
    for (const auto& c : changes) {
        if (c.value) {
            build::bind(to_server_, kSetStatement, {c.name, *c.value});
        } else {
            build::bind(to_server_, kResetStatement, {c.name});
        }
        build::execute(to_server_);
        tracker.sent(Request::bind, Origin::probe);
        tracker.sent(Request::execute, Origin::probe);
    }
    if (!co_await probe_round_trip(tag, "while applying session settings")) co_return false;
    if (probe_error_) {
        // As PostgreSQL would at login with such a setting: the session cannot go on.
        auto e = std::move(*probe_error_);
        probe_error_.reset();
        spdlog::info("{} session settings could not be applied: {}", prefix(), e.message);
        e.severity = "FATAL";
        e.message = "could not apply the session's settings: " + e.message;
        segment_open_ = false;
        co_await refuse(e);
        client_gone_ = true;
        co_return false;
    }
    settings_.applied(changes, conn.params());
    co_return true;
}

// Sends what is pending with a Sync of pgtenant's own and waits for the server's answer (a
// probe's error is then in probe_error_). False when the server connection was lost
// meanwhile: the client has its error for message `tag`, unless it is gone too.
awaitable<bool> Session::probe_round_trip(char tag, std::string_view doing) {
    build::sync(to_server_);
    server_->tracker().sent(Request::sync, Origin::probe);
    probe_error_.reset();
    auto* leased = server_.get();
    co_await flush_to_server();
    co_await wait_segment_done();
    if (server_.get() == leased) co_return true;
    if (client_gone_ || aborted_) co_return false;
    segment_open_ = false;
    skip_until_sync_ = false;
    local_reply_error(tag, errors::server_connection_lost(doing));
    co_await flush_local();
    co_return false;
}

// After a client's DEALLOCATE ALL or DISCARD ALL: pgtenant's statements, closed (a Close of a
// statement that is gone is no error) and prepared again, in the same write as their next use.
void Session::restore_own_statements(ServerConnection& conn) {
    for (auto name :
         {kBindStatement, kBindSealedStatement, kSetStatement, kResetStatement, kReadStatement}) {
        build::close(to_server_, 'S', name);
        conn.tracker().sent(Request::close, Origin::injected);
    }
    append_own_statements(to_server_, conn.tracker());
    conn.own_statements_lost() = false;
}

// The binding, in front of the transaction's first statement that takes a snapshot: set the
// practice for this transaction only.
void Session::append_binding() {
    auto& conn = *server_;
    if (conn.own_statements_lost()) restore_own_statements(conn);
    auto inject = [&](std::string_view statement,
                      std::initializer_list<std::optional<std::string_view>> args) {
        build::bind_portal(to_server_, kBindPortal, statement, args);
        build::execute(to_server_, kBindPortal);
        build::close(to_server_, 'P', kBindPortal);  // not left in the client's pg_cursors
        conn.tracker().sent(Request::bind, Origin::injected);
        conn.tracker().sent(Request::execute, Origin::injected);
        conn.tracker().sent(Request::close, Origin::injected);
    };
    if (app_.config->tenant.mode == config::TenantMode::sealed) {
        inject(kBindSealedStatement, {app_.config->tenant.setting, practice_, context_token(conn)});
    } else {
        inject(kBindStatement, {app_.config->tenant.setting, practice_});
    }
}

// Settings a transaction wrote are read back from the connection once it is over: the values
// PostgreSQL holds then are the client's. Only with nothing else outstanding, so that nothing
// of the client's runs between the transaction's end and the reading.
bool Session::read_back_due(ServerConnection& conn) const {
    return !session_pooling_ && !read_back_ && status_ == 'I' && ready_seen_ && !segment_open_ &&
           conn.tracker().idle() && !conn.broken() && settings_.has_unsettled();
}

void Session::append_read_back() {
    auto& tracker = server_->tracker();
    if (server_->own_statements_lost()) restore_own_statements(*server_);
    read_back_ = std::make_unique<ReadBack>();
    read_back_->names = settings_.unsettled();
    build::bind(to_server_, kReadStatement, {text_array(read_back_->names)});
    build::execute(to_server_);
    build::sync(to_server_);
    tracker.sent(Request::bind, Origin::probe);
    tracker.sent(Request::execute, Origin::probe, read_back_->rows = next_cookie());
    tracker.sent(Request::sync, Origin::probe, read_back_->done = next_cookie());
}

// Replies to pgtenant's probes (settings applied, settings read back): none reaches the client.
void Session::on_probe_reply(ServerConnection& conn, const protocol::ReplyTracker::Reply& reply,
                             char tag, std::string_view body) {
    if (tag == 'E' && reply.verdict == protocol::ReplyTracker::Verdict::drop) {
        if (!probe_error_) {
            auto e = protocol::decode_error_fields(body);
            probe_error_ = std::make_unique<protocol::Error>(
                protocol::Error{"ERROR", e ? std::string(e->sqlstate()) : "XX000",
                                e ? std::string(e->message()) : "malformed error"});
        }
        return;
    }
    if (!read_back_ || reply.cookie == 0) return;
    if (reply.cookie == read_back_->rows && tag == 'D') {
        auto row = protocol::decode_data_row(body);
        if (row && row->size() == 1) {
            const auto& v = (*row)[0];
            read_back_->values.push_back(v ? std::optional<std::string>(*v) : std::nullopt);
        }
    } else if (reply.cookie == read_back_->done && tag == 'Z') {
        if (!probe_error_ && read_back_->values.size() == read_back_->names.size()) {
            settings_.settle(read_back_->names, read_back_->values, conn.params());
        } else {
            spdlog::warn("{} could not read settings back on server connection {}", prefix(),
                         conn.id());
            settings_.give_up(read_back_->names, conn.params());
        }
        probe_error_.reset();
        read_back_.reset();
    }
}

// A ParameterStatus from the server. The client's own statements' reports are its settings;
// those pgtenant's own requests caused reach it only when they tell it its own value anew.
void Session::forward_parameter_status(ServerConnection& conn, bool ours, std::string_view bytes,
                                       std::string& out) {
    auto p = protocol::decode_parameter_status(bytes.substr(5));
    if (!p) return;
    auto name = lower(p->name);
    std::string value(p->value);
    if (ours) {
        auto own = settings_.values().find(name);
        auto told = told_.find(std::string(p->name));
        if (own == settings_.values().end() || own->second != value ||
            (told != told_.end() && told->second == value))
            return;  // not the client's own value, or nothing new to the client
    } else if (!session_pooling_) {
        settings_.reported(name, value, conn.params());
    }
    told_[std::string(p->name)] = std::move(value);
    out.append(bytes);
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
