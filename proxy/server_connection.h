#pragma once
// One connection from pgtenant to PostgreSQL, logged in as the pool role, with pgtenant's own
// statements prepared on it. The pool holds these; a client session leases one at a time.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "proxy/asio.h"
#include "proxy/backend_tls.h"
#include "proxy/client_params.h"
#include "proxy/io.h"
#include "proxy/server_state.h"

namespace pgtenant::proxy {

// PostgreSQL never sends a message larger than 1 GiB; anything claiming more is corrupt.
inline constexpr std::size_t kMaxServerMessage = std::size_t{1} << 30;

// Run before a connection serves a different practice than its last one, when a statement it
// ran since may have left anything the guard cannot name (Session::reset_for_switch): returns
// it to a fresh session's state, committed on its own (a Query is its own transaction), so
// nothing one practice left behind - settings, temp tables, WITH HOLD cursors, LISTEN, session
// advisory locks, sequence state - reaches the next. (Prepared statements: DEALLOCATE ALL,
// added where needed.)
inline constexpr std::string_view kPracticeSwitchReset =
    "RESET ALL; RESET ROLE; DISCARD TEMP; CLOSE ALL; UNLISTEN *; "
    "SELECT pg_catalog.pg_advisory_unlock_all(); DISCARD SEQUENCES";

class ServerConnection : public ServerState {
  public:
    ServerConnection(tcp::socket s, int worker) : socket_(std::move(s)), worker_(worker) {}

    struct Opened {
        std::shared_ptr<ServerConnection> conn;
        std::string error;  // set when conn is null
    };
    // Connects, logs in as the pool role (SCRAM-SHA-256, MD5, cleartext or trust) and
    // prepares pgtenant's statements, all within backend.connect_timeout.
    // The connection belongs to `worker`, whose io_context runs the calling coroutine.
    static awaitable<Opened> open(const config::BackendConfig& cfg, int worker);

    // The TCP socket, TLS or not: for shutdown and close (never read or write it directly).
    tcp::socket& socket() { return socket_; }
    ReadBuffer& buffer() { return buffer_; }
    bool tls() const { return tls_ != nullptr; }

    // Reads more of the server's bytes into buffer(); an error on EOF or failure. Plain TCP
    // goes straight to the socket as before (no extra coroutine frame), TLS through OpenSSL.
    awaitable<error_code> fill(std::size_t min_free = 4096) {
        if (tls_) return tls_->read(buffer_, min_free);
        return proxy::fill(socket_, buffer_, min_free);
    }
    // fill's read on plain TCP, for a caller that commits what it got to buffer() itself: the
    // relay's read, one coroutine frame less a transaction.
    auto read_plain(std::size_t min_free) {
        return socket_.async_read_some(buffer_.prepare(min_free), use_tuple);
    }
    // Writes all of `bytes` to the server (plain: proxy::write_all, at once when lightly
    // loaded). Only one write at a time; a fill may run meanwhile.
    awaitable<error_code> write_all(std::string_view bytes) {
        if (tls_) return tls_->write(bytes);
        return proxy::write_all(socket_, bytes);
    }
    // write_all's first step without a coroutine (proxy::write_now; TLS: nothing, false).
    bool write_now(std::string_view& bytes, error_code& ec) {
        return !tls_ && proxy::write_now(socket_, bytes, ec);
    }
    int32_t pid() const { return pid_; }
    int32_t key() const { return key_; }
    uint64_t id() const { return id_; }

    // ParameterStatus values the server reported at login (server_version, ...).
    const std::vector<std::pair<std::string, std::string>>& startup_params() const {
        return startup_params_;
    }

    // False if the server closed the connection or sent something while it sat idle. A
    // connection idle for less than kIdleCheckAfter is not probed (one syscall per
    // transaction saved); if the server dropped it in that window, the client's transaction
    // gets 08006 as for any server lost mid-flight.
    static constexpr auto kIdleCheckAfter = std::chrono::milliseconds(100);
    bool idle_check();
    // A round trip (an empty query) within `timeout`: false for a connection not to reuse.
    // Only while idle, on the connection's own worker.
    awaitable<bool> ping(std::chrono::milliseconds timeout);
    void released() { released_at_ = std::chrono::steady_clock::now(); }
    std::chrono::steady_clock::time_point released_at() const { return released_at_; }
    std::chrono::steady_clock::time_point opened_at() const { return opened_at_; }
    // Closes an idle connection; over TLS with a close_notify first, so that PostgreSQL does
    // not log "Connection reset by peer". No operation may be pending on it.
    void close() {
        tls_.reset();
        error_code ignored;
        socket_.close(ignored);
    }

    // The worker thread whose io_context runs this connection's I/O.
    int worker() const { return worker_; }
    // The pool's generation when the connection was opened (Pool::retire_all).
    uint64_t generation() const { return generation_; }
    void set_generation(uint64_t g) { generation_ = g; }
    // Sealed mode: the last context token made for this backend (its pid is in it), reused
    // while the connection serves the same practice with the same key.
    struct ContextToken {
        std::string practice, kid, token;
        int64_t expires = 0;
    };
    ContextToken& context_token() { return context_token_; }
    // The binding's messages as last built for this backend, for `practice` (and, sealed, for
    // `token`): the connection usually serves the same practice again, and then they are
    // copied, not built.
    struct BindingBytes {
        std::string practice, token, bytes;
    };
    BindingBytes& binding_bytes() { return binding_bytes_; }
    // Hands the socket over to another worker's io_context. Only while idle: no operation may
    // be pending on it. A TLS session follows: it holds no executor, only this socket member.
    void move_to(int worker, const asio::any_io_executor& executor);

  private:
    awaitable<std::string> start_tls(const config::BackendConfig& cfg);
    awaitable<std::string> login(const config::BackendConfig& cfg);
    awaitable<bool> read_message(std::string& out);
    awaitable<std::string> send_or_why(std::string_view bytes);
    std::string closed_during(std::string_view what) const;
    awaitable<std::string> prepare_statements();

    tcp::socket socket_;
    tcp protocol_ = tcp::v4();         // of the connected socket, for move_to
    std::unique_ptr<BackendTls> tls_;  // set when the server accepted TLS
    ReadBuffer buffer_;
    ContextToken context_token_;
    BindingBytes binding_bytes_;
    std::vector<std::pair<std::string, std::string>> startup_params_;
    int32_t pid_ = 0, key_ = 0;
    uint64_t id_ = 0;
    int worker_ = 0;
    uint64_t generation_ = 0;
    std::chrono::steady_clock::time_point released_at_{};
    const std::chrono::steady_clock::time_point opened_at_ = std::chrono::steady_clock::now();
};

}  // namespace pgtenant::proxy
