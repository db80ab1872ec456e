#pragma once
// Protocol-level named prepared statements in transaction pooling. A client's statement names
// are its own; on the server every statement is named after its text and parameter types
// ("pgt_<hash>"), so any client's statement can be prepared on whichever connection its next
// transaction lands on, and identical statements of different clients share one server copy.
// Pure bookkeeping: no sockets, no protocol I/O.
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgtenant::proxy {

struct PreparedStatement {
    std::string server_name;
    std::string query;
    std::vector<int32_t> param_types;
};

std::string server_statement_name(std::string_view query, const std::vector<int32_t>& param_types);

// One client's statements, by the names the client gave them.
class ClientStatements {
public:
    const PreparedStatement* find(std::string_view name) const;
    const PreparedStatement& add(const std::string& name, std::string_view query, std::vector<int32_t> types);
    void remove(std::string_view name) { map_.erase(std::string(name)); }
    void clear() { map_.clear(); }

private:
    std::unordered_map<std::string, PreparedStatement> map_;
};

// The server statements one connection holds, least recently used first out.
class ServerStatements {
public:
    explicit ServerStatements(std::size_t capacity = 256) : capacity_(capacity) {}
    bool has(const std::string& name);  // and marks it recently used
    // Records `name`; returns a statement to close on the server when over capacity.
    std::optional<std::string> add(const std::string& name);
    void erase(const std::string& name);
    void clear();
    std::size_t size() const { return index_.size(); }

private:
    std::size_t capacity_;
    std::list<std::string> lru_;  // most recent at the front
    std::unordered_map<std::string, std::list<std::string>::iterator> index_;
};

}  // namespace pgtenant::proxy
