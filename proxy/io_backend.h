#pragma once
// Which kernel interface carries the sockets: io_uring when this binary was built for it and
// the kernel allows it, else epoll (the pgtenant-epoll binary next to this one).

namespace pgtenant::proxy {

// "io_uring" or "epoll": what this binary was built with.
const char* io_backend_name();

// For an io_uring build: unless PGTENANT_IO=io_uring is set and io_uring can be set up here
// (not an old kernel, a sandbox, kernel.io_uring_disabled), replaces this process with the
// epoll build, same arguments. Returns only when this binary is the one to serve; returns false
// (after logging why) if it cannot serve and cannot hand over either.
bool use_best_io_backend(char** argv);

}  // namespace pgtenant::proxy
