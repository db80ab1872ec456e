#pragma once
// A client connection logged in by libpq, then spoken to at the wire level: for tests that
// must send exactly what a driver sends (pgJDBC Binds a described statement without
// describing it again) or what no driver would.
#include <string>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/pq.h"

namespace pgtenant::testing {

using Replies = std::vector<std::string>;

// Takes a logged-in libpq connection's socket away from libpq: the caller owns the socket and
// may write or close it however it likes (libpq's descriptor is swapped for an unconnected
// one first, so PQfinish sends its Terminate to nobody).
RawSocket take_socket(PgConn conn);

class WireClient {
  public:
    explicit WireClient(PgConn conn);

    // Sends `bytes`; returns every reply up to and including ReadyForQuery, without the
    // asynchronous ParameterStatus and Notice messages (a client's settings are applied again
    // on each server connection it lands on, and reported). A missing ReadyForQuery fails the
    // test.
    Replies exchange(const std::string& bytes) { return send_until(bytes, 'Z'); }
    // The same, up to and including the first reply tagged `last` (after a Flush, say).
    Replies send_until(const std::string& bytes, char last);

    // The tags of `replies`, e.g. "1tTZ".
    static std::string tags(const Replies& replies);

  private:
    PgConn conn_;
    RawSocket sock_;
};

}  // namespace pgtenant::testing
