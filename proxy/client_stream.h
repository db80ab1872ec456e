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

    // Writes all of `bytes`. On plain TCP with no other write in progress, what the socket
    // takes goes out at once (see write_all); otherwise, and for TLS, asynchronously.
    awaitable<error_code> write(std::string_view bytes) {
        ++writes_in_progress_;
        error_code ec;
        if (!tls_ && writes_in_progress_ == 1) {
            ec = co_await write_all(socket_, bytes);
        } else {
            auto [wec, n] = co_await asio::async_write(*this, asio::buffer(bytes), use_tuple);
            ec = wec;
        }
        --writes_in_progress_;
        co_return ec;
    }

    void close() {
        error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

  private:
    tcp::socket socket_;
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
    int writes_in_progress_ = 0;
};

}  // namespace pgtenant::proxy
