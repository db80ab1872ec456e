// Relaying server replies to the client while a server connection is leased. Replies are
// matched to requests by the connection's ReplyTracker: the binding's own replies are dropped,
// large messages stream through without being buffered whole, and a lost server connection
// becomes a proper error for the client, never a hang.
#include <spdlog/spdlog.h>

#include "protocol/builders.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "proxy/ready_wait.h"
#include "proxy/refusal_log.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace errors = protocol::errors;
namespace build = protocol::build;
using protocol::Request;

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;

// The length of the whole DataRows that follow one another from `from` in `data` (0 when none
// does): the run of rows the relay forwards in one piece.
std::size_t whole_rows(std::string_view data, std::size_t from) {
    std::size_t end = from;
    protocol::Frame f;
    while (protocol::peek_frame(data.substr(end), kMaxServerMessage, f) ==
               protocol::FrameStatus::complete &&
           f.tag == 'D')
        end += f.total_size;
    return end - from;
}

// The length of the binding's four successful replies (BindComplete, DataRow, CommandComplete,
// CloseComplete), whole and the row well framed, at the front of `data`; 0 when they are not
// there.
std::size_t binding_replies(std::string_view data) {
    std::size_t end = 0;
    for (char tag : {'2', 'D', 'C', '3'}) {
        protocol::Frame f;
        if (protocol::peek_frame(data.substr(end), kMaxServerMessage, f) !=
                protocol::FrameStatus::complete ||
            f.tag != tag || (tag == 'D' && !protocol::well_formed_row(f.bytes.substr(5))))
            return 0;
        end += f.total_size;
    }
    return end;
}

// Messages pgtenant reads, not only forwards (a Describe's: a statement's result shape).
bool needs_whole(char tag) {
    return tag == 'Z' || tag == 'E' || tag == 'S' || tag == 'T' || tag == 't';
}
}  // namespace

namespace {
// The relays parked on this worker thread, oldest first. A parked relay costs its session
// about 1 KiB; one for each client that leases often is worth it, one for every idle client is
// not: past the bound, the oldest ends, and its session starts a new one at its next lease.
struct ParkedRelays {
    Session* oldest = nullptr;
    Session* newest = nullptr;
    std::size_t count = 0;
};
thread_local ParkedRelays parked_relays;
}  // namespace

// One coroutine for every lease of the session, not one each: starting a coroutine costs more
// than the rest of a short transaction's relaying. Between leases it is parked in
// relay_parked_, which holds its frames (and through them the session) until start_relay,
// stop_relay or another session's parking resumes it.
awaitable<void> Session::relay_leases() {
    auto self = shared_from_this();
    for (;;) {
        if (server_ && relayed_lease_ != leases_) {
            relayed_lease_ = leases_;
            co_await relay(server_.shared());
            continue;
        }
        if (relay_stop_ || std::exchange(relay_evicted_, false)) break;
        co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
            [this](auto handler) {
                relay_parked_.emplace(std::move(handler));
                park_link();
            },
            asio::use_awaitable);
    }
    relay_running_ = false;
}

void Session::park_link() {
    auto& list = parked_relays;
    parked_prev_ = list.newest;
    parked_next_ = nullptr;
    (list.newest ? list.newest->parked_next_ : list.oldest) = this;
    list.newest = this;
    const auto bound = static_cast<std::size_t>(2 * app_.config->pool.size);
    if (++list.count > bound && list.oldest != this) {
        Session* oldest = list.oldest;
        oldest->relay_evicted_ = true;
        oldest->resume_relay(true);
    }
}

void Session::park_unlink() {
    auto& list = parked_relays;
    (parked_prev_ ? parked_prev_->parked_next_ : list.oldest) = parked_next_;
    (parked_next_ ? parked_next_->parked_prev_ : list.newest) = parked_prev_;
    parked_prev_ = parked_next_ = nullptr;
    --list.count;
}

void Session::resume_relay(bool later) {
    park_unlink();
    auto relay = std::move(*relay_parked_);
    relay_parked_.reset();
    if (later) {
        asio::post(client_.get_executor(), [relay = std::move(relay)]() mutable { relay(); });
    } else {
        relay();
    }
}

void Session::start_relay() {
    ++leases_;
    if (relay_parked_) {
        // Resumed here, up to its first wait for the server, before the segment is written.
        resume_relay(false);
    } else if (!relay_running_ && !relay_stop_) {
        relay_running_ = true;
        relay_evicted_ = false;
        asio::co_spawn(client_.get_executor(), relay_leases(), asio::detached);
    }
    // Else it is still writing the last lease's reply to the client, or resuming from an
    // eviction: this lease comes next.
}

void Session::stop_relay() {
    relay_stop_ = true;
    if (relay_parked_) resume_relay(true);  // else not started, or it stops after its lease
}

awaitable<void> Session::relay(std::shared_ptr<ServerConnection> conn) {
    ScopedStorage out_storage;
    std::string& out = *out_storage;
    passthrough_left_ = 0;
    relay_need_ = 0;
    for (;;) {
        const std::size_t want = std::max(kReadChunk, relay_need_);
        error_code ec;
        if (conn->tls()) {
            ec = co_await conn->fill(want);
        } else if (ready_wait_is_free) {
            // Wait for the reply without a system call, then read it (ready_wait.h).
            do {
                std::tie(ec) = co_await async_readable(conn->socket(), use_tuple);
            } while (!ec && receive_now(conn->socket(), conn->buffer(), want, ec) == 0 && !ec);
        } else {
            std::size_t n;
            std::tie(ec, n) = co_await conn->read_plain(want);
            if (!ec) conn->buffer().commit(n);
        }
        if (server_.get() != conn.get()) co_return;  // released or discarded while we waited
        out.clear();
        bool lost = ec.failed();
        if (!lost && !relay_messages(*conn, out)) {
            lost = true;
            spdlog::error("{} malformed reply from the server; closing that connection", prefix());
        }
        // A FATAL with nothing outstanding (pg_terminate_backend, a timeout): the server closes
        // next. The connection is lost now, not at the close: a client message that comes
        // between the two must meet the loss, not be sent to a server that is going away.
        if (!lost && server_fatal_ && conn->tracker().idle()) lost = true;
        account(conv_.take_tally());
        if (lost) {
            auto error = server_fatal_ ? *server_fatal_
                                       : errors::server_connection_lost(ec ? ec.message()
                                                                           : "malformed reply");
            server_fatal_.reset();
            server_lost(*conn, error, out);
        }
        const bool over = lost || releasable(*conn);
        if (!lost && over) {
            // Hand the connection on before writing the reply, so that the next waiting
            // client's query reaches the server while this reply is on its way (the client
            // stream keeps writes in order).
            hand_back();
            conn.reset();
        }
        if (!out.empty()) {
            // At once, without a coroutine frame, when the socket takes it all (the usual).
            std::string_view rest = out;
            auto written = write_client_now(rest);
            if (!written) written = co_await write_client(rest);
            if (!*written) {
                client_lost();
                co_return;
            }
        }
        if (over || server_.get() != conn.get()) co_return;
        if (!conn->tracker().idle()) continue;
        cancel_slot_->idle();
        if (conn->broken()) continue;  // wait for the server to close it, or the client
        if (conv_.read_back_due(*conn)) {
            conv_.append_read_back(*conn, to_server_);
            co_await flush_to_server();
            continue;
        }
        if (releasable(*conn)) {  // the client's next segment did not start meanwhile
            hand_back();
            co_return;
        }
        segment_done();
    }
}

// Returns the leased connection to the pool and wakes the serve loop.
void Session::hand_back() {
    cancel_slot_->idle();
    let_go().release();
    segment_done();
}

// A write to the client failed: the client is gone. Whatever it had open on the server is
// rolled back by closing the connection, and the serve loop, however far it had read into a
// pipeline, sends nothing more: a pipelined statement after the failed write must not run
// (in autocommit, on another connection) for a client that never sent its COMMIT.
void Session::client_lost() {
    client_gone_ = true;
    client_.close();  // wakes a serve loop that waits for the client
    if (server_) let_go().discard();
    cancel_slot_->idle();
    segment_done();
}

// The leased connection has answered everything, the transaction is over and no segment is
// being built: it can go back to the pool.
bool Session::releasable(ServerConnection& conn) const {
    return server_.get() == &conn && conv_.releasable(conn);
}

// Handles every whole (or streamable) message in the connection's buffer.
bool Session::relay_messages(ServerConnection& conn, std::string& out) {
    auto& buf = conn.buffer();
    std::string_view data = buf.view();
    std::size_t pos = 0;
    relay_need_ = 0;
    while (pos < data.size()) {
        if (passthrough_left_ > 0) {
            std::size_t n = std::min(passthrough_left_, data.size() - pos);
            if (passthrough_forward_) out.append(data.substr(pos, n));
            pos += n;
            passthrough_left_ -= n;
            continue;
        }
        if (data[pos] == '2' && conv_.binding_next()) {
            // The binding's replies, the usual way they come: dropped in one step.
            if (const std::size_t n = binding_replies(data.substr(pos))) {
                conv_.drop_binding_replies();
                pos += n;
                continue;
            }
        }
        protocol::Frame f;
        auto st = protocol::peek_frame(data.substr(pos), kMaxServerMessage, f);
        if (st == protocol::FrameStatus::too_short || st == protocol::FrameStatus::too_long)
            return false;
        if (st == protocol::FrameStatus::need_more) {
            if (f.total_size == 0) break;  // not even the header yet
            if (needs_whole(f.tag)) {
                relay_need_ = f.total_size;
                break;
            }
            // Too big to wait for: decide its fate now and stream it.
            auto forward = conv_.on_server_stream(f.tag);
            if (!forward) return false;
            passthrough_left_ = f.total_size;
            passthrough_forward_ = *forward;
            continue;
        }
        if (f.tag == 'D') {
            // Nothing changes from one of the client's rows to the next: the whole DataRows
            // after this one go with it, in one piece.
            const std::size_t run = f.total_size + whole_rows(data, pos + f.total_size);
            if (conv_.forward_rows(data.substr(pos, run), out)) {
                pos += run;
                continue;
            }
        }
        if (!relay_complete(conn, f.tag, f.bytes, out)) return false;
        pos += f.total_size;
        if (server_.get() != &conn) break;  // lost inside relay_complete
    }
    buf.consume(pos);
    return true;
}

bool Session::relay_complete(ServerConnection& conn, char tag, std::string_view bytes,
                             std::string& out) {
    auto news = conv_.on_server_message(tag, bytes, out);
    switch (news.kind) {
        case Conversation::ServerNews::Kind::none:
            break;
        case Conversation::ServerNews::Kind::wake:
            segment_done();
            break;
        case Conversation::ServerNews::Kind::binding_failed:
            server_lost(conn, errors::binding_failed(news.detail), out, true);
            break;
        case Conversation::ServerNews::Kind::closing:
            // Remembered for the client's next message.
            server_fatal_ =
                std::make_unique<protocol::Error>(errors::server_connection_lost(news.detail));
            break;
        case Conversation::ServerNews::Kind::unexpected:
            // pgtenant no longer knows which request the server answers: none of what follows
            // can be given to anyone.
            spdlog::warn("{} unexpected message type 0x{:02x} from server connection {}", prefix(),
                         static_cast<uint8_t>(tag), conn.id());
            return false;
    }
    return true;
}

// The server connection is gone (or unusable). Answer every outstanding client request the
// way the server would have after an error, forget the connection, and let the next
// transaction lease a fresh one.
//
// A transaction block that was open (or may have been opened by the segment under way) is
// gone with the connection: the client is then answered as inside a failed block until it
// ends it (AbortedTransaction), never in autocommit.
void Session::server_lost(ServerConnection& conn, const protocol::Error& error, std::string& out,
                          bool client_work_skipped) {
    const bool had_block = conv_.server_lost(!conn.tracker().idle(), client_work_skipped);
    admin::Slot::add(slot_->server_lost, 1);
    bool error_sent = conn.tracker().front_errored();
    auto pending = conn.tracker().abandon();
    for (auto r : pending) {
        if (!error_sent) protocol::encode_error(out, error);
        error_sent = true;
        if (r == Request::query || r == Request::function_call || r == Request::sync) {
            build::ready_for_query(out, had_block ? 'E' : 'I');
            error_sent = false;
        }
    }
    // The rest of an extended batch (or of the segment being built) is answered at its Sync.
    const bool mid_batch =
        (!pending.empty() && error_sent) || conv_.segment() == Conversation::Segment::open;
    conv_.close_segment();
    if (had_block) {
        aborted_ = std::make_unique<AbortedTransaction>(error, !pending.empty(), mid_batch);
    } else if (mid_batch) {
        conv_.skip_to_sync();
    }
    refused(error, fmt::format("server connection {}", conn.id()));
    conv_.forget_tracked();
    passthrough_left_ = 0;
    cancel_slot_->idle();
    let_go().discard();
    segment_done();
}

}  // namespace pgtenant::proxy
