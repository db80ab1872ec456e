#pragma once
// Binary upgrade without dropping a client (server.handover_socket). Every pgtenant with the
// setting listens on that Unix socket. A new one started with the same setting (and the same
// port, server.so_reuseport) finds the old one there and becomes its successor: the old one stops
// accepting, drains, and instead of ending each client that is between transactions, passes
// its socket and its session (snapshot.h) to the successor, which serves it from then on. A
// client in a transaction moves once that transaction is over. Clients that cannot move (TLS,
// session pooling, the admin console) are ended with 57P01, as in a plain drain.
#include <atomic>
#include <boost/asio/local/stream_protocol.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "proxy/asio.h"

namespace pgtenant::proxy {
struct App;
}

namespace pgtenant::proxy::handover {

// The old process's end: the successor's connection, shared by every worker's sweep.
class Outbox {
  public:
    explicit Outbox(int fd) : fd_(fd) {}
    ~Outbox() { close(); }
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;
    // Passes `client_fd` (which stays open here: the caller closes its own) and its snapshot.
    // False when the successor is gone: the client stays the caller's.
    bool send(int client_fd, std::string_view snapshot);
    // No more clients: the successor sees the end.
    void close();

  private:
    std::mutex mu_;
    int fd_;
};

// Listens on server.handover_socket for a successor (on worker 0). The first one to connect
// and greet gets the Outbox, and the process drains (App::drain).
class Listener {
  public:
    // `ended` runs (on the executor) once it listens no more.
    Listener(App& app, asio::any_io_executor ex, int fd, std::string path,
             std::function<void()> ended);
    ~Listener();
    // Stops listening; removes the socket file unless a successor has taken it over.
    void close();

  private:
    awaitable<void> accept_loop();
    App& app_;
    asio::local::stream_protocol::acceptor acceptor_;
    std::string path_;
    uint64_t inode_;
    std::unique_ptr<Outbox> outbox_;
};

// The successor's end: receives the old process's clients on a thread of its own and starts
// each as a session on a worker, round-robin.
class Takeover {
  public:
    // Connects to a pgtenant on `path` and greets it. Null when none listens there; null with
    // `error` set when one may but the greeting failed.
    static std::unique_ptr<Takeover> connect(const std::string& path, std::string& error);
    ~Takeover();
    // `done` is posted to worker 0 once the old process has sent its last client.
    void start(App& app, std::function<void()> done);
    // Ends the receiving early (this process shuts down).
    void stop();

  private:
    explicit Takeover(int fd) : fd_(fd) {}
    void receive(App& app, std::function<void()> done);
    int fd_;
    std::thread thread_;
    std::atomic<uint64_t> received_{0};
};

}  // namespace pgtenant::proxy::handover
