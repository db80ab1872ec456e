#pragma once
// One client connection, one coroutine: startup -> TLS -> authenticate -> serve.
// A second coroutine relays the leased server connections' replies to the client, one lease
// after another (it waits, parked, between them); both run on the session's worker thread, so
// session state needs no locks.
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/directory.h"
#include "protocol/errors.h"
#include "protocol/messages.h"
#include "protocol/replies.h"
#include "protocol/row_shape.h"
#include "protocol/sql_names.h"
#include "proxy/app.h"
#include "proxy/client_params.h"
#include "proxy/client_stream.h"
#include "proxy/handover/snapshot.h"
#include "proxy/io.h"
#include "proxy/session/aborted_transaction.h"
#include "proxy/session/conversation.h"
#include "proxy/statements.h"

namespace pgtenant::proxy {

class Session : public std::enable_shared_from_this<Session>, public admin::ClientHandle {
  public:
    // `worker`: the worker thread whose io_context runs the socket and this session.
    Session(App& app, tcp::socket socket, int worker);
    ~Session() override;

    // The whole life of the connection; `self` keeps the session alive until it ends.
    static awaitable<void> run(std::shared_ptr<Session> self);
    // In a successor (handover.cpp): client socket `fd`, handed over by the old process with
    // its session, is served on worker `worker` from here on.
    static void adopt(App& app, int worker, int fd, handover::SessionSnapshot snapshot);

    // --- for the console (operating.cpp); on this session's worker thread only ---
    admin::ClientInfo describe() const override;
    const std::string& practice() const override { return practice_; }
    bool is_admin() const override { return admin_; }
    void terminate() override { end_with(protocol::errors::terminated_by_admin()); }
    void enforce_timeouts(std::chrono::steady_clock::time_point now) override;
    void end_if_idle() override;
    void hand_over_if_idle() override;
    bool check_login(const auth::PracticeDirectory& directory) override;

  private:
    enum class StartupOutcome { proceed, done };

    // --- startup and authentication (startup.cpp) ---
    awaitable<bool> admit();
    awaitable<bool> login();
    awaitable<StartupOutcome> startup();
    awaitable<bool> negotiate_protocol(const std::vector<std::string>& unrecognised);
    awaitable<bool> authenticate();
    awaitable<bool> authenticate_scram(const auth::Login* login);
    awaitable<bool> authenticate_md5(const auth::Login& login);
    awaitable<bool> read_password_message(std::string& msg);
    awaitable<bool> send_welcome();
    awaitable<void> refuse(const protocol::Error& e);  // send a FATAL error and stop
    // Refuses a logged-in client whose login may not use the database it asked for.
    awaitable<bool> check_database(const auth::Login& login);

    // --- a binary upgrade (handover.cpp) ---
    static awaitable<void> resume(std::shared_ptr<Session> self, handover::SessionSnapshot s);
    awaitable<bool> take_over(handover::SessionSnapshot s);
    bool can_move() const;
    bool hand_over(std::string_view pending);

    // --- counting, the console's view, the audit log (operating.cpp) ---
    // `event`: the audit log's ("login", or "handover" for a client taken over).
    void logged_in(std::string_view event = "login");
    // Logs, counts and audits an error pgtenant answers the client with itself.
    void refused(const protocol::Error& e, std::string_view context = {});
    void account(Conversation::Tally tally);
    awaitable<void> wait_while_paused();
    // Ends the session with `e` (FATAL) from outside its coroutines: the console, a timeout.
    void end_with(protocol::Error e);
    // Between transactions: no request under way, no transaction block open, not waiting.
    bool between_transactions() const;
    std::string client_address() const;

    // --- the admin console (console_session.cpp) ---
    awaitable<bool> send_console_welcome();
    awaitable<void> serve_console();

    // --- serving (serve.cpp) ---
    awaitable<void> serve();
    void release_idle_memory();
    awaitable<void> refuse_framing(bool too_long, std::size_t size);
    awaitable<void> refuse_message(protocol::Error e);
    awaitable<bool> receive_large_message(std::size_t size, std::size_t want);
    void end_large_message();
    awaitable<void> parse_long_text(std::string_view msg);
    awaitable<bool> handle_client_message(std::string_view msg);
    awaitable<bool> refuse_violation(std::string message);
    using Binding = Conversation::Binding;
    awaitable<bool> answer_aborted(std::string_view msg);
    awaitable<bool> interrupt_copy(char tag);
    awaitable<bool> end_while_draining();
    bool lease_now();
    awaitable<bool> lease_waiting(char tag);
    void leased(Lease lease);
    std::vector<SettingChange> open_segment();

    // --- the practice binding and the client's settings (binding.cpp) ---
    void prepare_for_practice(ServerConnection& conn);
    void reset_for_switch(ServerConnection& conn);
    awaitable<bool> apply_settings(char tag);
    awaitable<bool> probe_round_trip(char tag, std::string_view doing);
    void append_binding();
    const std::string& context_token(ServerConnection& conn);
    // `preamble`: replies PostgreSQL sends before such an error (a Describe's parameters).
    // `outranks_failed_block`: the client gets `refusal` even where the server answers 25P02
    // (the error that failed the transaction is pgtenant's to tell).
    void refuse_via_server(const protocol::ClientMessage& m, protocol::Error refusal,
                           std::string preamble = {}, bool outranks_failed_block = false);
    void local_reply_error(char tag, const protocol::Error& e);
    awaitable<bool> flush_local();
    awaitable<bool> flush_to_server();
    // flush_to_server without a coroutine, in the usual case (the socket takes every byte at
    // once): true when it has nothing more to do, false when flush_to_server must go on.
    bool flushed_now();
    awaitable<void> wait_segment_done();
    awaitable<void> wait_relay();
    void end_of_session();
    // The lease becomes server_ (counted for io_at_once while held), and back.
    void hold(Lease lease);
    Lease let_go();

    // --- prepared statements (statements.cpp, sql_prepared.cpp) ---
    std::optional<protocol::Cookie> send_client_message(const protocol::ClientMessage& m);
    awaitable<void> send_after_shape_check(const protocol::ClientMessage& m,
                                           protocol::Cookie describe);
    // SQL-level PREPARE and EXECUTE, each alone in a simple Query (sql_prepared.cpp).
    awaitable<bool> sql_prepared_checked(const protocol::ClientMessage& m,
                                         std::optional<protocol::Error>& refusal,
                                         bool& outranks_failed_block);

    // --- relaying server replies (relay.cpp) ---
    // The relay coroutine: each lease in turn, parked between them, until stop_relay().
    awaitable<void> relay_leases();
    awaitable<void> relay(std::shared_ptr<ServerConnection> conn);
    // A new lease for the relay: wakes it, or starts it the first time.
    void start_relay();
    // The session's coroutine ended: the relay ends too (parked, it holds the session).
    void stop_relay();
    // Takes the relay out of relay_parked_ and resumes it: here, or posted (`later`).
    void resume_relay(bool later);
    // Into and out of this worker's list of parked relays; parking past its bound ends the
    // oldest.
    void park_link();
    void park_unlink();
    struct RelayStopper {
        Session& s;
        ~RelayStopper() { s.stop_relay(); }
    };
    bool relay_messages(ServerConnection& conn, std::string& out);
    // False when the message shows the stream cannot be followed (the connection is lost).
    bool relay_complete(ServerConnection& conn, char tag, std::string_view bytes, std::string& out);
    // `client_work_skipped`: the server skipped the client's messages (the binding failed).
    void server_lost(ServerConnection& conn, const protocol::Error& error, std::string& out,
                     bool client_work_skipped = false);
    void client_lost();
    void segment_done();
    bool releasable(ServerConnection& conn) const;
    void hand_back();

    awaitable<bool> write_client(std::string_view bytes);
    // write_client without a coroutine, in the usual case (the socket takes every byte at
    // once): whether the client is still there, or nullopt when write_client must send the
    // rest, left in `bytes`.
    std::optional<bool> write_client_now(std::string_view& bytes);
    std::string prefix() const;

    App& app_;
    ClientStream client_;
    ReadBuffer client_buf_;
    uint64_t id_;
    int worker_;
    std::string user_;
    std::string practice_;
    StartupRequest request_;
    // Transaction, segment, settings and statements: what the session decides by (socket-free).
    Conversation conv_;
    std::shared_ptr<CancelSlot> cancel_slot_;
    int32_t cancel_pid_ = 0;
    int32_t cancel_key_ = 0;
    bool counted_ = false;
    bool practice_counted_ = false;  // in app_.practice_clients
    bool from_lookup_ = false;       // the login came from tenant.directory_query
    bool auth_abandoned_ = false;    // the client hung up mid-authentication
    // A binary upgrade: serve() waits for the client between transactions (it may move now),
    // it is woken to move, it moved.
    bool idle_wait_ = false;
    bool handing_over_ = false;
    bool handed_over_ = false;

    // Operating: the practice's counters on this worker, the console's view.
    admin::Slot* slot_ = nullptr;  // set at login; the unbound slot for admins
    bool admin_ = false;
    bool registered_ = false;  // in app_.registry, counted among the clients
    bool waiting_ = false;     // for a server connection (or for RESUME)
    bool terminating_ = false;
    bool login_removed_ = false;  // by a reload: ended once between transactions
    bool cancel_sent_ = false;    // query_timeout cancelled the request under way
    uint32_t transactions_ = 0;   // for the audit log's disconnect line
    std::string client_addr_;     // "address:port", read at login
    using SteadyTime = std::chrono::steady_clock::time_point;
    std::chrono::system_clock::time_point connect_time_ = std::chrono::system_clock::now();
    // The request under way (query time; while waiting_, since when it waits).
    SteadyTime request_started_{};
    SteadyTime xact_started_{};  // the transaction under way; zero when none
    // Timeouts (enforce_timeouts): client messages so far (mod 2^32), and what the last sweep
    // saw.
    uint32_t messages_ = 0;
    uint32_t swept_messages_ = 0;
    SteadyTime quiet_since_ = std::chrono::steady_clock::now();  // no client message since

    // Serving state.
    Lease server_;                                 // leased server connection, if any
    std::vector<SettingChange> pending_settings_;  // open_segment's, for apply_settings
    std::string to_server_;                        // bytes of the segment being built
    std::string writing_;                          // bytes being written to the server
    std::string emulated_;                         // replies pgtenant answers itself
    bool server_writing_ = false;                  // a write to the server is under way
    Conversation::Decision decision_;              // about the client message being handled
    bool client_gone_ = false;                     // a write to the client failed
    std::size_t large_message_ = 0;                // bytes of server.message_memory_bytes held
    std::chrono::steady_clock::time_point large_deadline_;  // for the large message to arrive
    std::size_t passthrough_left_ = 0;  // bytes of a large message still streaming
    bool passthrough_forward_ = false;
    std::size_t relay_need_ = 0;  // bytes the relay needs buffered to go on
    // The relay between leases, and its state: leases so far, the last one it relayed.
    std::optional<asio::detail::awaitable_handler<asio::any_io_executor>> relay_parked_;
    uint64_t leases_ = 0;
    uint64_t relayed_lease_ = 0;
    bool relay_running_ = false;
    bool relay_stop_ = false;     // for good: the session ended
    bool relay_evicted_ = false;  // for now: too many relays were parked on this worker
    // This worker's parked relays, oldest first (relay.cpp): links while parked.
    Session* parked_prev_ = nullptr;
    Session* parked_next_ = nullptr;
    std::unique_ptr<protocol::Error> server_fatal_;  // a FATAL the server sent while idle
    // Set while the client's transaction block died with its server connection.
    std::unique_ptr<AbortedTransaction> aborted_;
    std::unique_ptr<asio::steady_timer> segment_event_;  // cancelled when a segment completes
};

// The client's error for a failed lease.
protocol::Error pool_error(const PoolError& e);

// Handles a CancelRequest connection (no session is created for it).
awaitable<void> handle_cancel(App& app, int32_t pid, int32_t key);

}  // namespace pgtenant::proxy
