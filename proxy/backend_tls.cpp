#include "proxy/backend_tls.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pgtenant::proxy {

namespace {

struct CtxDeleter {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;

// The reason of the newest error OpenSSL queued, e.g. "no such file"; clears the queue.
std::string openssl_reason(std::string_view fallback = "unknown error") {
    unsigned long last = 0;
    while (unsigned long e = ERR_get_error()) last = e;
    if (last == 0) return std::string(fallback);
    char text[256];
    ERR_error_string_n(last, text, sizeof text);
    // "error:0A000086:SSL routines::certificate verify failed": keep what follows the last ':'.
    std::string_view s(text);
    auto colon = s.rfind(':');
    return std::string(colon == std::string_view::npos ? s : s.substr(colon + 1));
}

bool is_ip_address(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// libpq's rule for a client key, so a key that is safe for psql is safe here and vice versa.
std::string key_file_problem(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return fmt::format("cannot read {}: {}", path, std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return fmt::format("{} is not a regular file", path);
    if (st.st_uid == ::geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        return fmt::format("{} has group or world access; it must be mode 0600 or less", path);
    if (st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0)
        return fmt::format("{} (owned by root) must be mode 0640 or less", path);
    return {};
}

// The context for one connection, made afresh each time (as libpq does), so that replaced
// certificate files take effect without a restart. Null with `error` naming the key.
CtxPtr make_context(const config::BackendConfig& cfg, std::string& error) {
    ERR_clear_error();
    CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        error = "cannot create a TLS context: " + openssl_reason();
        return nullptr;
    }
    // PostgreSQL's own minimum; no compression, no renegotiation (as libpq).
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    int verify = SSL_VERIFY_NONE;
    if (!cfg.sslrootcert.empty()) {
        // Set for require too: then the chain is checked, as libpq does with a root file.
        if (SSL_CTX_load_verify_locations(ctx.get(), cfg.sslrootcert.c_str(), nullptr) != 1) {
            error = fmt::format("backend.sslrootcert: cannot load {}: {}", cfg.sslrootcert,
                                openssl_reason());
            return nullptr;
        }
        verify = SSL_VERIFY_PEER;
    }
    SSL_CTX_set_verify(ctx.get(), verify, nullptr);
    if (!cfg.sslcert.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), cfg.sslcert.c_str()) != 1) {
            error =
                fmt::format("backend.sslcert: cannot load {}: {}", cfg.sslcert, openssl_reason());
            return nullptr;
        }
        if (auto problem = key_file_problem(cfg.sslkey); !problem.empty()) {
            error = "backend.sslkey: " + problem;
            return nullptr;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx.get(), cfg.sslkey.c_str(), SSL_FILETYPE_PEM) != 1) {
            if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
                ERR_clear_error();
                error = fmt::format("backend.sslkey: {} does not match backend.sslcert {}",
                                    cfg.sslkey, cfg.sslcert);
            } else {
                error =
                    fmt::format("backend.sslkey: cannot load {}: {}", cfg.sslkey, openssl_reason());
            }
            return nullptr;
        }
        if (SSL_CTX_check_private_key(ctx.get()) != 1) {
            error = fmt::format("backend.sslkey: {} does not match backend.sslcert {}", cfg.sslkey,
                                cfg.sslcert);
            return nullptr;
        }
    }
    return ctx;
}

BIO_METHOD* socket_bio_method(int (*write)(BIO*, const char*, size_t, size_t*),
                              int (*read)(BIO*, char*, size_t, size_t*),
                              long (*ctrl)(BIO*, int, long, void*)) {
    static BIO_METHOD* method = [&] {
        BIO_METHOD* m =
            BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pgtenant server socket");
        if (m == nullptr || BIO_meth_set_write_ex(m, write) != 1 ||
            BIO_meth_set_read_ex(m, read) != 1 || BIO_meth_set_ctrl(m, ctrl) != 1)
            throw std::runtime_error("cannot create the OpenSSL socket BIO");
        return m;
    }();
    return method;
}

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

}  // namespace

std::unique_ptr<BackendTls> BackendTls::make(const config::BackendConfig& cfg, tcp::socket& socket,
                                             std::string& error) {
    auto ctx = make_context(cfg, error);
    if (!ctx) return nullptr;
    SSL* ssl = SSL_new(ctx.get());  // holds its own reference to the context
    if (ssl == nullptr) {
        error = "cannot create a TLS session: " + openssl_reason();
        return nullptr;
    }
    std::unique_ptr<BackendTls> tls(new BackendTls(ssl, socket));
    BIO* bio = BIO_new(
        socket_bio_method(&BackendTls::bio_write, &BackendTls::bio_read, &BackendTls::bio_ctrl));
    if (bio == nullptr) {
        error = "cannot create a TLS session: " + openssl_reason();
        return nullptr;
    }
    BIO_set_data(bio, tls.get());
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio);
    // A write that must wait is retried with the same bytes, but maybe from a moved string.
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    const bool ip = is_ip_address(cfg.host);
    bool ok = true;
    if (!ip) ok &= SSL_set_tlsext_host_name(ssl, cfg.host.c_str()) == 1;  // SNI, as libpq
    if (cfg.sslmode == config::SslMode::verify_full) {
        // The address (subjectAltName iPAddress) or the DNS name (subjectAltName, else CN).
        ok &= ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), cfg.host.c_str()) == 1
                 : SSL_set1_host(ssl, cfg.host.c_str()) == 1;
    }
    static constexpr unsigned char kAlpn[] = "\x0apostgresql";  // as libpq 17 sends it
    ok &= SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn - 1) == 0;
    if (!ok) {
        error = fmt::format("cannot set up TLS for host {}: {}", cfg.host, openssl_reason());
        return nullptr;
    }
    SSL_set_connect_state(ssl);
    return tls;
}

BackendTls::BackendTls(SSL* ssl, tcp::socket& socket) : ssl_(ssl), socket_(socket) {}

BackendTls::~BackendTls() {
    // Say goodbye (close_notify) when the socket is still ours and open: without it
    // PostgreSQL logs "could not receive data from client: Connection reset by peer" for every
    // connection pgtenant closes. One non-blocking attempt; never after a fatal TLS error, and
    // never once the socket was closed (its descriptor number may belong to someone else).
    if (!failed_ && socket_.is_open()) {
        ERR_clear_error();
        SSL_shutdown(ssl_);
        ERR_clear_error();
    }
    SSL_free(ssl_);
}

awaitable<error_code> BackendTls::wait_for(int ssl_error) {
    auto [ec] = co_await socket_.async_wait(
        ssl_error == SSL_ERROR_WANT_WRITE ? tcp::socket::wait_write : tcp::socket::wait_read,
        use_tuple);
    co_return ec;
}

error_code BackendTls::failure(int ssl_error) {
    failed_ = true;
    if (ssl_error == SSL_ERROR_ZERO_RETURN || (eof_ && ERR_peek_error() == 0)) {
        last_error_.clear();
        return asio::error::eof;
    }
    if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        last_error_ = sys_errno_ ? std::strerror(sys_errno_) : "connection closed";
        if (sys_errno_ == 0 || eof_) return asio::error::eof;
        return error_code(sys_errno_, boost::system::system_category());
    }
    const unsigned long code = ERR_peek_last_error();
    last_error_ = openssl_reason();
    if (eof_) return asio::error::eof;
    return error_code(static_cast<int>(code), asio::error::get_ssl_category());
}

awaitable<std::string> BackendTls::handshake() {
    for (;;) {
        if (!socket_.is_open()) co_return "the connection was closed";
        ERR_clear_error();
        const int r = SSL_do_handshake(ssl_);
        if (r == 1) co_return std::string();
        const int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            if (auto ec = co_await wait_for(err)) co_return ec.message();
            continue;
        }
        const long verified = SSL_get_verify_result(ssl_);
        auto ec = failure(err);
        if (verified != X509_V_OK) {
            co_return fmt::format("the server's certificate was not accepted: {}",
                                  X509_verify_cert_error_string(verified));
        }
        if (ec == asio::error::eof)
            co_return "the server closed the connection during the handshake";
        co_return last_error_.empty() ? ec.message() : last_error_;
    }
}

awaitable<error_code> BackendTls::read(ReadBuffer& buf, std::size_t min_free) {
    for (;;) {
        // Closed by the pool while this waited: the descriptor number may be reused already.
        if (!socket_.is_open()) co_return asio::error::bad_descriptor;
        auto room = buf.prepare(min_free);
        std::size_t n = 0;
        ERR_clear_error();
        if (SSL_read_ex(ssl_, room.data(), room.size(), &n) == 1) {
            buf.commit(n);
            co_return error_code();
        }
        const int err = SSL_get_error(ssl_, 0);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) co_return failure(err);
        if (auto ec = co_await wait_for(err)) co_return ec;
    }
}

awaitable<error_code> BackendTls::write(std::string_view bytes) {
    while (!bytes.empty()) {
        if (!socket_.is_open()) co_return asio::error::bad_descriptor;
        std::size_t n = 0;
        ERR_clear_error();
        if (SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n) == 1) {
            bytes.remove_prefix(n);
            continue;
        }
        const int err = SSL_get_error(ssl_, 0);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) co_return failure(err);
        if (auto ec = co_await wait_for(err)) co_return ec;
    }
    co_return error_code();
}

bool BackendTls::has_pending() const { return SSL_has_pending(ssl_) == 1; }

std::string BackendTls::describe() const {
    return fmt::format("{} {}", SSL_get_version(ssl_), SSL_get_cipher_name(ssl_));
}

int BackendTls::bio_write(BIO* bio, const char* data, std::size_t len, std::size_t* written) {
    auto* self = static_cast<BackendTls*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    const ssize_t n = ::send(self->socket_.native_handle(), data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
        *written = static_cast<std::size_t>(n);
        return 1;
    }
    if (would_block(errno)) {
        BIO_set_retry_write(bio);
    } else {
        self->sys_errno_ = errno;
    }
    return 0;
}

int BackendTls::bio_read(BIO* bio, char* data, std::size_t len, std::size_t* read) {
    auto* self = static_cast<BackendTls*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    const ssize_t n = ::recv(self->socket_.native_handle(), data, len, MSG_DONTWAIT);
    if (n > 0) {
        *read = static_cast<std::size_t>(n);
        return 1;
    }
    if (n == 0) {
        self->eof_ = true;
    } else if (would_block(errno)) {
        BIO_set_retry_read(bio);
    } else {
        self->sys_errno_ = errno;
    }
    return 0;
}

long BackendTls::bio_ctrl(BIO*, int cmd, long, void*) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // writes go straight to the socket
}

void check_backend_tls(const config::BackendConfig& cfg) {
    if (cfg.sslmode == config::SslMode::disable) return;
    std::string error;
    if (!make_context(cfg, error)) throw std::runtime_error(error);
}

}  // namespace pgtenant::proxy
