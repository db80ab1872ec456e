#include "proxy/io.h"

#include <sys/socket.h>

#include <cerrno>

namespace pgtenant::proxy {

namespace {
bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }
thread_local int leases_here = 0;

// Sends what a plain TCP socket takes right away, without waiting: the number of bytes sent
// (0 when the socket buffer is full) or an error. The usual transaction's replies and requests
// fit, so they go out with one send and no suspension, as a poll-loop proxy would write them.
std::size_t send_now(tcp::socket& s, std::string_view bytes, error_code& ec) {
    ec.clear();
    const ssize_t n =
        ::send(s.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (!would_block(errno)) ec.assign(errno, boost::system::system_category());
    return 0;
}
}  // namespace

bool io_at_once() {
#if defined(BOOST_ASIO_HAS_IO_URING) && defined(BOOST_ASIO_DISABLE_EPOLL)
    constexpr int kMaxLeasesForImmediateIo = 2;
    return leases_here <= kMaxLeasesForImmediateIo;
#else
    return true;  // asio's epoll backend tries the operation at once anyway
#endif
}

void count_lease(int delta) { leases_here += delta; }

std::size_t receive_now(tcp::socket& s, ReadBuffer& buf, std::size_t min_free, error_code& ec) {
    ec.clear();
    auto room = buf.prepare(min_free);
    const ssize_t n = ::recv(s.native_handle(), room.data(), room.size(), MSG_DONTWAIT);
    if (n > 0) {
        buf.commit(static_cast<std::size_t>(n));
        return static_cast<std::size_t>(n);
    }
    if (n == 0) {
        ec = asio::error::eof;
    } else if (!would_block(errno)) {
        ec.assign(errno, boost::system::system_category());
    }
    return 0;
}

awaitable<error_code> write_all(tcp::socket& s, std::string_view bytes) {
    if (io_at_once()) {
        error_code ec;
        const std::size_t sent = send_now(s, bytes, ec);
        if (ec || sent == bytes.size()) co_return ec;
        bytes.remove_prefix(sent);
    }
    auto [wec, n] = co_await asio::async_write(s, asio::buffer(bytes), use_tuple);
    co_return wec;
}

}  // namespace pgtenant::proxy
