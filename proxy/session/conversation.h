#pragma once
// The protocol state of one client's session, driven by messages: where the client's
// transaction block is (as the server's ReadyForQuery said), where the segment being relayed
// is, whether the transaction is bound yet, whether a COPY waits for data, the client's
// session settings with what a server connection must run to hold them (settings.h), and the
// client's prepared statements with the requests whose replies update them
// (conversation_statements.cpp).
//
// No sockets: the Session does the I/O and the waiting (for a server connection, for a round
// trip of pgtenant's own) and asks this class what becomes of each client message
// (on_client_message) and each server message (on_server_message). A test drives it over
// connections of its own to a real PostgreSQL (conversation_model_test).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "protocol/errors.h"
#include "protocol/guard/guard.h"
#include "protocol/messages.h"
#include "protocol/replies.h"
#include "protocol/row_shape.h"
#include "protocol/sql_names.h"
#include "proxy/client_params.h"
#include "proxy/handover/snapshot.h"
#include "proxy/server_state.h"
#include "proxy/session/settings.h"
#include "proxy/statements.h"

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

    // How a statement's transaction is bound to the practice (DESIGN §3.2).
    enum class Binding : uint8_t {
        before,    // the binding goes in front of it
        deferred,  // it takes no snapshot: the binding waits for the next statement that does
        never,     // it must run outside a pipeline: no binding in front of it
    };

    // At login (`session_id` tells this client's unnamed statement apart on a connection). In
    // session pooling the server connection keeps the client's settings itself.
    void start(SessionParams startup, bool session_pooling, uint64_t session_id);
    bool session_pooling() const { return session_pooling_; }
    // A binary upgrade, between transactions: the client's settings, the values it was told
    // and its statements, into a snapshot (handover), and out of one, after start().
    void snapshot_into(handover::SessionSnapshot& s) const;
    void resume_from(const handover::SessionSnapshot& s, protocol::guard::StatementGuard& guard);

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
    void note_writes(const protocol::guard::SettingWrites& writes);

    ClientSettings& settings() { return settings_; }
    const ClientSettings& settings() const { return settings_; }
    // The client was told `value` for reported setting `name` (at login).
    void told(const std::string& name, const std::string& value) { told_[name] = value; }

    // --- a server connection ---
    // One was leased (`out`: what is to be written to it): it is outside any transaction block,
    // and nothing is bound there yet.
    void leased(ServerState& server, std::string& out);
    // It went back to the pool, or was lost.
    void let_go() { server_ = nullptr; }
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

    // What the session must do after a server message, besides writing what the client gets.
    struct ServerNews {
        enum class Kind : uint8_t {
            none,
            wake,            // the serve loop waits for this: a statement's shape, COPY data
            binding_failed,  // pgtenant's own request failed: the connection must be abandoned
            closing,         // a FATAL on a connection with nothing outstanding: it closes
            unexpected,      // a message no request explains, or misframed: the stream is lost
        };
        Kind kind = Kind::none;
        std::string detail;  // the server's message, for binding_failed and closing
    };
    // A whole message from the leased connection, matched to what was sent by its
    // ReplyTracker. Appends what the client gets to `out`: the client's replies, with
    // pgtenant's refusals in place of their substitutes' errors; never the replies to
    // pgtenant's own requests, nor other sessions' settings.
    // What the client was answered since the last take_tally(), for the counters: request
    // cycles (ReadyForQuery), of them those that ended a transaction, and server errors.
    struct Tally {
        uint32_t ready = 0;
        uint32_t ended = 0;
        uint32_t errors = 0;
    };
    Tally take_tally() { return std::exchange(tally_, Tally{}); }
    ServerNews on_server_message(char tag, std::string_view bytes, std::string& out);
    // DataRows (one or more, whole) of one of the client's own results, forwarded the short way
    // (as on_server_message would each, with nothing else to do); false when they are not.
    bool forward_rows(std::string_view rows, std::string& out) {
        if (!server_->tracker().on_client_row()) return false;
        out.append(rows);
        seen('D');
        return true;
    }
    // Whether the next replies answer the binding (ReplyTracker::binding_next).
    bool binding_next() const { return server_->tracker().binding_next(); }
    // The binding's four successful replies, whole, dropped the short way (as
    // on_server_message would drop each, with nothing else to do). Only when binding_next().
    void drop_binding_replies() {
        server_->tracker().on_binding_replies();
        seen('3');
    }
    // A message too large to buffer, decided by its tag alone: true to forward it as it
    // streams, false to drop it; nullopt when no message of that kind may stream.
    std::optional<bool> on_server_stream(char tag);

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

    // --- what becomes of a client message (conversation_decide.cpp) ---
    // The simple Query being handled is a SQL-level PREPARE or EXECUTE of statement `name`.
    struct SqlPrepared {
        enum class Kind : uint8_t { none, prepare, execute };
        Kind kind = Kind::none;
        std::string name;
        protocol::TextSpan span;  // where the name is in the Query's text
    };
    // What the statement guard allows (from the configuration, read anew for each message).
    struct Policy {
        const std::string& tenant_setting;  // reserved: the practice comes from the login
        bool allow_maintenance;             // VACUUM and other commands outside a pipeline
        protocol::guard::StatementGuard& guard;
        bool allow_explain_analyze = false;  // its row counts include rows RLS hid
    };
    struct Decision {
        Binding binding = Binding::deferred;  // what starts no statement needs no binding
        std::optional<protocol::Error> refusal;
        protocol::guard::SettingWrites writes;  // the settings it writes
        bool discards_statements = false;       // it may DEALLOCATE ALL / DISCARD ALL on the server
        uint8_t effects = 0;  // what it may leave in the server session (guard::Effect bits)
        SqlPrepared sql_prepared;
    };
    // Decides what becomes of client message `m`, in a segment that is open or about to open:
    // where its transaction's binding goes, whether pgtenant refuses it, what it writes. What
    // pgtenant answers itself without the server (DEALLOCATE, DISCARD ALL on their own) is
    // appended to `local`.
    Decision on_client_message(const protocol::ClientMessage& m, const Policy& policy,
                               std::string& local);
    // Message `m`, decided so, was sent to the server: what it wrote and discarded is the
    // client's now.
    void sent(const Decision& d);

    // The Describe the serve loop waits for while it re-prepares a statement (one at a time).
    struct ShapeCheck {
        protocol::Cookie cookie = 0;
        bool done = false;
        std::optional<protocol::RowShape> shape;  // nullopt: failed or skipped
        std::string parameters;                   // its ParameterDescription message
    };

    // --- a client message on its way to the server (conversation_forward.cpp) ---
    struct Forwarded {
        enum class Kind : uint8_t {
            sent,
            refused,      // the server is made to fail it with `refusal`
            shape_check,  // the serve loop must learn the shape the Describe `describe` gives
                          // (a statement prepared again here), then call finish_use()
        };
        Kind kind = Kind::sent;
        std::optional<protocol::Error> refusal;  // for the log
        protocol::Cookie describe = 0;
    };
    // Appends message `m`, decided so, to what the connection is sent.
    Forwarded forward(const protocol::ClientMessage& m, const Decision& d);
    // The shape check asked for by forward() is answered: `m` goes on, or is refused because
    // the statement's result columns changed since the client prepared it.
    Forwarded finish_use(const protocol::ClientMessage& m, ShapeCheck check);

    // --- the client's prepared statements (conversation_statements.cpp) ---
    // Below, "the connection" is the leased one, and what is sent goes to its `out`.
    ClientStatements& statements() { return statements_; }
    const ClientStatements& statements() const { return statements_; }
    // The connection is gone: nothing outstanding will be answered.
    void forget_tracked();
    // Makes the server fail in place of the refused message `m`, so that transaction state and
    // the skip-to-Sync rule stay exactly the server's; `refusal` replaces its error.
    // `preamble`: replies PostgreSQL sends before such an error (a Describe's parameters).
    // `outranks_failed_block`: the client gets `refusal` even where the server answers 25P02.
    void substitute(const protocol::ClientMessage& m, protocol::Error refusal,
                    std::string preamble = {}, bool outranks_failed_block = false);

    // Whether the client's statement must keep its result shape here (not in a failed block).
    bool shape_matters(const PreparedStatement& s) const;
    // Whether the connection's copy of `s` can be used as it is.
    bool ready_here(const PreparedStatement& s);
    // Appends a Parse of `s` and a hidden Describe learning its shape, closing first whatever
    // copy or least recently used statement must make room. Returns the Describe's cookie.
    protocol::Cookie prepare_on_server(std::string_view client_name, const PreparedStatement& s,
                                       protocol::Origin origin);

    // The client's unnamed statement, as PostgreSQL keeps it for the session until the next
    // unnamed Parse or simple Query; prepared again wherever the client uses it.
    // The client's unnamed Parse `m`, forwarded; `binding`: where a Bind of it puts the binding.
    // `effects`: what executing it may leave in the session (guard::Effect bits).
    void parse_unnamed(const protocol::ClientMessage& m, Binding binding,
                       uint8_t effects = protocol::guard::kAnything);
    // Where a Bind of the unnamed statement puts the binding; nullopt if there is none.
    std::optional<Binding> unnamed_binding() const;
    // Before a Bind or Describe of the unnamed statement: the connection is made to hold the
    // client's own (another client's may be there). False when the client has none.
    bool unnamed_ready();

    // PREPARE <server_name><tail>, run through the unnamed statement and pgtenant's own portal.
    // `tracked`: if it fails, server_name is broken here, as after a failed Parse.
    void append_sql_prepare(const std::string& server_name, std::string_view tail,
                            protocol::Origin origin, bool tracked);

    void start_shape_check(protocol::Cookie describe);
    bool shape_check_done() const { return !shape_check_ || shape_check_->done; }
    ShapeCheck take_shape_check();
    // An idle client costs little: memory of the tracked requests' table is given back.
    void release_idle_memory() {
        if (tracked_.empty()) decltype(tracked_)().swap(tracked_);
    }

  private:
    // A fresh cookie for a request whose replies are followed (never 0).
    protocol::Cookie next_cookie();

    // A request whose answer updates this bookkeeping, keyed by its tracker cookie.
    struct Tracked {
        enum class Kind : uint8_t {
            parse,     // creates server_name (for client statement client_name/client_id, if
                       // any): undone if it fails
            describe,  // learns server_name's shape (and the client statement's, if unknown)
            use,       // the client's Bind/Describe of server_name: 0A000 means broken here
            refusal,   // a substitute: the client gets `refusal` instead of the server's error
            close,     // closes server_name: if skipped, the statement is still there
        };
        Kind kind;
        std::string server_name;
        std::string client_name;
        uint64_t client_id = 0;
        struct Refusal {
            protocol::Error error;
            std::string preamble;  // what precedes the error
            bool outranks_failed_block = false;
        };
        std::unique_ptr<Refusal> refusal;
    };
    // Records the request just appended. Returns its cookie, or 0 when the server will ignore
    // it (it skips to the next Sync).
    protocol::Cookie send_tracked(protocol::Request r, protocol::Origin origin, Tracked t);
    // The client's Bind or Describe `m` of a statement, for its server copy `server_name`.
    void forward_use(const protocol::ClientMessage& m, const std::string& server_name);
    // Records server_name as prepared here now, closing first an earlier copy of it and what
    // must make room (ServerStatements::add).
    void add_on_server(const std::string& server_name);
    void forget_unnamed();
    // Forwards the client's PREPARE or EXECUTE `m` as the server must run it. False when the
    // EXECUTE's statement is gone (the caller refuses it).
    bool forward_sql_prepared(const protocol::ClientMessage& m, const SqlPrepared& sql);
    // After each reply: whether the last thing the server said is a ReadyForQuery (async
    // messages after it do not change that).
    void seen(char tag) { ready_seen_ = tag == 'Z' || (ready_seen_ && is_async(tag)); }
    void on_forward(bool ours, char tag, std::string_view bytes, std::string& out);
    // Appends what the client must be told once settings are read back (a RESET reported the
    // pool's default where the client's session has its startup value).
    void on_drop(const protocol::ReplyTracker::Reply& reply, char tag, std::string_view body,
                 std::string& out);
    static bool is_async(char tag) { return tag == 'N' || tag == 'S' || tag == 'A'; }
    void forward_parameter_status(bool ours, std::string_view bytes, std::string& out);
    void tell_own_values(std::string& out);
    Binding decide_statement(char tag, std::string_view sql, const Policy& policy, Decision& d,
                             std::string& local);
    Binding decide_bind(const protocol::ClientMessage& m, const Policy& policy, Decision& d);
    Binding decide_deallocate(char tag, const std::string& name, Decision& d, std::string& local);
    std::optional<Binding> decide_discard(char tag, const protocol::guard::Facts& c, Decision& d,
                                          std::string& local);
    // Appends what the client gets instead of a substitute's failure; false if unknown.
    // `failed_block`: the server answered 25P02, which only some refusals outrank.
    bool take_refusal(protocol::Cookie cookie, bool failed_block, std::string& out);
    // Each reply to a tracked request, and the requests an error ended unanswered.
    void settle(const protocol::ReplyTracker::Reply& reply, char tag, std::string_view body);
    void settle_failed(protocol::Cookie cookie, const protocol::ReplyTracker::Reply& reply,
                       char tag, std::string_view body);
    void learn_shape(const Tracked& t, protocol::Cookie cookie,
                     std::optional<protocol::RowShape> shape);
    void close_on_server(const std::string& server_name);
    void prepare_sql_on_server(const PreparedStatement& s, protocol::Origin origin);
    void record_unnamed_parse(protocol::Origin origin);
    Forwarded use_statement(const protocol::ClientMessage& m, const PreparedStatement& s);
    Forwarded refuse(const protocol::ClientMessage& m, protocol::Error refusal,
                     std::string preamble = {});

    Block block_ = Block::idle;
    Tally tally_;
    bool ran_ = false;  // a statement completed or failed since the last transaction ended
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

    ServerState* server_ = nullptr;  // the leased connection, if any
    std::string* out_ = nullptr;     // what is to be written to it
    uint64_t session_id_ = 0;
    ClientStatements statements_;  // the client's named prepared statements
    // Its storage is kept for the next one (drivers parse one per statement).
    struct UnnamedStatement {
        bool exists = false;
        std::string query;
        std::vector<int32_t> param_types;
        uint64_t generation = 0;
        Binding binding = Binding::before;  // where a Bind of it puts the binding
        uint8_t effects = 0;                // what executing it may leave (guard::Effect)
        protocol::Cookie parse = 0;         // of its latest Parse, which may fail
    };
    UnnamedStatement unnamed_;
    std::unordered_map<protocol::Cookie, Tracked> tracked_;
    std::unique_ptr<ShapeCheck> shape_check_;
    // A Bind or Describe waiting for its statement's shape check: the server copy it will use
    // and the shape the client's statement has.
    struct PendingUse {
        std::string server_name;
        protocol::RowShape want;
    };
    PendingUse pending_use_;
    bool wake_ = false;
};

}  // namespace pgtenant::proxy
