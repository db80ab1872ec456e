// Parsing with libpg_query, on a thread with a large stack where the text could nest deeply.
#include "protocol/guard/guard.h"

#include <pthread.h>

#include <exception>

// Boost.JSON's compiled part, header-only. It must be included by exactly one .cpp of the whole
// program: this one. Other code that needs Boost.JSON includes the ordinary headers only.
#include <pg_query.h>

#include <boost/json/src.hpp>

#include "protocol/guard/tree_reader.h"

namespace pgtenant::protocol::guard {
namespace {

constexpr std::size_t kMaxCachedBytes = kCachedTextBytes;
// libpg_query renders its tree to JSON recursively, ~100-150 bytes of stack per level, and a
// chain like 1+1+1... adds a level every 2 bytes of SQL. Up to this size the caller's stack
// (>= 2 MiB assumed) is plenty; longer texts are parsed on a thread with a large stack.
constexpr std::size_t kInlineParseBytes = 8 * 1024;
constexpr std::size_t kMaxParseBytes = 1024 * 1024;
constexpr std::size_t kBigStackBytes = 256u << 20;  // reserved, touched only as deep as needed

Facts unparsed() {
    Facts f;
    f.parse_error = true;
    f.effects = kAnything;
    return f;
}

// Runs on the caller's stack or the big-stack thread. `text` is NUL-terminated.
Facts run_parse(const std::string& text) {
    struct Result {
        PgQueryParseResult r;
        ~Result() { pg_query_free_parse_result(r); }
    } parsed{pg_query_parse(text.c_str())};
    if (parsed.r.error != nullptr) return unparsed();
    return read_tree(parsed.r.parse_tree);
}

Facts parse_on_big_stack(const std::string& text) {
    // One at a time: each can hold tens of megabytes of JSON for a pathological query.
    static std::mutex big_parse_mu;
    std::lock_guard lock(big_parse_mu);
    struct Job {
        const std::string* text;
        Facts out;
        std::exception_ptr error;
    } job{&text, {}, nullptr};
    pthread_attr_t attr;
    pthread_t thread;
    auto run = [](void* p) -> void* {
        auto* j = static_cast<Job*>(p);
        try {
            j->out = run_parse(*j->text);
        } catch (...) {
            j->error = std::current_exception();
        }
        return nullptr;
    };
    const bool started = pthread_attr_init(&attr) == 0 &&
                         pthread_attr_setstacksize(&attr, kBigStackBytes) == 0 &&
                         pthread_create(&thread, &attr, run, &job) == 0;
    pthread_attr_destroy(&attr);
    if (!started) return unparsed();  // cannot parse safely; the server will judge the text
    pthread_join(thread, nullptr);
    if (job.error) std::rethrow_exception(job.error);
    return std::move(job.out);
}

}  // namespace

namespace {
// PostgreSQL rejects a query string with an embedded NUL, and too large a text cannot be parsed
// within bounded memory: either way report it unclassified and let the server judge.
bool parseable(std::string_view sql) {
    return sql.find('\0') == std::string_view::npos && sql.size() <= kMaxParseBytes;
}
}  // namespace

Facts parse_facts(std::string_view sql) {
    if (!parseable(sql)) return unparsed();
    std::string text(sql);  // pg_query needs a NUL-terminated copy
    return sql.size() <= kInlineParseBytes ? run_parse(text) : parse_on_big_stack(text);
}

Facts parse_facts_here(std::string_view sql) {
    if (!parseable(sql)) return unparsed();
    return run_parse(std::string(sql));
}

StatementGuard::StatementGuard(std::size_t cache_entries) : capacity_(cache_entries) {}

Verdict StatementGuard::judge(std::string_view sql, const Policy& policy, bool parse_always) {
    return guard::judge(sql, facts(sql, parse_always), policy);
}

Facts StatementGuard::facts(std::string_view sql, bool parse_always) {
    const TextWords words = text_words(sql);
    Facts f;
    if (parse_always || words.need_parse) {
        f = parsed_facts(sql);
    } else if (!vouched_without_parse(sql)) {
        // Nothing to refuse or follow: not parsed, so what it may leave in the session is
        // known only where the text vouches for it.
        f.effects = kAnything;
    }
    f.may_begin = words.may_begin;
    return f;
}

Facts StatementGuard::parsed_facts(std::string_view sql) {
    const bool cacheable = capacity_ > 0 && sql.size() <= kMaxCachedBytes;
    if (!cacheable && sql.size() > kMaxCachedBytes) {
        std::lock_guard lock(mu_);
        for (const auto& [text, f] : remembered_)
            if (text == sql) return f;
    }
    if (cacheable) {
        std::lock_guard lock(mu_);
        if (auto it = index_.find(sql); it != index_.end()) {
            lru_.splice(lru_.begin(), lru_, it->second);
            return it->second->second;
        }
    }
    // Parse outside the lock so one slow text does not stall every other session.
    Facts result = parse_facts(sql);
    if (!cacheable) return result;
    std::lock_guard lock(mu_);
    if (index_.find(sql) != index_.end()) return result;
    lru_.emplace_front(std::string(sql), result);
    // The key views the list node's string, which never moves.
    index_.emplace(std::string_view(lru_.front().first), lru_.begin());
    if (lru_.size() > capacity_) {
        index_.erase(std::string_view(lru_.back().first));
        lru_.pop_back();
    }
    return result;
}

void StatementGuard::remember(std::string_view sql, Facts facts) {
    std::lock_guard lock(mu_);
    remembered_.emplace_front(std::string(sql), std::move(facts));
    if (remembered_.size() > kRememberedTexts) remembered_.pop_back();
}

bool StatementGuard::remembers(std::string_view sql) {
    std::lock_guard lock(mu_);
    for (const auto& entry : remembered_)
        if (entry.first == sql) return true;
    return false;
}

}  // namespace pgtenant::protocol::guard
