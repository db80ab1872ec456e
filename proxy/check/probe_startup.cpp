// `pgtenant probe`: a StartupMessage with parameters libpq would not send, over a blocking
// socket (TLS when pgtenant offers it), read up to pgtenant's first reply. (The probe is a
// short-lived command line tool; the proxy's own I/O stays in Asio.)
#include <netdb.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "protocol/builders.h"
#include "protocol/messages.h"
#include "proxy/check/probe_detail.h"

namespace pgtenant::proxy::probe_detail {
namespace {

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

// The connection to pgtenant: plain TCP, upgraded to TLS when pgtenant accepts an SSLRequest
// (as libpq's sslmode=prefer). The certificate is not verified: the probe sends no secret on
// this connection and stops at the first reply.
class Channel {
  public:
    explicit Channel(int fd) : fd_(fd) {}
    ~Channel() {
        if (ssl_ != nullptr) SSL_free(ssl_);
        if (ctx_ != nullptr) SSL_CTX_free(ctx_);
        if (fd_ >= 0) ::close(fd_);
    }
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    bool open() const { return fd_ >= 0; }

    // Sends an SSLRequest; on 'S' performs the TLS handshake. False with `error` on failure.
    bool negotiate_tls(const std::string& host, std::string& error) {
        std::string request, answer;
        protocol::build::ssl_request(request);
        if (!write_all(request) || !read_exact(answer, 1)) {
            error = "no answer to the SSLRequest";
            return false;
        }
        if (answer[0] == 'N') return true;
        if (answer[0] != 'S') {
            error = "unexpected answer to the SSLRequest";
            return false;
        }
        ctx_ = SSL_CTX_new(TLS_client_method());
        ssl_ = ctx_ ? SSL_new(ctx_) : nullptr;
        if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
            error = "cannot set up TLS";
            return false;
        }
        SSL_set_tlsext_host_name(ssl_, host.c_str());
        if (SSL_connect(ssl_) != 1) {
            error = "TLS handshake with pgtenant failed";
            return false;
        }
        return true;
    }

    bool write_all(const std::string& data) {
        std::size_t done = 0;
        while (done < data.size()) {
            const long n = send_some(data.data() + done, data.size() - done);
            if (n <= 0) return false;
            done += static_cast<std::size_t>(n);
        }
        return true;
    }

    bool read_exact(std::string& out, std::size_t size) {
        out.resize(size);
        std::size_t done = 0;
        while (done < size) {
            const long n = receive_some(out.data() + done, size - done);
            if (n <= 0) return false;
            done += static_cast<std::size_t>(n);
        }
        return true;
    }

    // One backend message: its type byte and body. False on EOF, timeout or a silly length.
    bool read_message(char& type, std::string& body) {
        std::string header;
        if (!read_exact(header, 5)) return false;
        type = header[0];
        uint32_t len = 0;
        for (int i = 1; i < 5; ++i) len = (len << 8) | static_cast<unsigned char>(header[i]);
        if (len < 4 || len > 1024 * 1024) return false;
        return read_exact(body, len - 4);
    }

  private:
    long send_some(const char* data, std::size_t size) {
        if (ssl_ != nullptr) return SSL_write(ssl_, data, static_cast<int>(size));
        return ::send(fd_, data, size, MSG_NOSIGNAL);
    }
    long receive_some(char* data, std::size_t size) {
        if (ssl_ != nullptr) return SSL_read(ssl_, data, static_cast<int>(size));
        return ::recv(fd_, data, size, 0);
    }

    int fd_;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
};

// The first answer to a StartupMessage: an ErrorResponse, or a request to authenticate.
StartupReply read_reply(Channel& channel) {
    StartupReply reply;
    char type = 0;
    std::string body;
    while (channel.read_message(type, body)) {
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

}  // namespace

StartupReply raw_startup(const std::string& host, uint16_t port,
                         const std::vector<std::pair<std::string, std::string>>& params,
                         int timeout_s) {
    std::string error;
    Channel channel(connect_tcp(host, port, timeout_s, error));
    if (channel.open() && channel.negotiate_tls(host, error)) {
        std::string startup;
        protocol::build::startup(startup, params);
        if (channel.write_all(startup)) return read_reply(channel);
        error = "cannot send the StartupMessage";
    }
    StartupReply reply;
    reply.error = error;
    return reply;
}

}  // namespace pgtenant::proxy::probe_detail
