#include "proxy/cancel.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "auth/scram.h"
#include "protocol/builders.h"

namespace pgtenant::proxy {

void CancelSlot::running_on(int32_t pid, int32_t key) {
    std::lock_guard lock(mu_);
    running_ = true;
    pid_ = pid;
    key_ = key;
}

void CancelSlot::idle() {
    std::lock_guard lock(mu_);
    running_ = false;
}

std::optional<std::pair<int32_t, int32_t>> CancelSlot::target() {
    std::lock_guard lock(mu_);
    if (!running_) return std::nullopt;
    return std::pair{pid_, key_};
}

CancelRegistry::Keys CancelRegistry::add(std::shared_ptr<CancelSlot> slot) {
    std::lock_guard lock(mu_);
    for (;;) {
        auto bytes = auth::random_bytes(8);
        int32_t pid, key;
        std::memcpy(&pid, bytes.data(), 4);
        std::memcpy(&key, bytes.data() + 4, 4);
        pid &= 0x7fffffff;
        if (pid == 0 || sessions_.contains(pid)) continue;
        sessions_.emplace(pid, Entry{key, slot});
        return {pid, key};
    }
}

bool CancelRegistry::add_as(int32_t pid, int32_t key, std::shared_ptr<CancelSlot> slot) {
    std::lock_guard lock(mu_);
    if (pid <= 0) return false;
    return sessions_.emplace(pid, Entry{key, std::move(slot)}).second;
}

void CancelRegistry::remove(int32_t pid) {
    std::lock_guard lock(mu_);
    sessions_.erase(pid);
}

std::optional<std::pair<int32_t, int32_t>> CancelRegistry::resolve(int32_t pid, int32_t key) {
    std::shared_ptr<CancelSlot> slot;
    {
        std::lock_guard lock(mu_);
        auto it = sessions_.find(pid);
        if (it == sessions_.end()) return std::nullopt;
        if (CRYPTO_memcmp(&it->second.key, &key, sizeof key) != 0) return std::nullopt;
        slot = it->second.slot.lock();
    }
    if (!slot) return std::nullopt;
    return slot->target();
}

awaitable<void> send_cancel(const config::BackendConfig& cfg, int32_t pid, int32_t key) {
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    auto [rec, endpoints] = co_await resolver.async_resolve(cfg.host, std::to_string(cfg.port), use_tuple);
    if (rec) co_return;
    tcp::socket s(ex);
    auto [ec, ep] = co_await asio::async_connect(s, endpoints, use_tuple);
    if (ec) {
        spdlog::warn("cancel: cannot reach the server: {}", ec.message());
        co_return;
    }
    std::string out;
    protocol::build::cancel_request(out, pid, key);
    co_await asio::async_write(s, asio::buffer(out), use_tuple);
    // The server closes the connection when it has handled the request.
    char c;
    co_await s.async_read_some(asio::buffer(&c, 1), use_tuple);
}

}  // namespace pgtenant::proxy
