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

// Thread-safe; facts are cached by query text in a bounded LRU.
class StatementGuard {
  public:
    explicit StatementGuard(std::size_t cache_entries = 4096);

    // `parse_always`: parse even when the pre-check finds nothing to refuse or follow (to
    // learn whether the text takes a snapshot, or what it may leave in the session: unparsed,
    // a text the pre-check cannot vouch for counts as leaving anything).
    Verdict judge(std::string_view sql, const Policy& policy, bool parse_always = false);
    Facts facts(std::string_view sql, bool parse_always = false);

  private:
    std::size_t capacity_;
    std::mutex mu_;
    std::list<std::pair<std::string, Facts>> lru_;
    std::unordered_map<std::string_view, decltype(lru_)::iterator> index_;
};

// The facts of `sql`, parsed now (no cache, no pre-check).
Facts parse_facts(std::string_view sql);

}  // namespace pgtenant::protocol::guard
