// Serving: client messages are grouped into segments (everything up to and including a Query,
// Sync or FunctionCall). A segment starts only when the previous one is fully answered, so
// pgtenant always knows the transaction status it starts in: when that is idle, it leases a
// server connection and prefixes the segment with the practice binding in the same write.
#include <spdlog/spdlog.h>

#include "protocol/builders.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/wire.h"
#include "proxy/ready_wait.h"
#include "proxy/refusal_log.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace errors = protocol::errors;
namespace build = protocol::build;
using namespace asio::experimental::awaitable_operators;
using protocol::Origin;
using protocol::Request;

namespace {
bool ends_segment(char tag) { return tag == 'Q' || tag == 'S' || tag == 'F'; }

// Work outside any transaction, which would start one: what a closed isolation gate refuses.
// (A transaction already under way may finish.)
bool starts_transaction(char tag, const Conversation& conv) {
    return (tag == 'Q' || tag == 'P' || tag == 'B' || tag == 'E') &&
           conv.block() == Conversation::Block::idle && !conv.bound();
}

protocol::Error framing_error(bool too_long, std::size_t size, std::size_t max_message) {
    if (!too_long) return errors::protocol_violation("invalid message length");
    return errors::protocol_violation(
        fmt::format("message of {} bytes exceeds the limit of {} bytes (server.max_message_bytes)",
                    size, max_message));
}
}  // namespace

awaitable<void> Session::serve() {
    const std::size_t max_message = app_.config->server.max_message_bytes;
    for (;;) {
        for (;;) {
            protocol::Frame f;
            auto st = protocol::peek_frame(client_buf_.view(), max_message, f);
            if (st == protocol::FrameStatus::need_more) break;
            if (st != protocol::FrameStatus::complete) {
                co_await refuse_framing(st == protocol::FrameStatus::too_long, f.total_size);
                co_return;
            }
            admin::Slot::add(slot_->bytes_received, f.total_size);
            ++messages_;
            if (f.total_size > protocol::guard::kCachedTextBytes && app_.parse_aside)
                co_await parse_long_text(f.bytes);
            bool keep = co_await handle_client_message(f.bytes);
            client_buf_.consume(f.total_size);
            if (large_message_) end_large_message();
            if (!keep) {
                co_await flush_to_server();
                end_of_session();
                co_return;
            }
        }
        if (!flushed_now()) co_await flush_to_server();
        client_buf_.shrink();
        if (client_buf_.size() == 0 && !client_.is_tls()) {
            release_idle_memory();
            idle_wait_ = true;
            auto [ec] = co_await async_readable(client_.socket(), use_tuple);
            idle_wait_ = false;
            if (handing_over_ && !terminating_ && !client_gone_) {
                if (!hand_over({})) end_with(errors::shutting_down());
                co_return;
            }
            if (ec) {
                end_of_session();
                co_return;
            }
        }
        protocol::Frame f;
        protocol::peek_frame(client_buf_.view(), max_message, f);
        std::size_t want =
            f.total_size > client_buf_.size() ? f.total_size - client_buf_.size() : 4096;
        want = std::min<std::size_t>(want, 1 << 20);
        if (f.total_size > ReadBuffer::kDefaultSize) {
            // A message bigger than a receive buffer: it takes memory from a shared budget
            // and must arrive within a deadline, or one client could hold any amount forever.
            if (!co_await receive_large_message(f.total_size, want)) {
                end_of_session();
                co_return;
            }
            continue;
        }
        if (!client_.is_tls() && io_at_once()) {
            // Ready to read: take what is there without another trip through the event loop.
            error_code ec;
            if (receive_now(client_.socket(), client_buf_, want, ec) > 0) continue;
            if (ec) {
                end_of_session();
                co_return;
            }
            // Woken with nothing to read (the socket was readable before the last read):
            // waiting again costs no system call, unlike a read attempt.
            if (ready_wait_is_free && client_buf_.size() == 0) continue;
        }
        if (co_await fill(client_, client_buf_, want)) {
            end_of_session();
            co_return;
        }
    }
}

// A client message with an impossible or oversized length: the stream cannot be followed.
// (Kept out of serve() so that serve's coroutine frame, alive for every idle client, stays small.)
awaitable<void> Session::refuse_framing(bool too_long, std::size_t size) {
    // Built in a plain function: GCC 12 miscompiles a ?: of temporaries inside co_await.
    co_await refuse_message(framing_error(too_long, size, app_.config->server.max_message_bytes));
    end_of_session();
}

// Reads more of a message of `size` bytes (over a receive buffer's size). False when the
// session must end: the client left, the message would take the budget of partly received
// messages over server.message_memory_bytes, or it took longer than server.message_timeout_ms.
awaitable<bool> Session::receive_large_message(std::size_t size, std::size_t want) {
    const auto& cfg = app_.config->server;
    if (!large_message_) {
        const std::size_t before = app_.message_memory.fetch_add(size);
        large_message_ = size;
        if (before + size > cfg.message_memory_bytes) {
            co_await refuse_message(
                errors::message_memory_exhausted(size, cfg.message_memory_bytes));
            co_return false;
        }
        large_deadline_ = std::chrono::steady_clock::now() + cfg.message_timeout;
    }
    asio::steady_timer timer(co_await asio::this_coro::executor, large_deadline_);
    auto r = co_await (fill(client_, client_buf_, want) || timer.async_wait(use_tuple));
    if (r.index() == 1) {
        co_await refuse_message(errors::message_too_slow(size, cfg.message_timeout.count()));
        co_return false;
    }
    co_return !std::get<0>(r);
}

// A statement text over the guard's cache size takes milliseconds to parse (a megabyte,
// seconds): the guard's parse of `msg`, if it would make one, is made aside, while this
// worker serves its other clients, and the guard remembers it for handle_client_message.
awaitable<void> Session::parse_long_text(std::string_view msg) {
    const auto m = protocol::decode_client_message(msg);
    if (m && (m->tag == 'Q' || m->tag == 'P') &&
        m->text.size() > protocol::guard::kCachedTextBytes &&
        protocol::guard::StatementGuard::may_parse(m->text) && !app_.guard.remembers(m->text)) {
        std::string text(m->text);
        auto facts = co_await app_.parse_aside->parse(text);
        app_.guard.remember(text, std::move(facts));
    }
}

void Session::end_large_message() {
    app_.message_memory -= large_message_;
    large_message_ = 0;
}

// Ends the session with `e`, told to the client unless a server connection is answering it.
awaitable<void> Session::refuse_message(protocol::Error e) {
    co_await flush_to_server();
    if (server_) {
        refused(e, "not sent: a server connection is answering");
    } else {
        co_await refuse(e);
    }
}

// Waiting for the client with nothing buffered: give back the buffers, so that an idle
// client costs little more than its Session (the next message allocates them again).
void Session::release_idle_memory() {
    client_buf_.release();
    if (!server_) segment_event_.reset();
    conv_.release_idle_memory();
    for (std::string* s : {&to_server_, &writing_, &emulated_}) return_storage(*s);
}

// Ends the session with a protocol violation; returns false. The error is built in this frame,
// not in handle_client_message's: every temporary of a co_await expression takes room in the
// coroutine frame, and handle_client_message runs for every message (a frame of up to about
// 1 KiB comes from malloc's per-thread cache).
awaitable<bool> Session::refuse_violation(std::string message) {
    co_await refuse(errors::protocol_violation(message));
    co_return false;
}

awaitable<bool> Session::handle_client_message(std::string_view msg) {
    const char tag = msg[0];
    if (tag == 'X' || client_gone_) co_return false;
    if (aborted_) co_return co_await answer_aborted(msg);
    if (conv_.segment() == Conversation::Segment::skipping) {
        // The server would discard everything up to the Sync after an error; so do we.
        if (tag == 'S') {
            conv_.close_segment();
            std::string out;
            build::ready_for_query(out, 'I');
            co_return co_await write_client(out);
        }
        co_return true;
    }
    switch (tag) {
        case 'd':
        case 'c':
        case 'f':
            // COPY traffic belongs to the statement running now; outside COPY the server
            // ignores it, and so do we.
            if (server_) {
                to_server_.append(msg);
                if (tag != 'd') conv_.copy_ended();
            }
            co_return true;
        case 'H':
            if (server_ && !server_->tracker().idle()) to_server_.append(msg);
            co_return true;
        case 'Q':
        case 'P':
        case 'B':
        case 'D':
        case 'E':
        case 'C':
        case 'S':
        case 'F':
            break;
        default:
            co_return co_await refuse_violation(fmt::format(
                "unexpected message type 0x{:02x} after login", static_cast<uint8_t>(tag)));
    }
    if (conv_.segment() == Conversation::Segment::closed) {
        // A segment starts only when the previous one is fully answered. (Each co_await of a
        // coroutine costs a frame: skipped when there is nothing to wait for.)
        if (!to_server_.empty()) co_await flush_to_server();
        if (server_ && !server_->tracker().idle()) co_await wait_segment_done();
        // Meanwhile the client may have gone, or its transaction with the server connection.
        if (client_gone_) co_return false;
        if (aborted_) co_return co_await answer_aborted(msg);
        if (conv_.copy_awaited()) co_return co_await interrupt_copy(tag);
        conv_.forget_may_begin();
        if (app_.draining && starts_transaction(tag, conv_) && !server_)
            co_return co_await end_while_draining();
    }

    // Decoded once: everything below reads its parts.
    const auto decoded = protocol::decode_client_message(msg);
    if (!decoded) {
        co_return co_await refuse_violation(tag == 'Q' ? "malformed Query message"
                                                       : "malformed Parse message");
    }
    const protocol::ClientMessage& m = *decoded;
    const auto& tenant = app_.config->tenant;
    decision_ = conv_.on_client_message(
        m, {tenant.setting, tenant.allow_maintenance, app_.guard, tenant.allow_explain_analyze},
        emulated_);
    auto& refusal = decision_.refusal;

    if (!emulated_.empty()) co_return co_await flush_local();
    if (!refusal && app_.isolation_gate_closed() && starts_transaction(tag, conv_))
        refusal = errors::isolation_check_failed();
    const bool segment_open = conv_.segment() == Conversation::Segment::open;
    if (!server_ && !segment_open && (refusal || tag == 'S')) {
        // Nothing is running: answer without leasing a server connection.
        if (refusal) {
            local_reply_error(tag, *refusal);
        } else {
            build::ready_for_query(emulated_, 'I');
        }
        co_return co_await flush_local();
    }
    if (!segment_open) {
        // Each co_await of a coroutine costs a frame: the usual segment needs none here.
        if (server_) {
            // For the query and transaction times.
            request_started_ = std::chrono::steady_clock::now();
            cancel_sent_ = false;
        } else if (!lease_now() && !co_await lease_waiting(tag)) {
            co_return !client_gone_;
        }
        pending_settings_ = open_segment();
        if (!pending_settings_.empty() && !co_await apply_settings(tag)) co_return !client_gone_;
    }
    bool outranks_failed_block = false;
    if (!refusal && decision_.sql_prepared.kind != Conversation::SqlPrepared::Kind::none &&
        !co_await sql_prepared_checked(m, refusal, outranks_failed_block)) {
        co_return !client_gone_;
    }
    if (refusal) {
        refuse_via_server(m, std::move(*refusal), {}, outranks_failed_block);
    } else {
        if (conv_.place_binding(decision_.binding == Binding::before)) append_binding();
        // The COPY data the server reads next, if this starts a COPY, is what the client sends
        // after it: a CopyDone sent before ended none of it.
        if (tag == 'Q' || tag == 'E') conv_.copy_count_restart();
        if (auto describe = send_client_message(m)) co_await send_after_shape_check(m, *describe);
        if (!server_) co_return true;  // lost meanwhile: the client has its error
        conv_.sent(decision_);
    }
    if (ends_segment(tag)) {
        conv_.close_segment();
        if (!flushed_now()) co_await flush_to_server();
    }
    co_return true;
}

// A message other than COPY data while the server takes the client's COPY data. As PostgreSQL:
// Sync is ignored; anything else is an error that ends the session (the server connection is
// closed mid-COPY, which rolls it back). Waiting for the COPY to end first, pgtenant would wait
// for ever: the client waits for an answer.
awaitable<bool> Session::interrupt_copy(char tag) {
    if (tag == 'S') co_return true;
    const std::string why = fmt::format("unexpected message type 0x{:02x} during COPY from stdin",
                                        static_cast<uint8_t>(tag));
    const auto error = errors::copy_interrupted(why);
    refused(error, "disconnected, as by PostgreSQL");
    std::string out;
    protocol::encode_error(out, error);
    protocol::encode_error(out, errors::copy_sync_lost());
    co_await write_client(out);
    co_return false;
}

// Draining: transactions under way may finish, no new one starts here. With a successor, the
// client moves to it, this message first (still in client_buf_). Returns false: the session
// ends. (Apart from handle_client_message, whose frame, allocated per message, must stay small
// enough for Asio to recycle it: the error would take a quarter of it.)
awaitable<bool> Session::end_while_draining() {
    if (app_.handover && can_move() && hand_over(client_buf_.view())) co_return false;
    co_await refuse(errors::shutting_down());
    co_return false;
}

// Answers a client whose transaction block died with its server connection.
awaitable<bool> Session::answer_aborted(std::string_view msg) {
    aborted_->on_message(msg, conv_.statements(), emulated_);
    if (auto e = aborted_->take_answered()) refused(*e);
    if (aborted_->over()) aborted_.reset();
    co_return co_await flush_local();
}

// A server connection for the segment about to begin, without a coroutine: the client is not
// being written to, its practice is not paused, and the pool has one ready (Pool::acquire_now).
// False when lease_waiting must get one; nothing has changed then.
bool Session::lease_now() {
    if (client_.writing() || app_.pauses.paused(practice_)) return false;
    auto lease = app_.pool->acquire_now(practice_, worker_);
    if (!lease) return false;
    slot_->record_wait(std::chrono::microseconds(0));
    request_started_ = std::chrono::steady_clock::now();
    leased(std::move(lease));
    return true;
}

// lease_now's slow way: waits for the previous reply to be written, for RESUME, and for the
// pool. False when there is no connection: the client has its error, or is gone.
awaitable<bool> Session::lease_waiting(char tag) {
    // The previous reply may still be on its way (the relay hands the connection on before
    // writing it): take no connection while this client is not reading.
    if (client_.writing()) co_await client_.drained();
    if (app_.pauses.paused(practice_)) {
        co_await wait_while_paused();
        if (client_gone_) co_return false;
    }
    waiting_ = true;
    request_started_ = std::chrono::steady_clock::now();  // since when it waits
    admin::Slot::add(slot_->waiting, 1);
    auto acquired = co_await app_.pool->acquire(practice_, worker_);
    admin::Slot::add(slot_->waiting, -1);
    waiting_ = false;
    const auto now = std::chrono::steady_clock::now();
    slot_->record_wait(
        std::chrono::duration_cast<std::chrono::microseconds>(now - request_started_));
    request_started_ = now;
    if (!acquired.lease) {
        local_reply_error(tag, pool_error(*acquired.error));
        co_await flush_local();
        co_return false;
    }
    if (client_gone_) {  // while it waited: the connection, untouched, goes back
        acquired.lease.release();
        co_return false;
    }
    if (app_.pauses.paused(practice_)) {
        // PAUSE came while it waited in the pool's queue: the connection, untouched, goes
        // back, and the transaction waits for RESUME.
        acquired.lease.release();
        co_return co_await lease_waiting(tag);
    }
    leased(std::move(acquired.lease));
    co_return true;
}

// The connection is this session's until the segments it serves are answered: the relay
// starts reading its replies.
void Session::leased(Lease lease) {
    cancel_sent_ = false;
    hold(std::move(lease));
    conv_.leased(*server_, to_server_);
    start_relay();
}

// A segment begins on the leased connection. When no transaction block is open, the connection
// becomes this client's first: brought to its practice, and given its settings. Returns the
// settings that take a round trip to apply (apply_settings), usually none.
std::vector<SettingChange> Session::open_segment() {
    conv_.open_segment();
    borrow_storage(to_server_);
    if (conv_.block() != Conversation::Block::idle) return {};
    if (xact_started_ == SteadyTime{}) xact_started_ = request_started_;
    prepare_for_practice(*server_);
    return conv_.append_settings(*server_, to_server_);
}

// Make the server fail in place of the refused message, so that transaction state and the
// skip-to-Sync rule stay exactly the server's; the relay swaps in pgtenant's error.
void Session::refuse_via_server(const protocol::ClientMessage& m, protocol::Error refusal,
                                std::string preamble, bool outranks_failed_block) {
    refused(refusal);
    conv_.substitute(m, std::move(refusal), std::move(preamble), outranks_failed_block);
}

// Only called while no server connection is leased, so nothing else writes to the client.
void Session::local_reply_error(char tag, const protocol::Error& e) {
    refused(e);
    protocol::encode_error(emulated_, e);
    if (tag == 'Q' || tag == 'S' || tag == 'F') {
        build::ready_for_query(emulated_, 'I');
    } else {
        conv_.skip_to_sync();
    }
}

awaitable<bool> Session::flush_local() {
    if (emulated_.empty()) co_return true;
    std::string out;
    out.swap(emulated_);
    co_return co_await write_client(out);
}

bool Session::flushed_now() {
    if (server_writing_ || to_server_.empty()) return true;
    ServerConnection* conn = server_.get();
    if (!conn) return false;
    if (!conn->tracker().idle()) cancel_slot_->running_on(conn->pid(), conn->key());
    std::string_view rest = to_server_;
    error_code ec;
    if (!conn->write_now(rest, ec) || ec) {
        // flush_to_server sends the rest, or meets the error again and reports it.
        to_server_.erase(0, to_server_.size() - rest.size());
        return false;
    }
    to_server_.clear();
    return true;
}

// Writes what is pending for the server. The serve loop and the relay (reading settings back)
// both send; while one writes, the other's bytes wait in to_server_ and go in the same loop.
awaitable<bool> Session::flush_to_server() {
    if (server_writing_) co_return true;
    server_writing_ = true;
    bool ok = true;
    while (!to_server_.empty()) {
        auto conn = server_.shared();
        if (!conn) {
            to_server_.clear();
            break;
        }
        std::swap(to_server_, writing_);
        if (!conn->tracker().idle()) cancel_slot_->running_on(conn->pid(), conn->key());
        auto ec = co_await conn->write_all(writing_);
        writing_.clear();
        if (ec) {
            // The relay notices the loss on its read and answers the client.
            conn->mark_broken();
            error_code ignored;
            conn->socket().shutdown(tcp::socket::shutdown_both, ignored);
            ok = false;
            break;
        }
    }
    server_writing_ = false;
    co_return ok;
}

// Also returns once the server waits for COPY data the client has not sent: the segment ends
// only after it does.
awaitable<void> Session::wait_segment_done() {
    while (server_ && !server_->tracker().idle() && !conv_.copy_awaited()) co_await wait_relay();
}

// Sleeps until the relay has news for the serve loop (segment_done()).
awaitable<void> Session::wait_relay() {
    if (!segment_event_)
        segment_event_ = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
    segment_event_->expires_at(asio::steady_timer::time_point::max());
    co_await segment_event_->async_wait(use_tuple);
}

void Session::segment_done() {
    if (segment_event_) segment_event_->cancel();
}

void Session::end_of_session() {
    // Mid-transaction, or a session-pooled connection with state of this client's: closing
    // it makes the server roll back and forget everything.
    if (server_) let_go().discard();
    cancel_slot_ ? cancel_slot_->idle() : void();
    if (!handed_over_) client_.close();
    spdlog::debug("{} disconnected", prefix());
}

void Session::hold(Lease lease) {
    count_lease(+1);
    admin::Slot::add(slot_->active, 1);
    server_ = std::move(lease);
}

Lease Session::let_go() {
    count_lease(-1);
    admin::Slot::add(slot_->active, -1);
    conv_.let_go();
    return std::move(server_);
}

protocol::Error pool_error(const PoolError& e) {
    switch (e.kind) {
        case PoolError::Kind::wait_timeout:
            if (!e.detail.empty()) return errors::practice_server_cap(e.waited.count(), e.detail);
            return errors::pool_wait_timeout(e.waited.count());
        case PoolError::Kind::cannot_connect:
            return errors::cannot_connect_now(e.detail);
        case PoolError::Kind::shutting_down:
            break;
    }
    return errors::shutting_down();
}

}  // namespace pgtenant::proxy
