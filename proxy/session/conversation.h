#pragma once
// The protocol state of one client's session, driven by messages: where the client's
// transaction block is (as the server's ReadyForQuery said), where the segment being relayed
// is, whether the transaction is bound yet, whether a COPY waits for data, and the client's
// session settings with what a server connection must run to hold them (settings.h).
//
// No sockets: the Session does the I/O and asks this class what to send; replies go through
// it on their way to the client. A test drives it over connections of its own to a real
// PostgreSQL (conversation_model_test).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/errors.h"
#include "protocol/replies.h"
#include "protocol/settings_scan.h"
#include "proxy/client_params.h"
#include "proxy/server_state.h"
#include "proxy/session/settings.h"

namespace pgtenant::proxy {

class Conversation {
  public:
    // The client's transaction block, as the last ReadyForQuery said ('I', 'T', 'E').
    enum class Block : uint8_t { idle, open, failed };
    // The client's messages are grouped into segments: everything up to and including a Query,
    // Sync or FunctionCall. A segment starts only when the previous one is fully answered.
    enum class Segment : uint8_t {
        closed,    // its end was sent: the client's next message starts the next one
        open,      // messages of it are being handled
        skipping,  // an error pgtenant answered ended it: the rest is skipped up to the Sync
    };

    // At login. In session pooling the server connection keeps the client's settings itself.
    void start(SessionParams startup, bool session_pooling);
    bool session_pooling() const { return session_pooling_; }

    Block block() const { return block_; }
    char status() const { return block_ == Block::idle ? 'I' : block_ == Block::open ? 'T' : 'E'; }
    Segment segment() const { return segment_; }
    bool bound() const { return bound_; }

    // --- the client's side ---
    void open_segment() { segment_ = Segment::open; }
    void close_segment() { segment_ = Segment::closed; }
    void skip_to_sync() { segment_ = Segment::skipping; }
    // A statement of the segment may open a transaction block (it began with BEGIN, say).
    void note_may_begin(bool may) { may_begin_ = may_begin_ || may; }
    void forget_may_begin() { may_begin_ = false; }
    // Whether the practice binding goes in front of a statement that `takes_snapshot` now:
    // once per transaction, never in a failed one. True means it is placed.
    bool place_binding(bool takes_snapshot);
    // COPY FROM STDIN: the client ended one (CopyDone or CopyFail); a Query or Execute starts
    // the count afresh.
    void copy_ended() { ++copies_ended_; }
    void copy_count_restart() { copies_begun_ = copies_ended_ = 0; }
    // The server waits for COPY data the client has not sent.
    bool copy_awaited() const { return copies_begun_ > copies_ended_; }
    // What the statement just sent writes (SET, RESET, set_config, ...).
    void note_writes(const protocol::SettingWrites& writes);

    ClientSettings& settings() { return settings_; }
    // The client was told `value` for reported setting `name` (at login).
    void told(const std::string& name, const std::string& value) { told_[name] = value; }

    // --- a server connection ---
    // One was leased: it is outside any transaction block, and nothing is bound there yet.
    void leased();
    // Appends what brings `server` to the client's settings (pgtenant's probes, no Sync) and
    // returns it; empty when nothing is needed. Run before the client's transaction begins.
    std::vector<SettingChange> append_settings(ServerState& server, std::string& out);
    // The probes' Sync was answered: without an error, `server` holds the client's settings.
    // Otherwise that error (the session cannot go on, as at a login with such a setting).
    std::optional<protocol::Error> settings_result(const std::vector<SettingChange>& changes,
                                                   ServerState& server);
    // Around a round trip of pgtenant's own (settings, re-preparing a statement): the first
    // error one of its probes got, if any.
    void probe_started() { probe_error_.reset(); }
    std::optional<protocol::Error> take_probe_error();

    // A reply to be forwarded to the client, as the server's ReplyTracker classified it
    // (`ours`: it answers one of pgtenant's own requests). Appends what the client gets.
    void on_forward(ServerState& server, bool ours, char tag, std::string_view bytes,
                    std::string& out);
    // A reply dropped by the tracker (pgtenant's requests, probes' errors included). Appends
    // what the client must be told once settings are read back (a RESET reported the pool's
    // default where the client's session has its startup value).
    void on_drop(ServerState& server, const protocol::ReplyTracker::Reply& reply, char tag,
                 std::string_view body, std::string& out);
    // After each reply handled by on_forward or on_drop, or replaced: whether the last thing
    // the server said is a ReadyForQuery (async messages after it do not change that).
    void seen(char tag) { ready_seen_ = tag == 'Z' || (ready_seen_ && is_async(tag)); }
    // A message streams through unread (too large to buffer).
    void streaming() { ready_seen_ = false; }

    // Settings a transaction wrote are read back once it is over, with nothing of the client's
    // outstanding: the values PostgreSQL holds then are the client's.
    bool read_back_due(const ServerState& server) const;
    void append_read_back(ServerState& server, std::string& out);
    // The connection has answered everything and no transaction or segment is open: it can go
    // back to the pool.
    bool releasable(const ServerState& server) const;
    // The server connection is lost with `pending` requests of the client's outstanding.
    // Returns whether a transaction block was open (or may have been, by the segment under
    // way): the client must then be answered as in a failed block until it ends it.
    bool server_lost(bool pending, bool client_work_skipped);

    // A fresh cookie for a request whose replies are followed (never 0).
    protocol::Cookie next_cookie();

  private:
    static bool is_async(char tag) { return tag == 'N' || tag == 'S' || tag == 'A'; }
    void forward_parameter_status(ServerState& server, bool ours, std::string_view bytes,
                                  std::string& out);
    void tell_own_values(std::string& out);

    Block block_ = Block::idle;
    Segment segment_ = Segment::closed;
    bool bound_ = false;       // the transaction's binding is placed
    bool may_begin_ = false;   // a statement of this segment may be BEGIN
    bool ready_seen_ = false;  // the last server reply was ReadyForQuery
    bool session_pooling_ = false;
    // COPY FROM STDIN: CopyInResponses the server sent, and CopyDone/CopyFail messages the
    // client sent, since the client's latest Query or Execute. More of the first: the server
    // waits for COPY data the client has not sent. (Two COPYs by Execute in one pipeline may be
    // miscounted: libpq refuses COPY in pipeline mode, and no driver sends that.)
    uint32_t copies_begun_ = 0;
    uint32_t copies_ended_ = 0;
    ClientSettings settings_;
    // Reported settings the client was told values of its own for (at login, or forwarded).
    SessionParams told_;
    // Settings being read back from the server connection, once a transaction wrote them.
    struct ReadBack {
        std::vector<std::string> names;
        std::vector<std::optional<std::string>> values;
        protocol::Cookie rows = 0;  // the Execute's cookie
        protocol::Cookie done = 0;  // the Sync's
    };
    std::unique_ptr<ReadBack> read_back_;
    std::optional<protocol::Error> probe_error_;  // a probe's error, while one is awaited
    protocol::Cookie last_cookie_ = 0;
};

}  // namespace pgtenant::proxy
