#pragma once
// Shared by the fuzz targets: property checks that abort with a message (libFuzzer then saves
// the input; the plain driver prints it), and the input as a string_view.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace pgtenant::fuzz {

[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    std::abort();
}

inline std::string_view as_view(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// Splits `in` at the first `sep`: the part before it, and `in` is left with the part after
// (empty when there is no `sep`). Targets that take several messages use it.
inline std::string_view take_until(std::string_view& in, char sep) {
    const auto at = in.find(sep);
    const std::string_view head = in.substr(0, at);
    in = at == std::string_view::npos ? std::string_view() : in.substr(at + 1);
    return head;
}

}  // namespace pgtenant::fuzz

#define FUZZ_CHECK(cond)                                                        \
    do {                                                                        \
        if (!(cond)) ::pgtenant::fuzz::check_failed(#cond, __FILE__, __LINE__); \
    } while (0)
