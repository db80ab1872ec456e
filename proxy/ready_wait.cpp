// The reactor internals behind ready_wait.h: Asio 1.26's epoll reactor keeps what this needs
// (a descriptor's "try at once" flags, its registered events, the events of its last
// readiness report, the reactor it belongs to, the epoll descriptor) private. They are named here
// through explicit template instantiations, which the language exempts from access checks, and
// nowhere else.
#include "proxy/ready_wait.h"

#ifdef PGTENANT_READY_WAIT
#include <sys/epoll.h>

namespace pgtenant::proxy {
namespace {

namespace ad = asio::detail;
using Reactor = ad::epoll_reactor;
using DescriptorState = std::remove_pointer_t<Reactor::per_descriptor_data>;

// Stolen<Tag>::member: the member pointer an explicit instantiation of Steal hands over.
template <typename Tag>
struct Stolen {
    static inline typename Tag::type member{};
};
template <typename Tag, typename Tag::type Member>
struct Steal {
    static inline const bool done = (Stolen<Tag>::member = Member, true);
};

struct TryFlags {
    using type = bool (DescriptorState::*)[Reactor::max_ops];
};
struct Registered {
    using type = uint32_t DescriptorState::*;
};
struct LastEvents {
    using type = unsigned int ad::scheduler_operation::*;
};
struct EpollFd {
    using type = int Reactor::*;
};
struct Owner {
    using type = Reactor* DescriptorState::*;
};
template struct Steal<TryFlags, &DescriptorState::try_speculative_>;
template struct Steal<Registered, &DescriptorState::registered_events_>;
template struct Steal<LastEvents, &ad::scheduler_operation::task_result_>;
template struct Steal<EpollFd, &Reactor::epoll_fd_>;
template struct Steal<Owner, &DescriptorState::reactor_>;

// The events of the descriptor's last readiness report (kept as its operation's result until
// the next report; a C-style cast reaches the private base).
unsigned int last_events(DescriptorState* state) {
    return ((ad::scheduler_operation*)state)->*Stolen<LastEvents>::member;
}

}  // namespace

namespace ready_wait_detail {

Reactor* reactor_of(Reactor::per_descriptor_data state) {
    return state ? state->*Stolen<Owner>::member : nullptr;
}

void watch_closes(Reactor& reactor, Reactor::per_descriptor_data state, int fd) {
    if (!state) return;
    uint32_t& registered = state->*Stolen<Registered>::member;
    if (registered == 0 || (registered & EPOLLRDHUP) != 0) return;
    // Re-registering also reports the socket again if it is readable (or closed) right now.
    epoll_event ev{};
    ev.events = registered | EPOLLRDHUP;
    ev.data.ptr = state;
    if (::epoll_ctl(reactor.*Stolen<EpollFd>::member, EPOLL_CTL_MOD, fd, &ev) == 0)
        registered = ev.events;  // Asio keeps it in every later change (e.g. adding EPOLLOUT)
}

}  // namespace ready_wait_detail

void read_left_nothing(tcp::socket& s, bool empty) {
    DescriptorState* state =
        ready_wait_detail::SocketAccess::impl(s).get_implementation().reactor_data_;
    if (!state || ((state->*Stolen<Registered>::member) & EPOLLRDHUP) == 0) return;
    if (!empty && (last_events(state) & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) return;
    (state->*Stolen<TryFlags>::member)[Reactor::read_op] = false;
}

}  // namespace pgtenant::proxy

#else

namespace pgtenant::proxy {
void read_left_nothing(tcp::socket&, bool) {}
}  // namespace pgtenant::proxy

#endif
