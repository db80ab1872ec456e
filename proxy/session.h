#pragma once
// One client connection, one coroutine: startup -> TLS -> authenticate -> serve.
// While a server connection is leased, a second coroutine relays its replies to the client;
// both run on the session's strand, so session state needs no locks.
#include <memory>
#include <optional>
#include <string>

#include "auth/directory.h"
#include "protocol/classify.h"
#include "protocol/errors.h"
#include "proxy/app.h"
#include "proxy/client_params.h"
#include "proxy/client_stream.h"
#include "proxy/io.h"

namespace pgtenant::proxy {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(App& app, tcp::socket socket);
    ~Session();

    // The whole life of the connection.
    awaitable<void> run();

private:
    enum class StartupOutcome { proceed, done };

    // --- startup and authentication (session_startup.cpp) ---
    awaitable<StartupOutcome> startup();
    awaitable<bool> authenticate();
    awaitable<bool> authenticate_scram(const auth::Login* login);
    awaitable<bool> authenticate_md5(const auth::Login& login);
    awaitable<bool> send_welcome();
    awaitable<void> refuse(const protocol::Error& e);  // send a FATAL error and stop

    // --- serving (session_serve.cpp) ---
    awaitable<void> serve();
    awaitable<bool> handle_client_message(std::string_view msg);
    awaitable<bool> begin_segment(char tag, std::string_view msg);
    bool policy_check(char tag, std::string_view msg, std::optional<protocol::Error>& refusal);
    void refuse_statement(char tag, std::string_view msg, protocol::Error refusal);
    void append_binding();
    awaitable<bool> flush_to_server();
    awaitable<void> wait_segment_done();
    void local_reply_error(char tag, const protocol::Error& e);
    void end_of_session();

    // --- relaying server replies (session_relay.cpp) ---
    awaitable<void> relay(std::shared_ptr<ServerConnection> conn);
    bool relay_messages(ServerConnection& conn, std::string& out, std::vector<asio::const_buffer>& parts,
                        bool& saw_ready);
    void server_lost(const std::string& why);
    void after_ready(ServerConnection& conn);
    void segment_done();

    awaitable<bool> write_client(std::string_view bytes);
    std::string prefix() const;

    App& app_;
    ClientStream client_;
    ReadBuffer client_buf_;
    uint64_t id_;
    std::string user_;
    std::string practice_;
    StartupRequest request_;
    bool session_pooling_ = false;
    std::shared_ptr<CancelSlot> cancel_slot_;
    int32_t cancel_pid_ = 0;
    bool counted_ = false;

    // Serving state.
    std::shared_ptr<ServerConnection> server_;  // leased server connection, if any
    std::string to_server_;                     // bytes of the segment being built
    bool segment_open_ = false;                 // a segment started and its end not yet sent
    bool needs_binding_ = true;                 // next segment starts a transaction
    bool skip_until_sync_ = false;              // client-side: an error ended this segment
    bool writing_client_ = false;
    char status_ = 'I';                         // last ReadyForQuery status from the server
    std::optional<protocol::Error> pending_failure_;   // to report at the client's next message
    std::vector<protocol::Error> substitute_errors_;   // errors replacing substitutes' failures
    bool binding_error_sent_ = false;
    std::unique_ptr<asio::steady_timer> segment_event_;  // cancelled when a segment completes
};

// Handles a CancelRequest connection (no session is created for it).
awaitable<void> handle_cancel(App& app, int32_t pid, int32_t key);

}  // namespace pgtenant::proxy
