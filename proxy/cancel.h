#pragma once
// Cancel routing. Each client gets pgtenant's own random (pid, key) in BackendKeyData; a
// CancelRequest reaches PostgreSQL only while that client has work running on a server
// connection, and only that connection. Keys are compared in constant time.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "config/config.h"
#include "proxy/asio.h"

namespace pgtenant::proxy {

// Where a session's work runs right now; written by the session, read by cancel requests.
class CancelSlot {
public:
    void running_on(int32_t pid, int32_t key);
    void idle();
    std::optional<std::pair<int32_t, int32_t>> target();

private:
    std::mutex mu_;
    bool running_ = false;
    int32_t pid_ = 0, key_ = 0;
};

class CancelRegistry {
public:
    struct Keys {
        int32_t pid;
        int32_t key;
    };
    Keys add(std::shared_ptr<CancelSlot> slot);
    // A session taken over from an old process keeps the keys its client holds. False when
    // `pid` is taken here.
    bool add_as(int32_t pid, int32_t key, std::shared_ptr<CancelSlot> slot);
    void remove(int32_t pid);
    // The server (pid, key) to cancel, if the keys match a session with work running.
    std::optional<std::pair<int32_t, int32_t>> resolve(int32_t pid, int32_t key);

private:
    struct Entry {
        int32_t key;
        std::weak_ptr<CancelSlot> slot;
    };
    std::mutex mu_;
    std::unordered_map<int32_t, Entry> sessions_;
};

// Sends a CancelRequest for (pid, key) to the configured server; errors are only logged.
awaitable<void> send_cancel(const config::BackendConfig& cfg, int32_t pid, int32_t key);

}  // namespace pgtenant::proxy
