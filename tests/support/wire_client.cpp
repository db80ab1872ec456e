#include "tests/support/wire_client.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace pgtenant::testing {

using namespace std::chrono_literals;

WireClient::WireClient(PgConn conn)
    : conn_(std::move(conn)), sock_(RawSocket::borrow(PQsocket(conn_.get()))) {}

RawSocket take_socket(PgConn conn) {
    const int fd = PQsocket(conn.get());
    const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    const int dummy = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (own < 0 || dummy < 0 || ::dup3(dummy, fd, O_CLOEXEC) < 0) {
        throw std::runtime_error("cannot take the socket of a libpq connection");
    }
    ::close(dummy);
    conn.reset();
    return RawSocket::adopt(own);
}

Replies WireClient::send_until(const std::string& bytes, char last) {
    Replies out;
    EXPECT_TRUE(sock_.send_all(bytes));
    for (;;) {
        auto msg = sock_.read_message(10s);
        if (msg.empty()) {
            ADD_FAILURE() << "no '" << last << "' reply (replies so far: " << tags(out) << ")";
            return out;
        }
        if (msg[0] == 'S' || msg[0] == 'N') continue;
        out.push_back(msg);
        if (msg[0] == last) return out;
    }
}

std::string WireClient::tags(const Replies& replies) {
    std::string t;
    for (const auto& r : replies) t += r[0];
    return t;
}

}  // namespace pgtenant::testing
