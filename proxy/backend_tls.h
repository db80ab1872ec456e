#pragma once
// TLS on one connection from pgtenant to PostgreSQL (backend.sslmode), after the server said
// 'S' to an SSLRequest.
//
// OpenSSL is driven directly over the connection's non-blocking socket instead of through
// asio::ssl::stream: that stream keeps two timers made on the io_context it was created on,
// and a pooled connection moves between worker threads' io_contexts
// (ServerConnection::move_to), after which they would be touched from the wrong thread. Here the
// SSL object reads and writes through a BIO that uses whatever descriptor the socket holds at
// the moment, and waits with the socket's own async_wait: nothing but the socket is tied to an
// io_context, so moving the socket moves everything.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "proxy/asio.h"
#include "proxy/io.h"

struct ssl_st;
struct bio_st;

namespace pgtenant::proxy {

class BackendTls {
  public:
    // An SSL object for cfg's sslmode / sslrootcert / sslcert / sslkey over `socket`, which
    // must outlive it (ServerConnection's member). Null, with `error` set, when a certificate
    // or key cannot be loaded.
    static std::unique_ptr<BackendTls> make(const config::BackendConfig& cfg, tcp::socket& socket,
                                            std::string& error);
    ~BackendTls();
    BackendTls(const BackendTls&) = delete;
    BackendTls& operator=(const BackendTls&) = delete;

    // The client side of the handshake: SNI for a host name, the chain checked against
    // sslrootcert (when set), the host name or address checked for verify-full. Returns ""
    // or why it failed ("certificate verify failed: hostname mismatch").
    awaitable<std::string> handshake();
    // Reads decrypted bytes into `buf`: at least one, or an error (eof when the server closed).
    awaitable<error_code> read(ReadBuffer& buf, std::size_t min_free);
    // Writes all of `bytes`. One write at a time; a read may run meanwhile.
    awaitable<error_code> write(std::string_view bytes);
    // Received bytes not yet read (decrypted or not): on an idle connection, unsolicited data.
    bool has_pending() const;
    // Protocol and cipher, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384".
    std::string describe() const;
    // The last failure's detail from OpenSSL ("tlsv13 alert certificate required"), if any.
    const std::string& last_error() const { return last_error_; }

  private:
    BackendTls(ssl_st* ssl, tcp::socket& socket);
    awaitable<error_code> wait_for(int ssl_error);
    error_code failure(int ssl_error);

    static int bio_write(bio_st* bio, const char* data, std::size_t len, std::size_t* written);
    static int bio_read(bio_st* bio, char* data, std::size_t len, std::size_t* read);
    static long bio_ctrl(bio_st* bio, int cmd, long num, void* ptr);

    ssl_st* ssl_;
    tcp::socket& socket_;
    int sys_errno_ = 0;    // of the last failed send/recv
    bool eof_ = false;     // the server closed its side
    bool failed_ = false;  // a read, write or the handshake failed: no close_notify then
    std::string last_error_;
};

// Loads backend's certificate files once, so that a bad one stops pgtenant at start (and
// --check-config) instead of failing every connection later. Throws std::runtime_error naming
// the key. Does nothing when backend.sslmode = disable.
void check_backend_tls(const config::BackendConfig& cfg);

}  // namespace pgtenant::proxy
