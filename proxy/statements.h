#pragma once
// Protocol-level named prepared statements in transaction pooling. A client's statement names
// are its own; on the server every statement is named after its text and parameter types
// ("pgt_<hash>"), so any client's statement can be prepared on whichever connection its next
// transaction lands on, and identical statements of different clients share one server copy.
//
// Result shapes (protocol/row_shape.h) keep that sharing honest after DDL: PostgreSQL fails a
// statement whose result columns changed since it was prepared (0A000). A client statement
// remembers its shape when the client prepared it; each server copy remembers the shape it was
// prepared with on its connection. Where the two differ, or the copy must be prepared again,
// the session asks the server for the current shape before letting the client's Bind through.
// Pure bookkeeping: no sockets, no protocol I/O.
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/guard/facts.h"
#include "protocol/row_shape.h"

namespace pgtenant::proxy {

struct PreparedStatement {
    std::string server_name;
    std::string query;
    std::vector<int32_t> param_types;
    uint64_t id = 0;  // tells apart statements re-created under one name
    std::optional<protocol::RowShape>
        shape;  // when the client prepared it; unknown until described
    bool may_begin =
        false;  // protocol::guard::may_begin_block(query): executing it may open a block
    // Prepared by SQL (PREPARE name ...): `query` is the text after the name, "[(types)] AS
    // body", and the server copy is made by PREPARE <server_name> with it.
    bool sql = false;
    // What executing it may leave in the session (protocol::guard::Effect bits), learned when
    // the client prepared it.
    uint8_t effects = protocol::guard::kAnything;
};

std::string server_statement_name(std::string_view query, const std::vector<int32_t>& param_types);

// One client's statements, by the names the client gave them.
class ClientStatements {
  public:
    const PreparedStatement* find(std::string_view name) const;
    const PreparedStatement& add(const std::string& name, std::string_view query,
                                 std::vector<int32_t> types, bool sql = false,
                                 uint8_t effects = protocol::guard::kAnything);
    // Sets the shape of statement `name` if it is still statement `id` and has none yet.
    void learn_shape(std::string_view name, uint64_t id, protocol::RowShape shape);
    void remove(std::string_view name) {
        if (auto it = map_.find(name); it != map_.end()) map_.erase(it);
    }
    // Removes statement `name` only if it is still statement `id`.
    void remove(std::string_view name, uint64_t id);
    void clear() { map_.clear(); }
    std::size_t size() const { return map_.size(); }
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& [name, s] : map_) f(name, s);
    }

  private:
    // Looked up by string_view without making a string (a Bind names its statement).
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, PreparedStatement, NameHash, std::equal_to<>> map_;
    uint64_t next_id_ = 1;
};

// The server statements one connection holds, least recently used first out.
class ServerStatements {
  public:
    explicit ServerStatements(std::size_t capacity = 256) : capacity_(capacity) {}
    // Usable here (prepared, not broken); marks it recently used.
    bool has(const std::string& name);
    // The shape it was prepared with here, once described.
    std::optional<protocol::RowShape> shape(const std::string& name) const;
    void set_shape(const std::string& name, protocol::RowShape shape);
    // Records `name` as prepared now (shape unknown). Appends to `close_first` what must be
    // closed on the server before the Parse: an earlier copy of `name` (broken or outdated),
    // and the least recently used statement when over capacity.
    void add(const std::string& name, std::vector<std::string>& close_first);
    // It may still exist on the server but must not be used: the server failed it with 0A000
    // (its result type changed), or its Parse or a Close of it failed or was skipped after an
    // error. The next add() closes it first.
    void mark_broken(const std::string& name);
    void erase(const std::string& name);
    // A DEALLOCATE ALL may or may not have run: each must be closed before it is prepared again.
    void mark_all_broken();
    void clear();
    std::size_t size() const { return index_.size(); }

  private:
    struct Entry {
        std::list<std::string>::iterator lru;
        std::optional<protocol::RowShape> shape;
        bool broken = false;
    };
    std::size_t capacity_;
    std::list<std::string> lru_;  // most recent at the front
    std::unordered_map<std::string, Entry> index_;
};

}  // namespace pgtenant::proxy
