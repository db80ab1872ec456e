#pragma once
// A scripted stand-in for PostgreSQL, for the session fuzz target only: it speaks enough of the
// backend protocol (trust login, simple and extended queries, COPY FROM STDIN, transaction
// status) to keep pgtenant's session logic going, and takes its choices — an error here, a
// FATAL and a hang-up there, an unasked-for notice or ParameterStatus — from a script the fuzz
// input fills. It checks nothing about SQL; what it answers need not be what PostgreSQL would.
// The integration tests talk to a real PostgreSQL.
#include <cstdint>
#include <deque>
#include <string>

#include "proxy/asio.h"

namespace pgtenant::fuzz {

class ScriptedServer {
  public:
    explicit ScriptedServer(boost::asio::io_context& io);
    uint16_t port() const { return port_; }

    // Choices for the next replies, one byte each; when none is left, every reply is ordinary.
    void script(std::string_view choices) {
        script_.insert(script_.end(), choices.begin(), choices.end());
    }
    void clear_script() { script_.clear(); }
    // Connections it has accepted and that are still open.
    int open_connections() const { return open_; }

  private:
    proxy::awaitable<void> accept_loop();
    proxy::awaitable<void> serve(proxy::tcp::socket socket);
    uint8_t next_choice();

    boost::asio::io_context& io_;
    proxy::tcp::acceptor acceptor_;
    uint16_t port_ = 0;
    std::deque<char> script_;
    int open_ = 0;
    int32_t next_pid_ = 1000;
};

}  // namespace pgtenant::fuzz
