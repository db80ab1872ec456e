// The main() of every fuzz target built without libFuzzer (any compiler): ctest's *_smoke tests.
//
//   <target> [-n iterations] [-s seed] [file-or-directory ...]
//
// Replays every file given (directories: each regular file in them, in name order), then feeds
// `iterations` deterministic pseudo-random inputs to LLVMFuzzerTestOneInput: random bytes, and
// the replayed inputs bent the ways that matter for wire formats and text (truncated, bytes
// flipped or inserted, length words set to edge values, spliced with another input). A crash or
// failed check prints the input in hex before the process dies.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

const std::string* g_current = nullptr;  // the input being run, for the crash report

void put(const char* s, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(STDERR_FILENO, s, n);
        if (w <= 0) return;
        s += w;
        n -= static_cast<std::size_t>(w);
    }
}

// Async-signal-safe: write(2) only.
void report_input(int sig) {
    if (g_current != nullptr) {
        static const char hex[] = "0123456789abcdef";
        const char head[] = "\nfuzz driver: the input that failed, in hex:\n";
        put(head, sizeof(head) - 1);
        char pair[3] = {0, 0, ' '};
        for (unsigned char c : *g_current) {
            pair[0] = hex[c >> 4];
            pair[1] = hex[c & 15];
            put(pair, 3);
        }
        put("\n", 1);
    }
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

std::vector<std::string> read_inputs(const std::vector<std::string>& paths) {
    std::vector<fs::path> files;
    for (const auto& p : paths) {
        if (fs::is_directory(p)) {
            std::vector<fs::path> in_dir;
            for (const auto& e : fs::directory_iterator(p))
                if (e.is_regular_file()) in_dir.push_back(e.path());
            std::sort(in_dir.begin(), in_dir.end());
            files.insert(files.end(), in_dir.begin(), in_dir.end());
        } else {
            files.emplace_back(p);
        }
    }
    std::vector<std::string> out;
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "fuzz driver: cannot read %s\n", f.c_str());
            std::exit(2);
        }
        std::ostringstream s;
        s << in.rdbuf();
        out.push_back(s.str());
    }
    return out;
}

void put_u32(std::string& s, std::size_t at, uint32_t v) {
    for (std::size_t i = 0; i < 4 && at + i < s.size(); ++i)
        s[at + i] = static_cast<char>(v >> (24 - 8 * i));
}

std::string mutate(std::string s, const std::vector<std::string>& corpus, std::mt19937_64& rng) {
    auto pick = [&](std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); };
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < edits; ++i) {
        switch (rng() % 9) {
            case 0:  // truncate
                s.resize(pick(s.size() + 1));
                break;
            case 1:  // flip a byte
                if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng());
                break;
            case 2:  // insert a byte, often a NUL or a separator
            {
                static constexpr char kSpecial[] = {'\0', ',', '=', '\n', '"', '\'', ';', '\\'};
                const char c =
                    (rng() % 2) ? kSpecial[pick(sizeof(kSpecial))] : static_cast<char>(rng());
                s.insert(pick(s.size() + 1), 1, c);
                break;
            }
            case 3:  // erase a run
                if (!s.empty()) {
                    const std::size_t at = pick(s.size());
                    s.erase(at, 1 + pick(8));
                }
                break;
            case 4: {  // a length-like word with an edge value
                static constexpr uint32_t kEdges[] = {
                    0,          1,          3,          4,          5,          8,
                    0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x00030000, 0x00020000,
                    0x04d2162e, 0x04d2162f, 0x04d21630, 0x0000ffff};
                put_u32(s, pick(s.size() + 1), kEdges[pick(std::size(kEdges))]);
                break;
            }
            case 5:  // duplicate a run
                if (!s.empty()) {
                    const std::size_t at = pick(s.size());
                    s.insert(at, s.substr(at, 1 + pick(16)));
                }
                break;
            case 6: {  // splice in a piece of another input
                const std::string& other = corpus[pick(corpus.size())];
                const std::size_t from = pick(other.size() + 1);
                s.insert(pick(s.size() + 1), other.substr(from, 1 + pick(32)));
                break;
            }
            case 7:  // append garbage
                s.append(pick(4) + 1, static_cast<char>(rng()));
                break;
            default:  // fix the length word of a tagged frame to the new size
                if (s.size() >= 5) put_u32(s, 1, static_cast<uint32_t>(s.size() - 1));
                break;
        }
    }
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    long iterations = 20000;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    std::vector<std::string> paths;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-n" && i + 1 < argc) {
            iterations = std::atol(argv[++i]);
        } else if (a == "-s" && i + 1 < argc) {
            seed = std::strtoull(argv[++i], nullptr, 0);
        } else if (a.starts_with("-")) {
            std::fprintf(stderr, "usage: %s [-n iterations] [-s seed] [file-or-directory ...]\n",
                         argv[0]);
            return 2;
        } else {
            paths.push_back(a);
        }
    }
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) ::signal(sig, report_input);

    const auto start = std::chrono::steady_clock::now();
    const std::vector<std::string> corpus = read_inputs(paths);
    for (const auto& in : corpus) {
        g_current = &in;
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    }
    std::mt19937_64 rng(seed);
    std::string in;
    for (long i = 0; i < iterations; ++i) {
        const auto mode = rng() % 8;
        if (corpus.empty() || mode == 0) {
            in.resize(rng() % 64);
            for (auto& c : in) c = static_cast<char>(rng());
        } else {
            in = mutate(corpus[rng() % corpus.size()], corpus, rng);
        }
        g_current = &in;
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    }
    g_current = nullptr;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    std::printf(
        "%s: %zu corpus inputs and %ld generated (seed %#llx) in %lld ms, all checks held\n",
        fs::path(argv[0]).filename().c_str(), corpus.size(), iterations,
        static_cast<unsigned long long>(seed), static_cast<long long>(ms));
    return 0;
}
