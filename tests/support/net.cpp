#include "tests/support/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace pgtenant::testing {
sockaddr_in loopback(uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

namespace {

using Clock = std::chrono::steady_clock;

int connect_once(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    auto addr = loopback(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

// Waits until fd is readable or the deadline passes.
bool wait_readable(int fd, Clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n > 0) {
            return true;
        }
        if (n < 0 && errno != EINTR) {
            return false;
        }
    }
}

}  // namespace

uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw std::system_error(errno, std::generic_category(), "socket");
    }
    auto addr = loopback(0);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        int err = errno;
        ::close(fd);
        throw std::system_error(err, std::generic_category(), "bind 127.0.0.1:0");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool wait_for_port(uint16_t port, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        int fd = connect_once(port);
        if (fd >= 0) {
            ::close(fd);
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

RawSocket::~RawSocket() { close(); }

RawSocket::RawSocket(RawSocket&& other) noexcept : fd_(other.fd_), owned_(other.owned_) {
    other.fd_ = -1;
}

RawSocket& RawSocket::operator=(RawSocket&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = other.fd_;
        owned_ = other.owned_;
        other.fd_ = -1;
    }
    return *this;
}

RawSocket RawSocket::connect(uint16_t port) {
    RawSocket s;
    s.fd_ = connect_once(port);
    if (s.fd_ < 0) {
        throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    }
    return s;
}

RawSocket RawSocket::borrow(int fd) {
    RawSocket s;
    s.fd_ = fd;
    s.owned_ = false;
    return s;
}

bool RawSocket::send_all(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

std::string RawSocket::read_exact(std::size_t n, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    std::string out;
    while (out.size() < n && wait_readable(fd_, deadline)) {
        char buf[4096];
        std::size_t want = std::min(sizeof buf, n - out.size());
        ssize_t got = ::recv(fd_, buf, want, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
}

std::string RawSocket::read_until_close(std::chrono::milliseconds timeout, bool* closed) {
    auto deadline = Clock::now() + timeout;
    std::string out;
    if (closed) {
        *closed = false;
    }
    while (wait_readable(fd_, deadline)) {
        char buf[4096];
        ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            // A reset counts as closed: the server dropped us, which is an acceptable answer.
            if (closed) {
                *closed = true;
            }
            break;
        }
        out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
}

std::string RawSocket::read_message(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    std::string header = read_exact(5, timeout);
    if (header.size() < 5) {
        return {};
    }
    uint32_t len = (uint32_t(uint8_t(header[1])) << 24) | (uint32_t(uint8_t(header[2])) << 16) |
                   (uint32_t(uint8_t(header[3])) << 8) | uint32_t(uint8_t(header[4]));
    if (len < 4 || len > (1u << 24)) {
        return header;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    std::string body = read_exact(len - 4, std::max(left, std::chrono::milliseconds(1)));
    return header + body;
}

RawSocket RawSocket::adopt(int fd) {
    RawSocket s;
    s.fd_ = fd;
    return s;
}

void RawSocket::shutdown_write() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void RawSocket::reset() {
    if (fd_ >= 0) {
        linger l{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close();
}

void RawSocket::close() {
    if (fd_ >= 0 && owned_) {
        ::close(fd_);
    }
    fd_ = -1;
}

}  // namespace pgtenant::testing
