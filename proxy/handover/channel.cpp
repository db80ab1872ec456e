#include "proxy/handover/channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pgtenant::proxy::handover {
namespace {

bool address_of(const std::string& path, sockaddr_un& a, std::string& error) {
    std::memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof a.sun_path) {
        error = "invalid Unix socket path \"" + path + "\"";
        return false;
    }
    std::memcpy(a.sun_path, path.data(), path.size());
    return true;
}

// A frame's 4-byte header as one message, with room for the descriptor that travels with it.
struct HeaderMessage {
    char header[4] = {};
    iovec iov{header, sizeof header};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    HeaderMessage() {
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
    }
    HeaderMessage(const HeaderMessage&) = delete;
    HeaderMessage& operator=(const HeaderMessage&) = delete;
};

std::string describe_errno(std::string_view doing, const std::string& path) {
    return std::string(doing) + " " + path + ": " + std::strerror(errno);
}

}  // namespace

int listen_at(const std::string& path, std::string& error) {
    sockaddr_un a;
    if (!address_of(path, a, error)) return -1;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = describe_errno("cannot create a socket for", path);
        return -1;
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            error = path + " exists and is not a socket";
            ::close(fd);
            return -1;
        }
        ::unlink(path.c_str());  // stale: nobody answered there (connect_to came first)
    }
    const mode_t old_mask = ::umask(0077);
    const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::umask(old_mask);
    if (bound != 0 || ::listen(fd, 4) != 0) {
        error = describe_errno("cannot listen on", path);
        ::close(fd);
        return -1;
    }
    return fd;
}

int connect_to(const std::string& path, std::string& error) {
    error.clear();
    sockaddr_un a;
    if (!address_of(path, a, error)) return -1;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = describe_errno("cannot create a socket for", path);
        return -1;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        if (errno != ENOENT && errno != ECONNREFUSED)
            error = describe_errno("cannot connect to", path);
        ::close(fd);
        return -1;
    }
    return fd;
}

bool peer_is_same_user(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
    return cred.uid == ::geteuid();
}

uint64_t inode_of(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return 0;
    return st.st_ino;
}

void remove_if_ours(const std::string& path, uint64_t inode) {
    if (inode != 0 && inode_of(path) == inode) ::unlink(path.c_str());
}

bool write_exact(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool read_exact(int fd, char* out, std::size_t n) {
    while (n > 0) {
        const ssize_t got = ::recv(fd, out, n, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        out += got;
        n -= static_cast<std::size_t>(got);
    }
    return true;
}

void set_timeouts(int fd, int send_ms, int receive_ms) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    timeval s{send_ms / 1000, (send_ms % 1000) * 1000};
    timeval r{receive_ms / 1000, (receive_ms % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &s, sizeof s);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof r);
}

bool send_client(int sock, int client_fd, std::string_view snapshot) {
    const auto size = static_cast<uint32_t>(snapshot.size());
    HeaderMessage m;
    char* header = m.header;
    for (int i = 0; i < 4; ++i) header[i] = static_cast<char>(size >> (24 - 8 * i));
    msghdr& msg = m.msg;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &client_fd, sizeof(int));
    ssize_t n;
    do {
        n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    // The descriptor went with the first byte; the rest of the header follows.
    return write_exact(
               sock, std::string_view(header + n, sizeof m.header - static_cast<std::size_t>(n))) &&
           write_exact(sock, snapshot);
}

Received receive_client(int sock, int& client_fd, std::string& snapshot, std::string& error) {
    client_fd = -1;
    HeaderMessage m;
    char* header = m.header;
    msghdr& msg = m.msg;
    ssize_t n;
    do {
        n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n == 0) return Received::end;
    if (n < 0) {
        error = std::string("reading from the old process: ") + std::strerror(errno);
        return Received::error;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            std::memcpy(&client_fd, CMSG_DATA(c), sizeof(int));
    }
    if (client_fd < 0 || (msg.msg_flags & MSG_CTRUNC)) {
        error = "a frame from the old process came without its client's descriptor";
        return Received::error;
    }
    if (!read_exact(sock, header + n, sizeof m.header - static_cast<std::size_t>(n))) {
        error = "the old process stopped in the middle of a frame";
        return Received::error;
    }
    const uint32_t size = (uint32_t{static_cast<unsigned char>(header[0])} << 24) |
                          (uint32_t{static_cast<unsigned char>(header[1])} << 16) |
                          (uint32_t{static_cast<unsigned char>(header[2])} << 8) |
                          uint32_t{static_cast<unsigned char>(header[3])};
    if (size > kMaxSnapshot) {
        error = "a session snapshot from the old process is too large";
        return Received::error;
    }
    snapshot.assign(size, '\0');
    if (!read_exact(sock, snapshot.data(), size)) {
        error = "the old process stopped in the middle of a frame";
        return Received::error;
    }
    return Received::client;
}

}  // namespace pgtenant::proxy::handover
