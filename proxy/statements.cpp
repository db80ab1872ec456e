#include "proxy/statements.h"

#include <fmt/format.h>

#include "protocol/guard/prefilter.h"

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
    auto it = map_.find(name);
    return it == map_.end() ? nullptr : &it->second;
}

const PreparedStatement& ClientStatements::add(const std::string& name, std::string_view query,
                                               std::vector<int32_t> types, bool sql,
                                               uint8_t effects) {
    // A SQL-level statement's text after its name ("AS SELECT ...") is never a statement a
    // Parse could prepare: the two kinds never share a server name.
    PreparedStatement s{server_statement_name(query, types),
                        std::string(query),
                        std::move(types),
                        next_id_++,
                        std::nullopt,
                        !sql && protocol::guard::may_begin_block(query),
                        sql,
                        sql ? uint8_t{protocol::guard::kAnything} : effects};
    return map_.insert_or_assign(name, std::move(s)).first->second;
}

void ClientStatements::learn_shape(std::string_view name, uint64_t id, protocol::RowShape shape) {
    auto it = map_.find(name);
    if (it != map_.end() && it->second.id == id && !it->second.shape) it->second.shape = shape;
}

void ClientStatements::remove(std::string_view name, uint64_t id) {
    auto it = map_.find(name);
    if (it != map_.end() && it->second.id == id) map_.erase(it);
}

bool ServerStatements::has(const std::string& name) {
    auto it = index_.find(name);
    if (it == index_.end() || it->second.broken) return false;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return true;
}

std::optional<protocol::RowShape> ServerStatements::shape(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? std::nullopt : it->second.shape;
}

void ServerStatements::set_shape(const std::string& name, protocol::RowShape shape) {
    if (auto it = index_.find(name); it != index_.end()) it->second.shape = shape;
}

void ServerStatements::add(const std::string& name, std::vector<std::string>& close_first) {
    if (auto it = index_.find(name); it != index_.end()) {
        close_first.push_back(name);
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        it->second = Entry{lru_.begin()};
        return;
    }
    lru_.push_front(name);
    index_.emplace(name, Entry{lru_.begin()});
    if (index_.size() <= capacity_) return;
    close_first.push_back(lru_.back());
    index_.erase(lru_.back());
    lru_.pop_back();
}

void ServerStatements::mark_broken(const std::string& name) {
    if (auto it = index_.find(name); it != index_.end()) {
        it->second.broken = true;
        return;
    }
    lru_.push_front(name);
    index_.emplace(name, Entry{lru_.begin(), std::nullopt, true});
}

void ServerStatements::mark_all_broken() {
    for (auto& [name, entry] : index_) entry.broken = true;
}

void ServerStatements::erase(const std::string& name) {
    auto it = index_.find(name);
    if (it == index_.end()) return;
    lru_.erase(it->second.lru);
    index_.erase(it);
}

void ServerStatements::clear() {
    lru_.clear();
    index_.clear();
}

}  // namespace pgtenant::proxy
