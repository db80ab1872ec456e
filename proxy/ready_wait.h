#pragma once
// Waiting until a socket has bytes to read, without a system call for the wait itself.
//
// Asio's epoll reactor registers every socket once, edge-triggered, and keeps a flag per
// socket and direction: "try at once". Every readiness event sets it. Yet each of Asio's read
// waits costs a system call: async_read_some tries the read first (EAGAIN when nothing has
// come yet, the usual case for a query's reply or a client's next message), and
// async_wait(wait_read) re-arms the descriptor with epoll_ctl. At one wait per direction per
// transaction, that is two system calls a transaction that PgBouncer does not make.
//
// Here the two halves are apart:
// - async_readable completes at once while the flag is set, and otherwise waits in the
//   reactor's read queue, without a system call, for the next readiness event;
// - receive_now (io.h) clears the flag when its read proves the socket empty
//   (read_left_nothing): EAGAIN; or fewer bytes than the room offered, provided the last
//   readiness event did not report the peer's close or an error (a close that came with the
//   last bytes raises no further event, and would otherwise never be read). For that the
//   socket's registration also asks for EPOLLRDHUP, once, at its first wait.
// Bytes or a close that come after that read raise a new event, which sets the flag again: a
// wait never misses what is already there. The flag thus still means "may hold something",
// for Asio's own reads too (which then skip their first attempt on a socket known to be empty).
//
// Only the epoll build has this; it relies on Asio 1.26's reactor, checked below and in
// ready_wait.cpp. The io_uring build has no readiness flag: callers keep Asio's own read there
// (ready_wait_is_free).
#include "proxy/asio.h"

#if !defined(BOOST_ASIO_HAS_IO_URING) || !defined(BOOST_ASIO_DISABLE_EPOLL)
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/version.hpp>
#define PGTENANT_READY_WAIT 1
#endif

namespace pgtenant::proxy {

#ifdef PGTENANT_READY_WAIT
static_assert(BOOST_ASIO_VERSION == 102600,
              "async_readable relies on the epoll reactor of Asio 1.26 (Boost 1.81): check that "
              "its start_op, perform_io and try_speculative_ still behave as described in "
              "ready_wait.h before changing this");

inline constexpr bool ready_wait_is_free = true;

namespace ready_wait_detail {

namespace ad = asio::detail;

// A read operation of the reactor that reads nothing: done when the reactor would try a read.
template <typename Handler, typename IoExecutor>
class ReadableOp : public ad::reactor_op {
  public:
    BOOST_ASIO_DEFINE_HANDLER_PTR(ReadableOp);

    ReadableOp(Handler& handler, const IoExecutor& io_ex)
        : reactor_op(error_code(), &ReadableOp::perform, &ReadableOp::complete),
          handler_(std::move(handler)),
          work_(handler_, io_ex) {}

    static status perform(reactor_op*) { return done; }

    static void complete(void* owner, ad::operation* base, const error_code&, std::size_t) {
        auto* op = static_cast<ReadableOp*>(base);
        ptr p = {std::addressof(op->handler_), op, op};
        ad::handler_work<Handler, IoExecutor> work(std::move(op->work_));
        // The handler leaves the operation's memory before that memory is freed.
        ad::binder1<Handler, error_code> bound(op->handler_, op->ec_);
        p.h = std::addressof(bound.handler_);
        p.reset();
        if (owner) {
            ad::fenced_block fence(ad::fenced_block::half);
            work.complete(bound, bound.handler_);
        }
    }

  private:
    Handler handler_;
    ad::handler_work<Handler, IoExecutor> work_;
};

// Cancels the queued wait when the awaiting coroutine is cancelled (an awaitable operator).
class Cancellation {
  public:
    Cancellation(ad::epoll_reactor* reactor, ad::epoll_reactor::per_descriptor_data* data, int fd)
        : reactor_(reactor), data_(data), fd_(fd) {}
    void operator()(asio::cancellation_type_t type) {
        using asio::cancellation_type;
        if (!!(type & (cancellation_type::terminal | cancellation_type::partial |
                       cancellation_type::total)))
            reactor_->cancel_ops_by_key(fd_, *data_, ad::epoll_reactor::read_op, this);
    }

  private:
    ad::epoll_reactor* reactor_;
    ad::epoll_reactor::per_descriptor_data* data_;
    int fd_;
};

// The reactor a registered socket belongs to, as its registration records it: null when the
// socket is not registered (closed). Asio's own lookup by service type takes a mutex and
// compares type names, twice a transaction.
ad::epoll_reactor* reactor_of(ad::epoll_reactor::per_descriptor_data state);
// Adds EPOLLRDHUP to the socket's registration, the first time (ready_wait.cpp).
void watch_closes(ad::epoll_reactor& reactor, ad::epoll_reactor::per_descriptor_data state, int fd);

// The socket's protected implementation, reached the way a derived class may reach it.
struct SocketAccess : tcp::socket {
    static auto& impl(tcp::socket& s) { return s.*(&SocketAccess::impl_); }
};

}  // namespace ready_wait_detail

// Completes (with no error) when `s` may have bytes to read, or with operation_aborted when
// the socket is cancelled or closed. The caller then reads with receive_now.
template <typename Token>
auto async_readable(tcp::socket& s, Token&& token) {
    return asio::async_initiate<Token, void(error_code)>(
        [&s](auto handler) {
            namespace rd = ready_wait_detail;
            namespace ad = asio::detail;
            auto& impl = rd::SocketAccess::impl(s);
            auto& data = impl.get_implementation();
            using Handler = decltype(handler);
            using Op = rd::ReadableOp<Handler, std::decay_t<decltype(impl.get_executor())>>;
            const bool continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
            auto slot = asio::get_associated_cancellation_slot(handler);
            typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
            p.p = new (p.v) Op(handler, impl.get_executor());
            ad::epoll_reactor* registered = rd::reactor_of(data.reactor_data_);
            auto& reactor = registered ? *registered
                                       : asio::use_service<ad::epoll_reactor>(asio::query(
                                             impl.get_executor(), asio::execution::context));
            if ((data.state_ & ad::socket_ops::non_blocking) == 0 &&
                !ad::socket_ops::set_internal_non_blocking(data.socket_, data.state_, true,
                                                           p.p->ec_)) {
                reactor.post_immediate_completion(p.p, continuation);
            } else {
                rd::watch_closes(reactor, data.reactor_data_, data.socket_);
                if (slot.is_connected())
                    p.p->cancellation_key_ = &slot.template emplace<rd::Cancellation>(
                        &reactor, &data.reactor_data_, data.socket_);
                reactor.start_op(ad::epoll_reactor::read_op, data.socket_, data.reactor_data_, p.p,
                                 continuation, true);
            }
            p.v = p.p = nullptr;
        },
        token);
}

#else

inline constexpr bool ready_wait_is_free = false;

// The io_uring build: a poll of the socket (callers prefer Asio's read there).
template <typename Token>
auto async_readable(tcp::socket& s, Token&& token) {
    return s.async_wait(tcp::socket::wait_read, std::forward<Token>(token));
}

#endif

// After a read of `s` that returned EAGAIN (`empty`), or less than the room it offered:
// tells the reactor that the socket holds nothing more, when that is certain (ready_wait.cpp),
// so that the next wait queues without a system call. Nothing in the io_uring build. The
// socket's reactor must run on the calling thread.
void read_left_nothing(tcp::socket& s, bool empty);

}  // namespace pgtenant::proxy
