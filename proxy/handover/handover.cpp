#include "proxy/handover/handover.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "proxy/handover/channel.h"
#include "proxy/handover/snapshot.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy::handover {

using namespace asio::experimental::awaitable_operators;

namespace {
// A successor must greet within this, and a client's frame must go through within this (the
// successor reads them as they come; a stuck one is treated as gone).
constexpr int kGreetingMs = 5000;
constexpr int kSendMs = 5000;
}  // namespace

bool Outbox::send(int client_fd, std::string_view snapshot) {
    std::lock_guard lock(mu_);
    if (fd_ < 0) return false;
    if (!send_client(fd_, client_fd, snapshot)) {
        spdlog::warn("handover: the successor stopped taking clients ({}); the rest are ended",
                     std::strerror(errno));
        ::close(fd_);
        fd_ = -1;
        return false;
    }
    return true;
}

void Outbox::close() {
    std::lock_guard lock(mu_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

Listener::Listener(App& app, asio::any_io_executor ex, int fd, std::string path,
                   std::function<void()> ended)
    : app_(app), acceptor_(ex), path_(std::move(path)), inode_(inode_of(path_)) {
    acceptor_.assign(asio::local::stream_protocol(), fd);
    asio::co_spawn(ex, accept_loop(), [ended = std::move(ended)](std::exception_ptr) { ended(); });
}

Listener::~Listener() { close(); }

void Listener::close() {
    if (!acceptor_.is_open()) return;
    error_code ignored;
    acceptor_.close(ignored);
    // Once a successor took over, the file is (or soon is) its own.
    if (!outbox_) remove_if_ours(path_, inode_);
}

awaitable<void> Listener::accept_loop() {
    for (;;) {
        auto [ec, peer] = co_await acceptor_.async_accept(use_tuple);
        if (ec) co_return;
        if (!peer_is_same_user(peer.native_handle())) {
            spdlog::warn("handover: refused a connection to {} from another user", path_);
            continue;
        }
        char hello[kHello.size()];
        asio::steady_timer timer(acceptor_.get_executor(), std::chrono::milliseconds(kGreetingMs));
        auto read = co_await (asio::async_read(peer, asio::buffer(hello), use_tuple) ||
                              timer.async_wait(use_tuple));
        if (read.index() != 0 || std::get<0>(std::get<0>(read)) ||
            std::string_view(hello, sizeof hello) != kHello) {
            spdlog::warn("handover: a connection to {} did not greet as a pgtenant; closed", path_);
            continue;
        }
        if (app_.draining || app_.shutting_down) {
            spdlog::warn(
                "handover: a successor connected while this process is already "
                "stopping; it gets no clients");
            continue;
        }
        auto [wec, n] = co_await asio::async_write(peer, asio::buffer(kHello), use_tuple);
        if (wec) continue;
        const int fd = ::dup(peer.native_handle());
        if (fd < 0) continue;
        set_timeouts(fd, kSendMs, kSendMs);
        outbox_ = std::make_unique<Outbox>(fd);
        app_.handover = outbox_.get();
        spdlog::info(
            "handover: a successor connected on {}; clients move to it as they come between "
            "transactions, then this process exits",
            path_);
        app_.audit_event({.event = "handover", .detail = "a successor connected"});
        if (app_.drain) app_.drain();
        co_return;
    }
}

std::unique_ptr<Takeover> Takeover::connect(const std::string& path, std::string& error) {
    const int fd = connect_to(path, error);
    if (fd < 0) return nullptr;
    auto fail = [&](std::string why) -> std::unique_ptr<Takeover> {
        error = std::move(why);
        ::close(fd);
        return nullptr;
    };
    if (!peer_is_same_user(fd)) return fail(path + " belongs to a process of another user");
    set_timeouts(fd, kGreetingMs, kGreetingMs);
    char hello[kHello.size()];
    if (!write_exact(fd, kHello) || !read_exact(fd, hello, sizeof hello) ||
        std::string_view(hello, sizeof hello) != kHello)
        return fail("the pgtenant on " + path +
                    " did not answer the greeting (it may be stopping already)");
    set_timeouts(fd, 0, 0);  // clients come as the old process's transactions end
    return std::unique_ptr<Takeover>(new Takeover(fd));
}

Takeover::~Takeover() {
    stop();
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
}

void Takeover::start(App& app, std::function<void()> done) {
    thread_ = std::thread([this, &app, done = std::move(done)] { receive(app, done); });
}

void Takeover::stop() { ::shutdown(fd_, SHUT_RDWR); }

void Takeover::receive(App& app, std::function<void()> done) {
    std::size_t next = 0;
    for (;;) {
        int client_fd = -1;
        std::string bytes, error;
        const auto r = receive_client(fd_, client_fd, bytes, error);
        if (r == Received::end) break;
        if (r == Received::error) {
            if (client_fd >= 0) ::close(client_fd);
            if (!app.shutting_down) spdlog::error("handover: {}; no more clients come", error);
            break;
        }
        auto snapshot = decode(bytes);
        if (!snapshot) {
            // Nothing can be told to a client whose session is unknown: it sees the connection
            // close, as when a server goes away, and connects again.
            spdlog::error("handover: a client's session snapshot did not decode; closed");
            ::close(client_fd);
            continue;
        }
        ++received_;
        const int worker = static_cast<int>(next++ % app.workers.size());
        asio::post(app.workers[static_cast<std::size_t>(worker)],
                   [&app, worker, client_fd, s = std::move(*snapshot)]() mutable {
                       Session::adopt(app, worker, client_fd, std::move(s));
                   });
    }
    spdlog::info("handover: {} client(s) taken over from the old process", received_.load());
    if (!app.workers.empty()) asio::post(app.workers.front(), done);
}

}  // namespace pgtenant::proxy::handover
