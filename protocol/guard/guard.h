#pragma once
// The statement guard (DESIGN §3.5): a statement text's facts, read from the real PostgreSQL
// grammar (libpg_query) and cached by text, judged by the rules of judge.h. A cheap keyword
// pre-check (prefilter.h) keeps ordinary statements off the parser.
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "protocol/guard/facts.h"
#include "protocol/guard/judge.h"
#include "protocol/guard/prefilter.h"

namespace pgtenant::protocol::guard {

// Texts up to this size are cached (longer ones are rare and would only churn the cache) and
// parsed on the caller's stack.
inline constexpr std::size_t kCachedTextBytes = 8 * 1024;

// Thread-safe; facts are cached by query text in a bounded LRU.
class StatementGuard {
  public:
    explicit StatementGuard(std::size_t cache_entries = 4096);

    // `parse_always`: parse even when the pre-check finds nothing to refuse or follow (to
    // learn whether the text takes a snapshot, or what it may leave in the session: unparsed,
    // a text the pre-check cannot vouch for counts as leaving anything).
    Verdict judge(std::string_view sql, const Policy& policy, bool parse_always = false);
    Facts facts(std::string_view sql, bool parse_always = false);

    // Texts over kCachedTextBytes take long to parse: a caller that must not wait (an event
    // loop) parses them elsewhere (parse_facts_here on a thread with a large stack) and leaves
    // the facts here, where the next facts() of the same text finds them. The last few only.
    void remember(std::string_view sql, Facts facts);
    bool remembers(std::string_view sql);
    // Whether facts() of `sql` could parse it (the pre-check finds a keyword, or the caller
    // asks for a parse when the text may be snapshot-free).
    static bool may_parse(std::string_view sql) {
        return may_need_parse(sql) || may_be_snapshot_free(sql);
    }

  private:
    Facts parsed_facts(std::string_view sql);  // from the cache, or parsed and cached

    std::size_t capacity_;
    std::mutex mu_;
    std::list<std::pair<std::string, Facts>> lru_;
    std::unordered_map<std::string_view, decltype(lru_)::iterator> index_;
    static constexpr std::size_t kRememberedTexts = 4;
    std::list<std::pair<std::string, Facts>> remembered_;  // most recent first
};

// The facts of `sql`, parsed now (no cache, no pre-check). A long text is parsed on a thread
// with a large stack, which this waits for.
Facts parse_facts(std::string_view sql);
// The same on this thread, which must have a large stack for a long text (ParseAside's).
Facts parse_facts_here(std::string_view sql);

}  // namespace pgtenant::protocol::guard
