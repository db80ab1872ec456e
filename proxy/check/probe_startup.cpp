// `pgtenant probe`: a StartupMessage with parameters libpq would not send, over a blocking
// plain-TCP socket, read up to pgtenant's first reply. (The probe is a short-lived command
// line tool; the proxy's own I/O stays in Asio.)
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "protocol/builders.h"
#include "protocol/messages.h"
#include "proxy/check/probe_detail.h"

namespace pgtenant::proxy::probe_detail {
namespace {

class Socket {
  public:
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int fd() const { return fd_; }

  private:
    int fd_;
};

// A connected socket with send and receive timeouts, or -1 (error in `error`).
int connect_tcp(const std::string& host, uint16_t port, int timeout_s, std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
        rc != 0) {
        error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
        return -1;
    }
    const timeval tv{timeout_s, 0};
    int fd = -1;
    for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
        fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect() too
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            error = "cannot connect to " + host + ":" + std::to_string(port) + ": " +
                    std::strerror(errno);
            ::close(fd);
            fd = -1;
        }
    }
    ::freeaddrinfo(found);
    return fd;
}

bool write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

bool read_exact(int fd, std::string& out, std::size_t size) {
    out.resize(size);
    std::size_t done = 0;
    while (done < size) {
        ssize_t n = ::recv(fd, out.data() + done, size - done, 0);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// One backend message: its type byte and body. False on EOF, timeout or a silly length.
bool read_message(int fd, char& type, std::string& body) {
    std::string header;
    if (!read_exact(fd, header, 5)) return false;
    type = header[0];
    uint32_t len = 0;
    for (int i = 1; i < 5; ++i) len = (len << 8) | static_cast<unsigned char>(header[i]);
    if (len < 4 || len > 1024 * 1024) return false;
    return read_exact(fd, body, len - 4);
}

}  // namespace

StartupReply raw_startup(const std::string& host, uint16_t port,
                         const std::vector<std::pair<std::string, std::string>>& params,
                         int timeout_s) {
    StartupReply reply;
    Socket sock(connect_tcp(host, port, timeout_s, reply.error));
    if (sock.fd() < 0) return reply;
    std::string startup;
    protocol::build::startup(startup, params);
    if (!write_all(sock.fd(), startup)) {
        reply.error = "cannot send the StartupMessage";
        return reply;
    }
    char type = 0;
    std::string body;
    while (read_message(sock.fd(), type, body)) {
        if (type == 'N') continue;  // a notice before the answer
        reply.answered = true;
        if (type == 'R') {
            reply.accepted = true;
        } else if (type == 'E') {
            auto fields = protocol::decode_error_fields(body);
            if (fields) {
                reply.sqlstate = std::string(fields->sqlstate());
                reply.error = std::string(fields->message());
            }
        } else {
            reply.error = std::string("unexpected reply '") + type + "'";
        }
        return reply;
    }
    reply.error = "the connection closed without a reply";
    return reply;
}

}  // namespace pgtenant::proxy::probe_detail
