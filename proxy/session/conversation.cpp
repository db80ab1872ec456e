#include "proxy/session/conversation.h"

#include <fmt/format.h>

#include <utility>

#include "protocol/builders.h"
#include "protocol/messages.h"
#include "protocol/wire.h"

namespace pgtenant::proxy {

namespace build = protocol::build;
using protocol::Origin;
using protocol::Request;
using Verdict = protocol::ReplyTracker::Verdict;

namespace {
bool in_failed_block(std::string_view error_message) {
    auto e = protocol::decode_error_fields(error_message.substr(5));
    return e && e->sqlstate() == "25P02";
}

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
}  // namespace

void Conversation::start(SessionParams startup, bool session_pooling, uint64_t session_id) {
    settings_ = ClientSettings(std::move(startup));
    session_pooling_ = session_pooling;
    session_id_ = session_id;
}

void Conversation::snapshot_into(handover::SessionSnapshot& s) const {
    s.settings = settings_.values();
    s.told = told_;
    statements_.for_each([&](const std::string& name, const PreparedStatement& p) {
        s.statements.push_back({name, p.query, p.param_types, p.shape, p.sql});
    });
    s.unnamed = {unnamed_.exists, unnamed_.query, unnamed_.param_types,
                 static_cast<uint8_t>(unnamed_.binding)};
}

void Conversation::resume_from(const handover::SessionSnapshot& s,
                               protocol::guard::StatementGuard& guard) {
    settings_ = ClientSettings(s.startup, s.settings);
    told_ = s.told;
    for (const auto& st : s.statements) {
        const uint8_t effects =
            st.sql ? uint8_t{protocol::guard::kAnything} : guard.facts(st.query, true).effects;
        const auto& p = statements_.add(st.name, st.query, st.param_types, st.sql, effects);
        if (st.shape) statements_.learn_shape(st.name, p.id, *st.shape);
    }
    if (s.unnamed.exists) {
        unnamed_.exists = true;
        unnamed_.query = s.unnamed.query;
        unnamed_.param_types = s.unnamed.param_types;
        unnamed_.binding = static_cast<Binding>(s.unnamed.binding);
        unnamed_.effects = guard.facts(s.unnamed.query, true).effects;
        ++unnamed_.generation;
    }
}

bool Conversation::place_binding(bool takes_snapshot) {
    if (bound_ || !takes_snapshot || block_ == Block::failed) return false;
    bound_ = true;
    return true;
}

void Conversation::note_writes(const protocol::guard::SettingWrites& writes) {
    if (!session_pooling_) settings_.note_writes(writes);
}

void Conversation::leased(ServerState& server, std::string& out) {
    server_ = &server;
    out_ = &out;
    block_ = Block::idle;
    bound_ = false;
}

std::vector<SettingChange> Conversation::append_settings(ServerState& server, std::string& out) {
    if (settings_.held_by(server.params())) return {};
    auto changes = settings_.changes_for(server.params());
    for (const auto& c : changes) {
        if (c.value) {
            build::bind(out, kSetStatement, {c.name, *c.value});
        } else {
            build::bind(out, kResetStatement, {c.name});
        }
        build::execute(out);
        server.tracker().sent(Request::bind, Origin::probe);
        server.tracker().sent(Request::execute, Origin::probe);
    }
    return changes;
}

std::optional<protocol::Error> Conversation::settings_result(
    const std::vector<SettingChange>& changes, ServerState& server) {
    if (auto e = take_probe_error()) return e;
    settings_.applied(changes, server.params());
    return std::nullopt;
}

std::optional<protocol::Error> Conversation::take_probe_error() {
    auto e = std::move(probe_error_);
    probe_error_.reset();
    return e;
}

Conversation::ServerNews Conversation::on_server_message(char tag, std::string_view bytes,
                                                         std::string& out) {
    auto& tracker = server_->tracker();
    const bool ours = tracker.front_injected();
    const auto reply = tracker.on_reply(tag);
    // A row pgtenant drops is its own statement's, of a shape it knows: one that does not frame
    // means the stream does not either (the client's rows are the client's to read).
    if (reply.verdict == Verdict::drop && tag == 'D' && !protocol::well_formed_row(bytes.substr(5)))
        return {ServerNews::Kind::unexpected, {}};
    std::string replacement;
    // In a failed transaction PostgreSQL answers 25P02 before it looks at anything pgtenant
    // would refuse: the server's answer to the substitute is the client's then.
    const bool replaced = reply.verdict == Verdict::substitute_error &&
                          take_refusal(reply.cookie, in_failed_block(bytes), replacement);
    settle(reply, tag, bytes.substr(5));
    switch (reply.verdict) {
        case Verdict::drop:
            on_drop(reply, tag, bytes.substr(5), out);
            break;
        case Verdict::forward:
            on_forward(ours, tag, bytes, out);
            // A serve loop waiting for the segment reads the COPY data.
            if (tag == 'G' || tag == 'W') wake_ = true;
            break;
        case Verdict::substitute_error:
            out.append(replaced ? std::string_view(replacement) : bytes);
            if (tag == 'E') ran_ = true;
            if (!replaced && tag == 'E') ++tally_.errors;  // a refusal is counted where made
            seen(tag);
            break;
        case Verdict::injected_error: {
            auto e = protocol::decode_error_fields(bytes.substr(5));
            return {ServerNews::Kind::binding_failed,
                    e ? std::string(e->message()) : "malformed error"};
        }
        case Verdict::unexpected: {
            if (tag != 'E') return {ServerNews::Kind::unexpected, {}};
            // E.g. pg_terminate_backend: the close follows.
            auto e = protocol::decode_error_fields(bytes.substr(5));
            server_->mark_broken();
            return {ServerNews::Kind::closing,
                    e ? fmt::format("{}: {}", e->sqlstate(), e->message())
                      : "terminated by the server"};
        }
    }
    ServerNews news;
    if (std::exchange(wake_, false)) news.kind = ServerNews::Kind::wake;
    return news;
}

std::optional<bool> Conversation::on_server_stream(char tag) {
    auto reply = server_->tracker().on_reply(tag);
    if (reply.verdict != Verdict::forward && reply.verdict != Verdict::drop) return std::nullopt;
    settle(reply, tag, {});
    ready_seen_ = false;
    return reply.verdict == Verdict::forward;
}

void Conversation::on_forward(bool ours, char tag, std::string_view bytes, std::string& out) {
    ServerState& server = *server_;
    switch (tag) {
        case 'Z':
            ++tally_.ready;
            switch (bytes.size() > 5 ? bytes[5] : 'I') {
                case 'T':
                    block_ = Block::open;
                    break;
                case 'E':
                    block_ = Block::failed;
                    break;
                default:
                    block_ = Block::idle;
                    bound_ = false;  // the next transaction is unbound
                    if (std::exchange(ran_, false)) ++tally_.ended;
            }
            break;
        case 'G':
        case 'W':
            ++copies_begun_;
            break;
        case 'C':
            ran_ = true;
            break;
        case 'S':
            forward_parameter_status(ours, bytes, out);
            seen(tag);
            return;
        case 'E': {
            ++tally_.errors;
            ran_ = true;
            auto e = protocol::decode_error_fields(bytes.substr(5));
            if (e && (e->severity() == "FATAL" || e->severity() == "PANIC")) {
                // The server is about to close; the client keeps its connection to pgtenant.
                for (auto& [code, value] : e->fields)
                    if (code == 'S' || code == 'V') value = "ERROR";
                server.mark_broken();
                protocol::encode_error_fields(out, *e);
                ready_seen_ = false;
                return;
            }
            break;
        }
        default:
            break;
    }
    out.append(bytes);
    seen(tag);
}

// A ParameterStatus from the server. The client's own statements' reports are its settings;
// those pgtenant's own requests caused reach it only when they tell it its own value anew.
void Conversation::forward_parameter_status(bool ours, std::string_view bytes, std::string& out) {
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
        settings_.reported(name, value, server_->params());
    }
    told_[std::string(p->name)] = std::move(value);
    out.append(bytes);
}

// Replies to pgtenant's probes (settings applied, settings read back): none reaches the client.
void Conversation::on_drop(const protocol::ReplyTracker::Reply& reply, char tag,
                           std::string_view body, std::string& out) {
    ServerState& server = *server_;
    seen(tag);
    if (tag == 'E' && reply.verdict == protocol::ReplyTracker::Verdict::drop) {
        if (!probe_error_) {
            auto e = protocol::decode_error_fields(body);
            probe_error_ = protocol::errors::server_error(
                "server_error", e ? e->sqlstate() : "XX000", e ? e->message() : "malformed error");
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
            settings_.settle(read_back_->names, read_back_->values, server.params());
            tell_own_values(out);
        } else {
            settings_.give_up(read_back_->names, server.params());
        }
        probe_error_.reset();
        read_back_.reset();
    }
}

// Reported settings whose value the client was last told differs from its own now (the
// server reported the pool's default after a RESET; PostgreSQL resets to the startup value).
void Conversation::tell_own_values(std::string& out) {
    for (auto& [name, told] : told_) {
        auto own = settings_.values().find(lower(name));
        if (own == settings_.values().end() || own->second == told) continue;
        told = own->second;
        build::parameter_status(out, name, told);
    }
}

bool Conversation::read_back_due(const ServerState& server) const {
    return !session_pooling_ && !read_back_ && block_ == Block::idle && ready_seen_ &&
           segment_ == Segment::closed && server.tracker().idle() && !server.broken() &&
           settings_.has_unsettled();
}

void Conversation::append_read_back(ServerState& server, std::string& out) {
    auto& tracker = server.tracker();
    if (server.own_statements_lost()) restore_own_statements(server, out);
    read_back_ = std::make_unique<ReadBack>();
    read_back_->names = settings_.unsettled();
    build::bind(out, kReadStatement, {text_array(read_back_->names)});
    build::execute(out);
    build::sync(out);
    tracker.sent(Request::bind, Origin::probe);
    tracker.sent(Request::execute, Origin::probe, read_back_->rows = next_cookie());
    tracker.sent(Request::sync, Origin::probe, read_back_->done = next_cookie());
}

bool Conversation::releasable(const ServerState& server) const {
    return server.tracker().idle() && !server.broken() && ready_seen_ && block_ == Block::idle &&
           segment_ == Segment::closed && !session_pooling_ && !settings_.has_unsettled();
}

bool Conversation::server_lost(bool pending, bool client_work_skipped) {
    const bool had_block = block_ != Block::idle || (may_begin_ && !client_work_skipped && pending);
    copy_count_restart();
    settings_.forget_transaction();
    read_back_.reset();
    probe_error_.reset();
    block_ = Block::idle;
    bound_ = false;
    return had_block;
}

protocol::Cookie Conversation::next_cookie() {
    if (++last_cookie_ == 0) ++last_cookie_;  // 0 means "none" to the tracker
    return last_cookie_;
}

}  // namespace pgtenant::proxy
