#include "proxy/statements.h"

#include <fmt/format.h>

namespace pgtenant::proxy {

std::string server_statement_name(std::string_view query, const std::vector<int32_t>& param_types) {
    // Two independent 64-bit FNV-1a lanes: a collision would need both to collide.
    uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
    auto mix = [&](unsigned char c) {
        a = (a ^ c) * 0x100000001b3ull;
        b = (b ^ static_cast<unsigned char>(c + 0x5b)) * 0x100000001b3ull;
    };
    for (char c : query) mix(static_cast<unsigned char>(c));
    mix(0);
    for (int32_t t : param_types)
        for (int shift = 0; shift < 32; shift += 8) mix(static_cast<unsigned char>(t >> shift));
    return fmt::format("pgt_{:016x}{:016x}", a, b);
}

const PreparedStatement* ClientStatements::find(std::string_view name) const {
    auto it = map_.find(std::string(name));
    return it == map_.end() ? nullptr : &it->second;
}

const PreparedStatement& ClientStatements::add(const std::string& name, std::string_view query,
                                               std::vector<int32_t> types) {
    PreparedStatement s{server_statement_name(query, types), std::string(query), std::move(types)};
    return map_.insert_or_assign(name, std::move(s)).first->second;
}

bool ServerStatements::has(const std::string& name) {
    auto it = index_.find(name);
    if (it == index_.end()) return false;
    lru_.splice(lru_.begin(), lru_, it->second);
    return true;
}

std::optional<std::string> ServerStatements::add(const std::string& name) {
    if (has(name)) return std::nullopt;
    lru_.push_front(name);
    index_.emplace(name, lru_.begin());
    if (index_.size() <= capacity_) return std::nullopt;
    std::string victim = lru_.back();
    index_.erase(victim);
    lru_.pop_back();
    return victim;
}

void ServerStatements::erase(const std::string& name) {
    auto it = index_.find(name);
    if (it == index_.end()) return;
    lru_.erase(it->second);
    index_.erase(it);
}

void ServerStatements::clear() {
    lru_.clear();
    index_.clear();
}

}  // namespace pgtenant::proxy
