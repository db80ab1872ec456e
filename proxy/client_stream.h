#pragma once
// A client connection: plain TCP until the client asks for TLS and gets it, then TLS.
// Exposes async_read_some / async_write_some so Asio's composed operations work on it.
#include <memory>

#include "proxy/asio.h"
#include "proxy/io.h"

namespace pgtenant::proxy {

class ClientStream {
  public:
    using executor_type = tcp::socket::executor_type;

    explicit ClientStream(tcp::socket s) : socket_(std::move(s)) {}

    executor_type get_executor() { return socket_.get_executor(); }
    tcp::socket& socket() { return socket_; }
    const tcp::socket& socket() const { return socket_; }
    bool is_tls() const { return tls_ != nullptr; }

    awaitable<error_code> start_tls(asio::ssl::context& ctx) {
        tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, ctx);
        auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_tuple);
        co_return ec;
    }

    template <typename Buffers, typename Token>
    auto async_read_some(const Buffers& b, Token&& token) {
        if (tls_) return tls_->async_read_some(b, std::forward<Token>(token));
        return socket_.async_read_some(b, std::forward<Token>(token));
    }

    template <typename Buffers, typename Token>
    auto async_write_some(const Buffers& b, Token&& token) {
        if (tls_) return tls_->async_write_some(b, std::forward<Token>(token));
        return socket_.async_write_some(b, std::forward<Token>(token));
    }

    // Writes all of `bytes`. Writes go one at a time, in the order they were asked for: a
    // writer waits for the one in progress (so a client that does not read holds up only its
    // own session, and pgtenant buffers at most one reply chunk for it). Plain TCP goes through
    // write_all (at once when lightly loaded), TLS through the TLS stream.
    awaitable<error_code> write(std::string_view bytes) {
        if (writing_) co_await drained();
        writing_ = true;
        error_code ec;
        if (tls_) {
            ec = co_await write_tls(bytes);
        } else {
            ec = co_await write_all(socket_, bytes);
        }
        writing_ = false;
        if (writer_done_) writer_done_->cancel();
        co_return ec;
    }

    // write's first step without a coroutine, when no write is in progress and the stream is
    // plain TCP (proxy::write_now): true when the write is over, false when write must send
    // the rest, left in `bytes`.
    bool write_now(std::string_view& bytes, error_code& ec) {
        return !writing_ && !tls_ && proxy::write_now(socket_, bytes, ec);
    }

    bool writing() const { return writing_; }
    // Returns once no write is in progress.
    awaitable<void> drained() {
        while (writing_) {
            // Never re-armed (cancel() leaves the expiry at "never"), so waiters do not wake
            // each other; woken in the order they started waiting.
            if (!writer_done_) {
                writer_done_ = std::make_unique<asio::steady_timer>(
                    socket_.get_executor(), asio::steady_timer::time_point::max());
            }
            co_await writer_done_->async_wait(use_tuple);
        }
    }

    // Ends the connection: the client sees it closed, and any read or write under way here
    // completes at once. The descriptor itself is closed with the stream, once no operation
    // is pending on it: with io_uring, closing a socket whose operation the kernel still holds
    // lets Asio 1.81 reuse that operation's bookkeeping for the next socket opened, and the
    // stale operation then runs on whichever socket gets the same descriptor number.
    void close() {
        error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
    }

  private:
    awaitable<error_code> write_tls(std::string_view bytes) {
        auto [ec, n] = co_await asio::async_write(*this, asio::buffer(bytes), use_tuple);
        co_return ec;
    }

    tcp::socket socket_;
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
    bool writing_ = false;
    std::unique_ptr<asio::steady_timer> writer_done_;  // cancelled when a write ends
};

}  // namespace pgtenant::proxy
