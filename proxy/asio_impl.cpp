// Compiles Boost.Asio and its SSL support once for the whole program.
#if defined(BOOST_ASIO_HAS_IO_URING)
#include <liburing.h>

// Boost 1.81's io_uring service prepares its cancel and timeout-remove requests without
// setting their user data, and liburing 2.3's prep functions leave it as it was: such a
// request carried whatever the ring slot's previous request carried, and its completion
// (often -ENOENT, "nothing to cancel") was delivered to that earlier request's operation, long
// finished or by now another socket's: accepts failing with ENOENT, another session's read
// completing, heap corruption (issue 14; bench/slowloris.py with 1,500 logins timing out at
// once reproduced it in seconds). The service ignores completions without user data, so these
// requests carry none. Only Asio's own source, compiled below, sees the two names replaced.
inline void pgtenant_uring_prep_cancel(io_uring_sqe* sqe, void* user_data, int flags) {
    ::io_uring_prep_cancel(sqe, user_data, flags);
    ::io_uring_sqe_set_data(sqe, nullptr);
}
inline void pgtenant_uring_prep_timeout_remove(io_uring_sqe* sqe, __u64 user_data, unsigned flags) {
    ::io_uring_prep_timeout_remove(sqe, user_data, flags);
    ::io_uring_sqe_set_data(sqe, nullptr);
}
#define io_uring_prep_cancel pgtenant_uring_prep_cancel
#define io_uring_prep_timeout_remove pgtenant_uring_prep_timeout_remove
#endif

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
