#pragma once
// Loopback networking for tests: free ports, waiting for a listener, and a raw TCP client for
// sending bytes no well-behaved driver would send.
#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace pgtenant::testing {

// 127.0.0.1:port.
sockaddr_in loopback(uint16_t port);

// Asks the kernel for an unused 127.0.0.1 port. Another process may still grab it before we
// bind, so callers retry their start-up on failure.
uint16_t free_port();

// True once a TCP connect to 127.0.0.1:port succeeds within the timeout.
bool wait_for_port(uint16_t port, std::chrono::milliseconds timeout);

class RawSocket {
  public:
    RawSocket() = default;
    ~RawSocket();
    RawSocket(RawSocket&& other) noexcept;
    RawSocket& operator=(RawSocket&& other) noexcept;

    // Throws std::runtime_error when the connection is refused.
    static RawSocket connect(uint16_t port);
    // Wraps an existing descriptor without owning it (e.g. PQsocket of a libpq connection).
    static RawSocket borrow(int fd);
    // Takes ownership of a connected descriptor.
    static RawSocket adopt(int fd);

    // False when the peer has already closed.
    bool send_all(const std::string& bytes);
    // Reads exactly n bytes; returns fewer on close, error or timeout.
    std::string read_exact(std::size_t n, std::chrono::milliseconds timeout);
    // Reads whatever arrives until the peer closes or the timeout passes.
    std::string read_until_close(std::chrono::milliseconds timeout, bool* closed = nullptr);
    // Reads one backend message (tag + length + body); empty on close or timeout.
    std::string read_message(std::chrono::milliseconds timeout);
    void close();
    // Half-closes: the peer reads end-of-file (FIN), the descriptor stays open.
    void shutdown_write();
    // Closes with SO_LINGER 0: the peer gets a reset (RST), not a FIN.
    void reset();
    int fd() const { return fd_; }

  private:
    int fd_ = -1;
    bool owned_ = true;
};

}  // namespace pgtenant::testing
