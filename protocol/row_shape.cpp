#include "protocol/row_shape.h"

#include "protocol/wire.h"

namespace pgtenant::protocol {

namespace {
// NoData. A RowDescription, even one of zero columns, never hashes to it.
constexpr RowShape kNoRows = 0;

class Fnv {
public:
    void add(std::string_view bytes) {
        for (unsigned char c : bytes) add_byte(c);
    }
    void add(int64_t v) {
        for (int shift = 0; shift < 64; shift += 8) add_byte(static_cast<unsigned char>(v >> shift));
    }
    RowShape value() const { return h_ == kNoRows ? 1 : h_; }

private:
    void add_byte(unsigned char c) { h_ = (h_ ^ c) * 0x100000001b3ull; }
    uint64_t h_ = 0xcbf29ce484222325ull;
};
}  // namespace

std::optional<RowShape> row_shape(char tag, std::string_view body) {
    if (tag == 'n') return body.empty() ? std::optional(kNoRows) : std::nullopt;
    if (tag != 'T') return std::nullopt;
    MessageReader r(body);
    const int16_t count = r.int16();
    if (!r.ok() || count < 0) return std::nullopt;
    Fnv h;
    h.add(int64_t{count});
    for (int16_t i = 0; i < count; ++i) {
        h.add(r.cstring());
        h.add(std::string_view("\0", 1));  // names are NUL-free: keeps "ab","c" from "a","bc"
        r.int32();                         // table oid: where it came from, not what it is
        r.int16();                         // column number: likewise
        h.add(int64_t{r.int32()});         // type oid
        h.add(int64_t{r.int16()});         // type length
        h.add(int64_t{r.int32()});         // type modifier
        r.int16();                         // format: the portal's choice
    }
    if (!r.ok() || !r.at_end()) return std::nullopt;
    return h.value();
}

}  // namespace pgtenant::protocol
