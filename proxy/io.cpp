#include "proxy/io.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/detail/thread_info_base.hpp>
#include <cerrno>
#include <memory>
#include <vector>

#include "proxy/ready_wait.h"

namespace pgtenant::proxy {

namespace {
bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }
thread_local int leases_here = 0;

// Free ReadBuffer blocks of the default size, per thread. Bounded: what idle clients would
// otherwise hold stays small (16 blocks, 256 KiB a thread).
constexpr std::size_t kCachedBlocks = 16;
thread_local std::vector<std::unique_ptr<char[]>> free_blocks;

char* take_block(std::size_t size) {
    if (size == ReadBuffer::kDefaultSize && !free_blocks.empty()) {
        char* block = free_blocks.back().release();
        free_blocks.pop_back();
        return block;
    }
    return std::make_unique_for_overwrite<char[]>(size).release();
}

void give_block(char* block, std::size_t size) {
    std::unique_ptr<char[]> owned(block);
    if (size == ReadBuffer::kDefaultSize && free_blocks.size() < kCachedBlocks) {
        free_blocks.push_back(std::move(owned));
    }
}

// Spare strings, per thread, for borrow_storage(); bounded like the blocks above.
constexpr std::size_t kSpareCapacity = 1024;      // holds a usual segment or reply batch
constexpr std::size_t kLargestSpare = 64 * 1024;  // bigger ones are freed, not kept
constexpr std::size_t kCachedStrings = 64;
thread_local std::vector<std::string> spare_strings;

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

ReadBuffer& ReadBuffer::operator=(ReadBuffer&& other) noexcept {
    if (this != &other) {
        free_storage();
        data_ = std::exchange(other.data_, nullptr);
        capacity_ = std::exchange(other.capacity_, 0);
        begin_ = std::exchange(other.begin_, 0);
        end_ = std::exchange(other.end_, 0);
    }
    return *this;
}

asio::mutable_buffer ReadBuffer::prepare(std::size_t min_free) {
    if (data_ == nullptr) {
        capacity_ = std::max(kDefaultSize, min_free);
        data_ = take_block(capacity_);
    }
    if (capacity_ - end_ < min_free) {
        std::memmove(data_, data_ + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
        if (capacity_ - end_ < min_free) {
            const std::size_t grown = std::max(capacity_ * 2, end_ + min_free);
            char* bigger = take_block(grown);
            std::memcpy(bigger, data_, end_);
            give_block(data_, capacity_);
            data_ = bigger;
            capacity_ = grown;
        }
    }
    return asio::buffer(data_ + end_, capacity_ - end_);
}

void ReadBuffer::free_storage() {
    if (data_ != nullptr) give_block(data_, capacity_);
    data_ = nullptr;
    capacity_ = 0;
    begin_ = end_ = 0;
}

void borrow_storage(std::string& s) {
    if (s.capacity() >= kSpareCapacity) return;
    std::string spare;
    if (!spare_strings.empty()) {
        spare = std::move(spare_strings.back());
        spare_strings.pop_back();
    } else {
        spare.reserve(kSpareCapacity);
    }
    spare.append(s);
    s.swap(spare);
}

void return_storage(std::string& s) {
    if (!s.empty()) return;
    std::string spare;
    spare.swap(s);
    if (spare.capacity() >= kSpareCapacity && spare.capacity() <= kLargestSpare &&
        spare_strings.size() < kCachedStrings) {
        spare_strings.push_back(std::move(spare));
    }
}

void release_cached_frames() {
    using asio::detail::thread_info_base;
    using Tag = thread_info_base::awaitable_frame_tag;
    thread_info_base* thread = asio::detail::thread_context::top_of_thread_call_stack();
    if (!thread) return;
    // Asking for a block bigger than any cached frame makes Asio free one cached block to make
    // room; the block it then allocates is freed at once, not cached.
    constexpr std::size_t kBiggerThanAnyFrame = 8192;
    for (int i = 0; i < Tag::cache_size; ++i)
        asio::aligned_delete(thread_info_base::allocate(Tag(), thread, kBiggerThanAnyFrame));
}

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
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        read_left_nothing(s, true);
    } else if (n > 0 && static_cast<std::size_t>(n) < room.size()) {
        read_left_nothing(s, false);
    }
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

bool write_now(tcp::socket& s, std::string_view& bytes, error_code& ec) {
    ec.clear();
    if (!io_at_once()) return false;
    const std::size_t sent = send_now(s, bytes, ec);
    bytes.remove_prefix(sent);
    return ec || bytes.empty();
}

awaitable<error_code> write_all(tcp::socket& s, std::string_view bytes) {
    error_code ec;
    if (write_now(s, bytes, ec)) co_return ec;
    auto [wec, n] = co_await asio::async_write(s, asio::buffer(bytes), use_tuple);
    co_return wec;
}

}  // namespace pgtenant::proxy
