#pragma once
// A TCP relay owned by a test, put between pgtenant and PostgreSQL to make the network
// misbehave on cue: stall a direction, cut every connection (reset or FIN, now or after some
// bytes), slow the stream down, break the framing of one of PostgreSQL's messages, then
// resume. It listens on 127.0.0.1 and a free port, opens
// one connection to the target per accepted one, and forwards on its own thread.
//
// Every control call takes effect before it returns (the relay thread acknowledges it), so a
// test can say "cut now, then send" without sleeping.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pgtenant::testing {

class FaultRelay {
  public:
    enum class Direction { to_server, to_client, both };
    enum class Cut { reset, fin };

    explicit FaultRelay(uint16_t target_port);
    ~FaultRelay();
    FaultRelay(const FaultRelay&) = delete;
    FaultRelay& operator=(const FaultRelay&) = delete;

    uint16_t port() const { return port_; }

    // Stops forwarding in a direction, on the connections open now and on new ones; bytes
    // already read wait in the relay, the rest waits in the kernel.
    void stall(Direction d = Direction::both);
    // Forwards everything again at full speed (ends stall and slow).
    void resume();
    // Waits this long after each chunk forwarded (each direction of each connection).
    void slow(std::chrono::milliseconds per_chunk);
    // Cuts every connection carried now, on both sides.
    void cut(Cut how);
    // Cuts each connection carried now once it has forwarded `bytes` more bytes in `d`.
    void cut_after(std::size_t bytes, Direction d, Cut how);
    // On each connection open now, the `nth` next message with `tag` that the server sends
    // goes on with `length` in its length field (a header split between two reads is passed
    // over for the next whole one). Call it while the connections are between messages (no
    // reply under way): the next byte from the server is taken as a message's first.
    void corrupt_length(char tag, int nth, uint32_t length);
    // While set, new connections are reset at once without contacting the target.
    void refuse_new(bool refuse);
    // While set, a server that closes its connection has its last bytes passed on but not its
    // close (FIN): pgtenant sees the connection open until resume().
    void hold_closes();

    int open_connections() const { return open_.load(); }
    uint64_t accepted() const { return accepted_.load(); }

  private:
    struct Conn;
    struct LengthCorruption;
    void loop();
    // Runs `change` on the relay thread and waits until it has.
    void control(std::function<void()> change);
    void accept_one();
    // Forwards what it can in one direction; false when the connection is finished.
    bool pump(Conn& c, bool to_server, std::chrono::steady_clock::time_point now);
    void close_conn(Conn& c, Cut how);

    uint16_t target_port_;
    uint16_t port_ = 0;
    int listen_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: a control change is waiting

    // Owned by the relay thread.
    std::vector<std::unique_ptr<Conn>> conns_;
    bool stall_to_server_ = false;
    bool stall_to_client_ = false;
    bool hold_closes_ = false;
    bool refuse_ = false;
    std::chrono::milliseconds slow_{0};

    std::mutex mu_;
    std::condition_variable done_cv_;
    std::vector<std::function<void()>> changes_;
    uint64_t requested_ = 0;
    uint64_t applied_ = 0;
    bool stop_ = false;

    std::atomic<int> open_{0};
    std::atomic<uint64_t> accepted_{0};
    std::thread thread_;
};

}  // namespace pgtenant::testing
