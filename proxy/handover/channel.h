#pragma once
// The Unix socket between a pgtenant and its successor, and client sockets passed over it
// (SCM_RIGHTS). Blocking POSIX calls, no Asio: each side uses them from a thread of its own or
// briefly from a worker.
//
// The exchange: the successor connects and sends kHello; the old process answers kHello and
// from then on sends one frame per client - a 4-byte big-endian length carrying the client's
// descriptor, then that many bytes of its snapshot (snapshot.h) - and closes the socket once it
// has none left.
#include <cstdint>
#include <string>
#include <string_view>

namespace pgtenant::proxy::handover {

inline constexpr std::string_view kHello = "PGTHOV01";
inline constexpr uint32_t kMaxSnapshot = 64u << 20;

// Listens on `path` (mode 0600, removing a stale file first). -1 with `error` set on failure.
int listen_at(const std::string& path, std::string& error);
// Connects to a pgtenant listening on `path`. -1 when none does (`error` empty: no file, or
// nobody listening there) or on another failure (`error` set).
int connect_to(const std::string& path, std::string& error);
// The process at the other end runs as the same user as this one.
bool peer_is_same_user(int fd);
// Removes `path` if it is still the socket file this process created (`inode` from listen_at's
// file): a successor may have put its own there meanwhile.
void remove_if_ours(const std::string& path, uint64_t inode);
uint64_t inode_of(const std::string& path);

bool write_exact(int fd, std::string_view bytes);
bool read_exact(int fd, char* out, std::size_t n);
// Sets a blocking socket's send and receive timeouts.
void set_timeouts(int fd, int send_ms, int receive_ms);

// Sends one client: its descriptor with the frame's length, then the snapshot.
bool send_client(int sock, int client_fd, std::string_view snapshot);
enum class Received { client, end, error };
// Receives the next client (its descriptor into `client_fd`, owned by the caller), or the end.
Received receive_client(int sock, int& client_fd, std::string& snapshot, std::string& error);

}  // namespace pgtenant::proxy::handover
