#include "tests/support/wire_client.h"

#include <gtest/gtest.h>

namespace pgtenant::testing {

using namespace std::chrono_literals;

WireClient::WireClient(PgConn conn) : conn_(std::move(conn)), sock_(RawSocket::borrow(PQsocket(conn_.get()))) {}

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
