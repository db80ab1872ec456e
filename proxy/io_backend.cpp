#include "proxy/io_backend.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#ifdef BOOST_ASIO_HAS_IO_URING
#include <liburing.h>
#endif

namespace pgtenant::proxy {

// Set by the io_uring build for the epoll build it execs, which clears it: if the fallback is in
// fact a copy of the io_uring build, it stops instead of exec'ing itself forever.
constexpr const char* kFallingBack = "PGTENANT_EPOLL_FALLBACK_RUNNING";

#ifdef BOOST_ASIO_HAS_IO_URING

const char* io_backend_name() { return "io_uring"; }

bool use_best_io_backend(char** argv) {
    // epoll unless io_uring is asked for: io_uring is the younger of the two here (issue 14:
    // it crashed and crossed replies until proxy/asio_impl.cpp corrected Boost's cancellations).
    const char* wanted = std::getenv("PGTENANT_IO");
    std::string why;
    if (!wanted || std::string_view(wanted) != "io_uring") {
        why = "epoll is the default (PGTENANT_IO=io_uring opts in to io_uring)";
    } else {
        io_uring ring;
        int rc = io_uring_queue_init(8, &ring, 0);
        if (rc == 0) {
            io_uring_queue_exit(&ring);
            return true;
        }
        why = std::string("io_uring is not available here: ") + std::strerror(-rc);
    }
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    auto fallback = self.parent_path() / PGTENANT_EPOLL_FALLBACK;
    if (ec || !std::filesystem::exists(fallback)) {
        spdlog::critical("{}, and there is no {} next to this binary to fall back to", why,
                         PGTENANT_EPOLL_FALLBACK);
        return false;
    }
    if (std::getenv(kFallingBack)) {
        spdlog::critical("{}, and {} is not the epoll build (it fell back to itself)", why,
                         fallback.string());
        return false;
    }
    ::setenv(kFallingBack, "1", 1);
    spdlog::debug("{}: using the epoll build ({})", why, fallback.string());
    ::execv(fallback.c_str(), argv);
    spdlog::critical("cannot run {}: {}", fallback.string(), std::strerror(errno));
    return false;
}

#else

const char* io_backend_name() { return "epoll"; }

bool use_best_io_backend(char**) {
    ::unsetenv(kFallingBack);
    return true;
}

#endif

}  // namespace pgtenant::proxy
