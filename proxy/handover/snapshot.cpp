#include "proxy/handover/snapshot.h"

namespace pgtenant::proxy::handover {
namespace {

constexpr uint8_t kVersion = 1;

class Writer {
  public:
    void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u32(uint32_t v) { fixed(v, 4); }
    void u64(uint64_t v) { fixed(v, 8); }
    void str(std::string_view s) {
        u32(static_cast<uint32_t>(s.size()));
        out_.append(s);
    }
    void params(const SessionParams& p) {
        u32(static_cast<uint32_t>(p.size()));
        for (const auto& [k, v] : p) {
            str(k);
            str(v);
        }
    }
    void types(const std::vector<int32_t>& t) {
        u32(static_cast<uint32_t>(t.size()));
        for (int32_t v : t) u32(static_cast<uint32_t>(v));
    }
    std::string take() { return std::move(out_); }

  private:
    void fixed(uint64_t v, int bytes) {
        for (int i = bytes - 1; i >= 0; --i) out_.push_back(static_cast<char>(v >> (8 * i)));
    }
    std::string out_;
};

// Every read checks what is left; one failure makes the rest fail too.
class Reader {
  public:
    explicit Reader(std::string_view in) : in_(in) {}
    bool ok() const { return ok_; }
    bool done() const { return ok_ && in_.empty(); }
    uint8_t u8() { return static_cast<uint8_t>(fixed(1)); }
    uint32_t u32() { return static_cast<uint32_t>(fixed(4)); }
    uint64_t u64() { return fixed(8); }
    bool flag() {
        const uint8_t v = u8();
        if (v > 1) ok_ = false;
        return v == 1;
    }
    std::string str() {
        const uint32_t n = u32();
        if (!ok_ || n > in_.size()) return fail<std::string>();
        std::string s(in_.substr(0, n));
        in_.remove_prefix(n);
        return s;
    }
    SessionParams params() {
        SessionParams p;
        const uint32_t n = count(8);
        for (uint32_t i = 0; i < n && ok_; ++i) {
            auto k = str();
            auto v = str();
            p.insert_or_assign(std::move(k), std::move(v));
        }
        return p;
    }
    std::vector<int32_t> types() {
        std::vector<int32_t> t;
        const uint32_t n = count(4);
        if (n > 65535) ok_ = false;  // as many parameters as the protocol allows
        for (uint32_t i = 0; i < n && ok_; ++i) t.push_back(static_cast<int32_t>(u32()));
        return t;
    }
    // A count of items of at least `min_size` bytes each: never more than the bytes left allow.
    uint32_t count(std::size_t min_size) {
        const uint32_t n = u32();
        if (!ok_ || n > in_.size() / min_size) return fail<uint32_t>();
        return n;
    }

  private:
    template <typename T>
    T fail() {
        ok_ = false;
        return T{};
    }
    uint64_t fixed(int bytes) {
        if (!ok_ || in_.size() < static_cast<std::size_t>(bytes)) return fail<uint64_t>();
        uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in_[i]);
        in_.remove_prefix(static_cast<std::size_t>(bytes));
        return v;
    }
    std::string_view in_;
    bool ok_ = true;
};

}  // namespace

std::string encode(const SessionSnapshot& s) {
    Writer w;
    w.u8(kVersion);
    w.str(s.user);
    w.str(s.practice);
    w.str(s.database);
    w.u8(s.from_lookup ? 1 : 0);
    w.params(s.startup);
    w.params(s.settings);
    w.params(s.told);
    w.u32(static_cast<uint32_t>(s.statements.size()));
    for (const auto& st : s.statements) {
        w.str(st.name);
        w.str(st.query);
        w.types(st.param_types);
        w.u8(st.shape ? 1 : 0);
        w.u64(st.shape.value_or(0));
        w.u8(st.sql ? 1 : 0);
    }
    w.u8(s.unnamed.exists ? 1 : 0);
    w.str(s.unnamed.query);
    w.types(s.unnamed.param_types);
    w.u8(s.unnamed.binding);
    w.u32(static_cast<uint32_t>(s.cancel_pid));
    w.u32(static_cast<uint32_t>(s.cancel_key));
    w.u64(static_cast<uint64_t>(s.connect_time_ms));
    w.u32(s.transactions);
    w.u64(s.old_session);
    w.str(s.pending);
    return w.take();
}

std::optional<SessionSnapshot> decode(std::string_view bytes) {
    Reader r(bytes);
    if (r.u8() != kVersion) return std::nullopt;
    SessionSnapshot s;
    s.user = r.str();
    s.practice = r.str();
    s.database = r.str();
    s.from_lookup = r.flag();
    s.startup = r.params();
    s.settings = r.params();
    s.told = r.params();
    const uint32_t n = r.count(22);  // the smallest statement's encoding
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
        StatementSnapshot st;
        st.name = r.str();
        st.query = r.str();
        st.param_types = r.types();
        const bool has_shape = r.flag();
        const uint64_t shape = r.u64();
        if (has_shape) st.shape = shape;
        st.sql = r.flag();
        s.statements.push_back(std::move(st));
    }
    s.unnamed.exists = r.flag();
    s.unnamed.query = r.str();
    s.unnamed.param_types = r.types();
    s.unnamed.binding = r.u8();
    if (s.unnamed.binding > 2) return std::nullopt;
    s.cancel_pid = static_cast<int32_t>(r.u32());
    s.cancel_key = static_cast<int32_t>(r.u32());
    s.connect_time_ms = static_cast<int64_t>(r.u64());
    s.transactions = r.u32();
    s.old_session = r.u64();
    s.pending = r.str();
    if (!r.done() || s.user.empty() || s.practice.empty()) return std::nullopt;
    return s;
}

}  // namespace pgtenant::proxy::handover
