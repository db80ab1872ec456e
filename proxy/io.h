#pragma once
// Buffered message reading shared by client and server connections.
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/frame.h"
#include "proxy/asio.h"

namespace pgtenant::proxy {

// A growable receive buffer: bytes in [begin_, end_) are received but not yet consumed.
// Storage is allocated on first use, so a connection that has released it costs nothing.
// Blocks of the default size come from, and go back to, a small cache of this thread (a
// client releases its buffer whenever it waits for its next message, so a busy one would
// otherwise allocate one per transaction); nothing is zero-filled. Any thread may free a block
// another allocated.
class ReadBuffer {
  public:
    static constexpr std::size_t kDefaultSize = 16 * 1024;

    ReadBuffer() = default;
    ReadBuffer(ReadBuffer&& other) noexcept { *this = std::move(other); }
    ReadBuffer& operator=(ReadBuffer&& other) noexcept;
    ~ReadBuffer() { free_storage(); }

    std::string_view view() const { return {data_ + begin_, end_ - begin_}; }
    std::size_t size() const { return end_ - begin_; }
    void consume(std::size_t n) {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    // Room for at least `min_free` more bytes, compacting or growing as needed.
    asio::mutable_buffer prepare(std::size_t min_free = 4096);
    void commit(std::size_t n) { end_ += n; }
    // Drop oversized capacity after a big message so busy connections stay small.
    void shrink() {
        if (begin_ == end_ && capacity_ > kDefaultSize) free_storage();
    }
    // Free the storage when nothing is buffered: an idle client costs no buffer.
    void release() {
        if (begin_ == end_) free_storage();
    }

  private:
    void free_storage();

    char* data_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0, end_ = 0;
};

// Byte strings that build messages (a segment for the server, a batch of replies for the
// client) come from, and go back to, a small cache of this thread, like ReadBuffer's blocks:
// a transaction then allocates none, and an idle client holds none.
// Gives `s` a cached string's storage unless it already has room for a usual transaction.
void borrow_storage(std::string& s);
// Hands the storage of an empty `s` back to the cache (or frees it); `s` holds none after.
void return_storage(std::string& s);

// A string with storage from the cache for the length of a scope.
class ScopedStorage {
  public:
    ScopedStorage() { borrow_storage(s_); }
    ~ScopedStorage() {
        s_.clear();
        return_storage(s_);
    }
    ScopedStorage(const ScopedStorage&) = delete;
    ScopedStorage& operator=(const ScopedStorage&) = delete;
    std::string& operator*() { return s_; }

  private:
    std::string s_;
};

// Receives what is already there, without waiting: 0 with no error when nothing is. A read
// that proves the socket empty tells the event loop so (read_left_nothing, ready_wait.h).
std::size_t receive_now(tcp::socket& s, ReadBuffer& buf, std::size_t min_free, error_code& ec);

// Whether to make a read or write system call at once rather than queue the operation to
// the event loop. With epoll, or with io_uring while few transactions run on this thread,
// yes: the lowest latency. With io_uring under load, no: one io_uring_enter carries many
// connections' operations, and on a machine where each system call is expensive that keeps
// CPU per transaction low (measured at 32 clients: 10 us per transaction less than sending
// at once, 2 us less than reading at once).
bool io_at_once();

// Frees the coroutine frames Asio keeps cached on this thread for reuse. Asio gives a new frame
// the first cached block big enough, so a frame that lives as long as its session (run, serve)
// would sit in a block freed by a bigger one (login's): 6.6 instead of 4-5 KB per idle client.
// Called once before each such frame; the hot path keeps reusing frames without malloc.
void release_cached_frames();
// The load signal for io_at_once: server connections leased on this worker thread (the
// pool counts them as it hands them out and takes them back).
void count_lease(int delta);

// Writes all of `bytes` to a plain TCP socket, at once if io_at_once(). Only one write may
// be in progress on a socket at a time.
awaitable<error_code> write_all(tcp::socket& s, std::string_view bytes);
// write_all's first step, without a coroutine: sends what the socket takes at once (if
// io_at_once()). True when the write is over: every byte sent, or `ec` says why not. False
// when the rest, left in `bytes`, must go through write_all.
bool write_now(tcp::socket& s, std::string_view& bytes, error_code& ec);

// Reads more bytes into `buf`. Returns an error on EOF or failure.
template <typename Stream>
awaitable<error_code> fill(Stream& s, ReadBuffer& buf, std::size_t min_free = 4096) {
    auto [ec, n] = co_await s.async_read_some(buf.prepare(min_free), use_tuple);
    if (!ec) buf.commit(n);
    co_return ec;
}

enum class FrameRead { ok, closed, too_short, too_long };

// Reads one whole tagged message (tag + length + body) and consumes it into `out`.
template <typename Stream>
awaitable<FrameRead> read_message(Stream& s, ReadBuffer& buf, std::size_t max_total,
                                  std::string& out, bool startup = false) {
    for (;;) {
        protocol::Frame f;
        auto st = startup ? protocol::peek_startup(buf.view(), max_total, f)
                          : protocol::peek_frame(buf.view(), max_total, f);
        if (st == protocol::FrameStatus::complete) {
            out.assign(f.bytes);
            buf.consume(f.total_size);
            co_return FrameRead::ok;
        }
        if (st == protocol::FrameStatus::too_short) co_return FrameRead::too_short;
        if (st == protocol::FrameStatus::too_long) co_return FrameRead::too_long;
        std::size_t want = f.total_size > buf.size() ? f.total_size - buf.size() : 4096;
        if (co_await fill(s, buf, std::min<std::size_t>(want, 1 << 20)))
            co_return FrameRead::closed;
    }
}

}  // namespace pgtenant::proxy
