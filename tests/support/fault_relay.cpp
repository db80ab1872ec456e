#include "tests/support/fault_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "tests/support/net.h"

namespace pgtenant::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 16 * 1024;

void set_nodelay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void close_with(int fd, FaultRelay::Cut how) {
    if (fd < 0) return;
    if (how == FaultRelay::Cut::reset) {
        linger l{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    } else {
        ::shutdown(fd, SHUT_RDWR);
    }
    ::close(fd);
}

}  // namespace

// Follows the server's messages through the chunks read from it and rewrites the length of
// one of them (FaultRelay::corrupt_length).
struct FaultRelay::LengthCorruption {
    char tag;
    int countdown;
    uint32_t length;
    std::size_t skip = 0;  // bytes of the current message's body still to pass
    std::string header;    // tag and length read so far, when split between chunks
    bool done = false;

    void scan(std::string& chunk) {
        std::size_t pos = 0;
        while (!done && pos < chunk.size()) {
            if (skip > 0) {
                const std::size_t n = std::min(skip, chunk.size() - pos);
                pos += n;
                skip -= n;
                continue;
            }
            const std::size_t start = pos;
            const std::size_t take = std::min<std::size_t>(5 - header.size(), chunk.size() - pos);
            header.append(chunk, pos, take);
            pos += take;
            if (header.size() < 5) return;
            uint32_t len = 0;
            for (int i = 1; i < 5; ++i) len = len << 8 | static_cast<unsigned char>(header[i]);
            if (header[0] == tag && --countdown <= 0 && take == 5) {
                for (int i = 0; i < 4; ++i)
                    chunk[start + 1 + i] = static_cast<char>(length >> (24 - 8 * i));
                done = true;
                return;
            }
            header.clear();
            skip = len >= 4 ? len - 4 : 0;
        }
    }
};

// One relayed connection. Direction 0 is towards the server (read from the client side,
// written to the server side), direction 1 towards the client.
struct FaultRelay::Conn {
    int fd[2] = {-1, -1};  // [0] the accepted (pgtenant) side, [1] the target side
    std::string buf[2];
    bool eof[2] = {false, false};        // the source of this direction closed
    bool shut_sent[2] = {false, false};  // and that FIN was passed on
    std::optional<std::size_t> budget[2];
    Cut budget_cut = Cut::reset;
    std::optional<LengthCorruption> corruption;  // of the server's messages
    Clock::time_point next[2];
    bool dead = false;
    // A reset or hang-up arrived while stalled: left alone (not polled) until resumed, so
    // the relay does not spin on it.
    bool quiet = false;

    int src(int dir) const { return fd[dir]; }
    int dst(int dir) const { return fd[1 - dir]; }
};

FaultRelay::FaultRelay(uint16_t target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    auto addr = loopback(0);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 1024) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        int err = errno;
        ::close(listen_fd_);
        throw std::system_error(err, std::generic_category(), "relay listen");
    }
    port_ = ntohs(addr.sin_port);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    thread_ = std::thread([this] { loop(); });
}

FaultRelay::~FaultRelay() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
    for (auto& c : conns_) close_conn(*c, Cut::fin);
    ::close(listen_fd_);
    ::close(wake_fd_);
}

void FaultRelay::control(std::function<void()> change) {
    std::unique_lock lock(mu_);
    changes_.push_back(std::move(change));
    const uint64_t id = ++requested_;
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    done_cv_.wait(lock, [&] { return applied_ >= id; });
}

void FaultRelay::stall(Direction d) {
    control([this, d] {
        if (d != Direction::to_client) stall_to_server_ = true;
        if (d != Direction::to_server) stall_to_client_ = true;
    });
}

void FaultRelay::hold_closes() {
    control([this] { hold_closes_ = true; });
}

void FaultRelay::resume() {
    control([this] {
        stall_to_server_ = stall_to_client_ = hold_closes_ = false;
        slow_ = std::chrono::milliseconds(0);
        for (auto& c : conns_) {
            c->next[0] = c->next[1] = Clock::time_point{};
            c->quiet = false;
        }
    });
}

void FaultRelay::slow(std::chrono::milliseconds per_chunk) {
    control([this, per_chunk] { slow_ = per_chunk; });
}

void FaultRelay::cut(Cut how) {
    control([this, how] {
        for (auto& c : conns_) close_conn(*c, how);
    });
}

void FaultRelay::cut_after(std::size_t bytes, Direction d, Cut how) {
    control([this, bytes, d, how] {
        for (auto& c : conns_) {
            if (c->dead) continue;
            if (d != Direction::to_client) c->budget[0] = bytes;
            if (d != Direction::to_server) c->budget[1] = bytes;
            c->budget_cut = how;
        }
    });
}

void FaultRelay::corrupt_length(char tag, int nth, uint32_t length) {
    control([this, tag, nth, length] {
        for (auto& c : conns_) {
            if (!c->dead) c->corruption = LengthCorruption{tag, nth, length};
        }
    });
}

void FaultRelay::refuse_new(bool refuse) {
    control([this, refuse] { refuse_ = refuse; });
}

void FaultRelay::close_conn(Conn& c, Cut how) {
    if (c.dead) return;
    close_with(c.fd[0], how);
    close_with(c.fd[1], how);
    c.fd[0] = c.fd[1] = -1;
    c.dead = true;
    --open_;
}

void FaultRelay::accept_one() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) return;
        ++accepted_;
        if (refuse_) {
            close_with(fd, Cut::reset);
            continue;
        }
        int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        auto addr = loopback(target_port_);
        if (up < 0 || ::connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            // The target is down: so is this connection, as abruptly as a refused connect.
            if (up >= 0) ::close(up);
            close_with(fd, Cut::reset);
            continue;
        }
        ::fcntl(up, F_SETFL, ::fcntl(up, F_GETFL) | O_NONBLOCK);
        set_nodelay(fd);
        set_nodelay(up);
        auto c = std::make_unique<Conn>();
        c->fd[0] = fd;
        c->fd[1] = up;
        conns_.push_back(std::move(c));
        ++open_;
    }
}

bool FaultRelay::pump(Conn& c, bool to_server, Clock::time_point now) {
    const int dir = to_server ? 0 : 1;
    if (c.dead) return false;
    if (to_server ? stall_to_server_ : stall_to_client_) return true;
    if (now < c.next[dir]) return true;
    bool moved = false;
    if (c.buf[dir].empty() && !c.eof[dir]) {
        char chunk[kChunk];
        ssize_t n = ::recv(c.src(dir), chunk, sizeof chunk, 0);
        if (n > 0) {
            c.buf[dir].assign(chunk, static_cast<std::size_t>(n));
            if (!to_server && c.corruption) c.corruption->scan(c.buf[dir]);
        } else if (n == 0) {
            c.eof[dir] = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close_conn(c, Cut::reset);  // a reset on one side becomes a reset on the other
            return false;
        }
    }
    if (!c.buf[dir].empty()) {
        std::size_t want = c.buf[dir].size();
        if (c.budget[dir]) want = std::min(want, *c.budget[dir]);
        if (want == 0) {
            close_conn(c, c.budget_cut);
            return false;
        }
        ssize_t n = ::send(c.dst(dir), c.buf[dir].data(), want, MSG_NOSIGNAL);
        if (n > 0) {
            c.buf[dir].erase(0, static_cast<std::size_t>(n));
            moved = true;
            if (c.budget[dir]) {
                *c.budget[dir] -= static_cast<std::size_t>(n);
                if (*c.budget[dir] == 0) {
                    close_conn(c, c.budget_cut);
                    return false;
                }
            }
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close_conn(c, Cut::reset);
            return false;
        }
    }
    if (c.eof[dir] && !to_server && hold_closes_) {
        c.quiet = c.buf[dir].empty();  // all passed on but the close: not polled (a hang-up)
        return true;
    }
    if (c.eof[dir] && c.buf[dir].empty() && !c.shut_sent[dir]) {
        ::shutdown(c.dst(dir), SHUT_WR);
        c.shut_sent[dir] = true;
    }
    if (c.shut_sent[0] && c.shut_sent[1]) {
        close_conn(c, Cut::fin);
        return false;
    }
    if (moved && slow_.count() > 0) c.next[dir] = now + slow_;
    return true;
}

void FaultRelay::loop() {
    std::vector<pollfd> fds;
    for (;;) {
        {
            std::unique_lock lock(mu_);
            if (stop_) return;
            if (!changes_.empty()) {
                auto changes = std::move(changes_);
                changes_.clear();
                lock.unlock();
                for (auto& change : changes) change();
                lock.lock();
                applied_ += changes.size();
                done_cv_.notify_all();
            }
        }
        std::erase_if(conns_, [](const auto& c) { return c->dead; });

        fds.clear();
        fds.push_back({wake_fd_, POLLIN, 0});
        fds.push_back({listen_fd_, POLLIN, 0});
        const auto now = Clock::now();
        Clock::time_point wake_at = Clock::time_point::max();
        for (auto& c : conns_) {
            short ev[2] = {0, 0};
            for (int dir = 0; dir < 2; ++dir) {
                const bool stalled = dir == 0 ? stall_to_server_ : stall_to_client_;
                if (stalled) continue;
                if (now < c->next[dir]) {
                    wake_at = std::min(wake_at, c->next[dir]);
                    continue;
                }
                if (c->buf[dir].empty() && !c->eof[dir]) ev[dir] |= POLLIN;  // on src(dir)
                if (!c->buf[dir].empty()) ev[1 - dir] |= POLLOUT;            // on dst(dir)
            }
            fds.push_back({c->quiet ? -1 : c->fd[0], ev[0], 0});
            fds.push_back({c->quiet ? -1 : c->fd[1], ev[1], 0});
        }
        int timeout = -1;
        if (wake_at != Clock::time_point::max()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - now);
            timeout = static_cast<int>(std::max<long>(left.count() + 1, 0));
        }
        const std::size_t polled = conns_.size();  // accept_one below may add one
        int n = ::poll(fds.data(), fds.size(), timeout);
        if (n < 0 && errno != EINTR) return;
        if (fds[0].revents & POLLIN) {
            uint64_t count;
            [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
        }
        if (fds[1].revents & POLLIN) accept_one();
        const auto after = Clock::now();
        // Try every live connection: a non-blocking attempt that finds nothing costs little,
        // and a hang-up or reset shows up as a failed read.
        const bool stalled = stall_to_server_ || stall_to_client_;
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            auto& c = *conns_[i];
            const short hup = POLLERR | POLLHUP;
            if (stalled && i < polled &&
                ((fds[2 + 2 * i].revents | fds[3 + 2 * i].revents) & hup)) {
                c.quiet = true;
            }
            if (pump(c, true, after)) pump(c, false, after);
        }
    }
}

}  // namespace pgtenant::testing
