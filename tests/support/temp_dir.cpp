#include "tests/support/temp_dir.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace pgtenant::testing {

TempDir::TempDir(const std::string& prefix, const std::filesystem::path& parent) {
    const char* base = std::getenv("TMPDIR");
    std::string dir =
        !parent.empty() ? parent.string() : std::string(base && *base ? base : "/tmp");
    std::string templ = dir + "/" + prefix + ".XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp " + templ);
    }
    path_ = buf.data();
    keep_ = std::getenv("PGTENANT_KEEP_TEMP") != nullptr;
}

TempDir::~TempDir() {
    if (keep_) {
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

}  // namespace pgtenant::testing
