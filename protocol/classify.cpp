// Statement classification with libpg_query. The parser's JSON output is read with a streaming
// (SAX) handler instead of a DOM: the tree of a pathological query can be millions of levels deep
// and tens of megabytes, and we only need a few fields of each top-level statement.
#include "protocol/classify.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <bit>
#include <boost/json/basic_parser_impl.hpp>
#include <cctype>
#include <exception>
#include <string>
#include <vector>
// Boost.JSON's compiled part, header-only. It must be included by exactly one .cpp of the whole
// program: this one. Other code that needs Boost.JSON includes the ordinary headers only.
#include <pg_query.h>

#include <boost/json/src.hpp>

#include "protocol/sql_names.h"

namespace pgtenant::protocol {
namespace {

// Texts up to this size are cached; longer ones are rare and would only churn the cache.
constexpr std::size_t kMaxCachedBytes = 8 * 1024;
// libpg_query renders its tree to JSON recursively, ~100-150 bytes of stack per level, and a
// chain like 1+1+1... adds a level every 2 bytes of SQL. Up to this size the caller's stack
// (>= 2 MiB assumed) is plenty; longer texts are parsed on a thread with a large stack.
constexpr std::size_t kInlineParseBytes = 8 * 1024;
constexpr std::size_t kMaxParseBytes = 1024 * 1024;
constexpr std::size_t kBigStackBytes = 256u << 20;  // reserved, touched only as deep as needed
// Everything the classification reads sits within this many containers of the root.
constexpr std::size_t kMaxInterestingDepth = 12;
constexpr std::size_t kMaxKeptChars = 64;

// Words that start or qualify every statement classify() can flag. Keywords cannot be quoted or
// escaped in SQL, so a text without any of them cannot contain such a statement.
// "set" catches SET, RESET and set_config; "u&" catches identifiers spelled with Unicode
// escapes, which could otherwise hide a function name from the other words.
constexpr std::array<std::string_view, 15> kKeywords = {
    "vacuum",  "database", "concurrently", "system",  "tablespace",
    "cluster", "discard",  "deallocate",   "reindex", "subscription",
    "prepare", "execute",  "set",          "u&",      "explain"};

constexpr char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
}

// For each byte, the keywords (bit i: kKeywords[i]) whose first, and whose second, character it
// is in either case: a position can start a keyword only if both masks share a bit, which
// nearly no position of an ordinary statement does.
struct KeywordMasks {
    std::array<uint16_t, 256> first{};
    std::array<uint16_t, 256> second{};
};
constexpr KeywordMasks kKeywordMasks = [] {
    static_assert(kKeywords.size() <= 16);
    auto upper = [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; };
    KeywordMasks m;
    for (std::size_t i = 0; i < kKeywords.size(); ++i) {
        const auto bit = static_cast<uint16_t>(1u << i);
        for (char c : {kKeywords[i][0], upper(kKeywords[i][0])})
            m.first[static_cast<unsigned char>(c)] |= bit;
        for (char c : {kKeywords[i][1], upper(kKeywords[i][1])})
            m.second[static_cast<unsigned char>(c)] |= bit;
    }
    return m;
}();

}  // namespace

bool may_begin_block(std::string_view sql) {
    for (std::size_t i = 0; i + 5 <= sql.size(); ++i) {
        const char c = ascii_lower(sql[i]);
        if (c != 'b' && c != 's') continue;
        const std::string_view word = c == 'b' ? "begin" : "start";
        std::size_t k = 1;
        while (k < 5 && ascii_lower(sql[i + k]) == word[k]) ++k;
        if (k == 5) return true;
    }
    return false;
}

bool may_be_snapshot_free(std::string_view sql) {
    std::size_t i = 0;
    for (;;) {  // past blanks, comments and empty statements before the first word
        i = skip_blanks(sql, i);
        if (i == std::string_view::npos) return false;
        if (i == sql.size() || sql[i] != ';') break;
        ++i;
    }
    std::string word;
    while (i < sql.size() && word.size() < 10 && std::isalpha(static_cast<unsigned char>(sql[i])))
        word += ascii_lower(sql[i++]);
    static constexpr std::array<std::string_view, 9> kSetupWords = {
        "begin", "start", "set", "reset", "show", "commit", "rollback", "end", "abort"};
    return std::find(kSetupWords.begin(), kSetupWords.end(), word) != kSetupWords.end();
}

namespace {

// What one top-level statement tells us, gathered while streaming its JSON.
struct StatementFacts {
    std::string type;  // e.g. "VacuumStmt"
    std::string kind;  // ReindexStmt.kind, DiscardStmt.target, TransactionStmt.kind
    bool is_vacuumcmd = false;
    bool concurrent = false;  // IndexStmt/DropStmt.concurrent, ALTER TABLE ... DETACH CONCURRENTLY
    bool has_relation = false;
    bool has_name = false;
    std::string name;                // its "name" field (DEALLOCATE name)
    bool tablespace_option = false;  // ALTER DATABASE ... SET TABLESPACE
    bool analyze_option = false;     // EXPLAIN ANALYZE, EXPLAIN (ANALYZE [true|on|1])
    // The DefElem being read (REINDEX params, ALTER DATABASE and EXPLAIN options).
    std::string defname;
    bool def_value = true;  // an option without an argument means "on"
};

bool is_false_word(std::string_view s) {
    std::string lower;
    for (char c : s) lower += ascii_lower(c);
    return lower == "false" || lower == "off" || lower == "no" || lower == "0" || lower == "f" ||
           lower == "n";
}

// The statement's entry for Classification: SQL command name and whether it must run outside a
// transaction block. Empty name: ordinary.
std::pair<std::string, bool> judge(const StatementFacts& f) {
    const std::string& t = f.type;
    // Plain ANALYZE is a VacuumStmt too, and it is allowed in a transaction block.
    if (t == "VacuumStmt" && f.is_vacuumcmd) return {"VACUUM", true};
    if (t == "CreatedbStmt") return {"CREATE DATABASE", true};
    if (t == "DropdbStmt") return {"DROP DATABASE", true};
    if (t == "IndexStmt" && f.concurrent) return {"CREATE INDEX CONCURRENTLY", true};
    if (t == "DropStmt" && f.concurrent) return {"DROP INDEX CONCURRENTLY", true};
    if (t == "ReindexStmt") {
        if (f.concurrent) return {"REINDEX CONCURRENTLY", true};
        if (f.kind == "REINDEX_OBJECT_DATABASE") return {"REINDEX DATABASE", true};
        if (f.kind == "REINDEX_OBJECT_SYSTEM") return {"REINDEX SYSTEM", true};
        if (f.kind == "REINDEX_OBJECT_SCHEMA") return {"REINDEX SCHEMA", true};
    }
    if (t == "AlterSystemStmt") return {"ALTER SYSTEM", true};
    if (t == "CreateTableSpaceStmt") return {"CREATE TABLESPACE", true};
    if (t == "DropTableSpaceStmt") return {"DROP TABLESPACE", true};
    if (t == "ClusterStmt" && !f.has_relation) return {"CLUSTER", true};
    // Only some forms refuse a transaction block (create_slot, copy_data, ...): be conservative.
    if (t == "CreateSubscriptionStmt") return {"CREATE SUBSCRIPTION", true};
    if (t == "AlterSubscriptionStmt") return {"ALTER SUBSCRIPTION", true};
    if (t == "DropSubscriptionStmt") return {"DROP SUBSCRIPTION", true};
    if (t == "AlterDatabaseStmt" && f.tablespace_option)
        return {"ALTER DATABASE SET TABLESPACE", true};
    if (t == "TransactionStmt" && f.kind == "TRANS_STMT_COMMIT_PREPARED")
        return {"COMMIT PREPARED", true};
    if (t == "TransactionStmt" && f.kind == "TRANS_STMT_ROLLBACK_PREPARED")
        return {"ROLLBACK PREPARED", true};
    if (t == "AlterTableStmt" && f.concurrent)
        return {"ALTER TABLE DETACH PARTITION CONCURRENTLY", true};
    // PostgreSQL also refuses DISCARD ALL in a transaction block, but the proxy intercepts it
    // rather than treating it as maintenance, so it gets its own flag only.
    if (t == "DiscardStmt" && f.kind == "DISCARD_ALL") return {"DISCARD ALL", false};
    if (t == "DeallocateStmt" && !f.has_name) return {"DEALLOCATE ALL", false};
    return {"", false};
}

// Boost.JSON SAX handler over libpg_query's {"version":..,"stmts":[{"stmt":{"<Type>":{..}}},..]}.
// It keeps the key path of open containers (so depth costs memory, never stack) and looks only
// at fields a few levels below each statement's type object.
class TreeHandler {
  public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    Classification result;

    bool on_document_begin(boost::json::error_code&) { return true; }
    bool on_document_end(boost::json::error_code&) {
        if (result.statement_count == 1 && facts_.has_name) {
            if (facts_.type == "DeallocateStmt") result.deallocate_name = facts_.name;
            if (facts_.type == "PrepareStmt") result.prepare_name = facts_.name;
            if (facts_.type == "ExecuteStmt") result.execute_name = facts_.name;
        }
        return true;
    }
    bool on_object_begin(boost::json::error_code&) { return open(false); }
    bool on_object_end(std::size_t, boost::json::error_code&) { return close(); }
    bool on_array_begin(boost::json::error_code&) { return open(true); }
    bool on_array_end(std::size_t, boost::json::error_code&) { return close(); }
    bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
        if (deep_ == 0) keep(key_, s);
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t, boost::json::error_code&) {
        if (deep_ > 0) return true;
        keep(key_, s);
        pending_key_ = std::move(key_);
        key_.clear();
        return true;
    }
    bool on_string_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
        if (interesting()) keep(string_, s);
        return true;
    }
    bool on_string(boost::json::string_view s, std::size_t, boost::json::error_code&) {
        if (interesting()) {
            keep(string_, s);
            on_scalar_string(field(), string_);
        }
        string_.clear();
        return true;
    }
    bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_int64(int64_t i, boost::json::string_view, boost::json::error_code&) {
        if (interesting() && is_def_arg(field(), "Integer.ival")) facts_.def_value = i != 0;
        return true;
    }
    bool on_uint64(uint64_t, boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_double(double, boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_bool(bool b, boost::json::error_code&) {
        if (!interesting()) return true;
        std::string f = field();
        if (f == "is_vacuumcmd") facts_.is_vacuumcmd = b;
        if (f == "concurrent" || f == "cmds.[].AlterTableCmd.def.PartitionCmd.concurrent") {
            facts_.concurrent = facts_.concurrent || b;
        }
        if (is_def_arg(f, "Boolean.boolval")) facts_.def_value = b;
        return true;
    }
    bool on_null(boost::json::error_code&) { return true; }
    bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }

  private:
    // Container depths: 0 root, 1 "stmts", 2 one statement, 3 "stmt", 4 the <Type> object.
    static constexpr std::size_t kTypeDepth = 4;

    static void keep(std::string& out, boost::json::string_view s) {
        out.append(s.data(),
                   std::min(s.size(), kMaxKeptChars - std::min(out.size(), kMaxKeptChars)));
    }

    bool interesting() const { return deep_ == 0 && path_.size() > kTypeDepth; }

    // Whether `f` is `value` (e.g. "Integer.ival") of the argument of a REINDEX parameter or of
    // an option (EXPLAIN, ALTER DATABASE).
    static bool is_def_arg(std::string_view f, std::string_view value) {
        for (std::string_view list : {"params.[].DefElem.arg.", "options.[].DefElem.arg."}) {
            if (f.size() == list.size() + value.size() && f.starts_with(list) && f.ends_with(value))
                return true;
        }
        return false;
    }

    // Dotted path from inside the statement's type object to the pending key.
    std::string field() const {
        std::string f;
        for (std::size_t i = kTypeDepth + 1; i < path_.size(); ++i) f += path_[i] + ".";
        return f + pending_key_;
    }

    bool open(bool is_array) {
        // Below the interesting levels only count depth: nothing there is read.
        if (deep_ > 0 || path_.size() >= kMaxInterestingDepth) {
            ++deep_;
            return true;
        }
        std::string key = (!in_array_.empty() && in_array_.back()) ? "[]" : pending_key_;
        pending_key_.clear();
        if (path_.size() == 2 && path_[1] == "stmts") {
            facts_ = StatementFacts{};
            ++result.statement_count;
        }
        if (path_.size() == kTypeDepth && path_[3] == "stmt" && facts_.type.empty())
            facts_.type = key;
        path_.push_back(std::move(key));
        in_array_.push_back(is_array);
        if (!interesting()) return true;
        std::string f = field_of_top();
        if (f == "relation") facts_.has_relation = true;
        if (f == "params.[].DefElem" || f == "options.[].DefElem") {
            facts_.defname.clear();
            facts_.def_value = true;
        }
        if (is_def_arg(f, "Boolean") || is_def_arg(f, "Integer")) {
            facts_.def_value = false;  // zero values are omitted from the JSON
        }
        return true;
    }

    bool close() {
        if (deep_ > 0) {
            --deep_;
            return true;
        }
        std::string closing = interesting() ? field_of_top() : std::string();
        if (closing == "params.[].DefElem" && facts_.defname == "concurrently" &&
            facts_.def_value) {
            facts_.concurrent = true;
        }
        if (closing == "options.[].DefElem" && facts_.defname == "tablespace") {
            facts_.tablespace_option = true;
        }
        if (closing == "options.[].DefElem" && facts_.defname == "analyze" && facts_.def_value) {
            facts_.analyze_option = true;
        }
        if (path_.size() == 3 && path_[1] == "stmts") finish_statement();
        path_.pop_back();
        in_array_.pop_back();
        return true;
    }

    std::string field_of_top() const {
        std::string f;
        for (std::size_t i = kTypeDepth + 1; i < path_.size(); ++i)
            f += (f.empty() ? "" : ".") + path_[i];
        return f;
    }

    void on_scalar_string(const std::string& f, const std::string& value) {
        if (f == "kind" || f == "target") facts_.kind = value;
        if (f == "name") {
            facts_.has_name = true;
            facts_.name = value;
        }
        if (f == "params.[].DefElem.defname" || f == "options.[].DefElem.defname")
            facts_.defname = value;
        if (is_def_arg(f, "String.sval")) facts_.def_value = !is_false_word(value);
    }

    void finish_statement() {
        // A savepoint opens a subtransaction: a binding after it would end at its rollback.
        const bool savepoint = facts_.kind == "TRANS_STMT_SAVEPOINT" ||
                               facts_.kind == "TRANS_STMT_RELEASE" ||
                               facts_.kind == "TRANS_STMT_ROLLBACK_TO";
        const bool setup = (facts_.type == "TransactionStmt" && !savepoint) ||
                           facts_.type == "VariableSetStmt" || facts_.type == "VariableShowStmt";
        result.snapshot_free = (result.statement_count == 1 || result.snapshot_free) && setup;
        if (facts_.type == "ExplainStmt" && facts_.analyze_option) result.explain_analyze = true;
        auto [command, not_in_pipeline] = judge(facts_);
        if (command.empty()) return;
        if (result.command.empty()) result.command = command;
        result.not_in_pipeline = result.not_in_pipeline || not_in_pipeline;
        result.discard_all = result.discard_all || command == "DISCARD ALL";
        result.deallocate_all = result.deallocate_all || command == "DEALLOCATE ALL";
    }

    std::vector<std::string> path_;
    std::vector<bool> in_array_;
    std::string pending_key_;
    std::string key_;
    std::string string_;
    std::size_t deep_ = 0;  // open containers below kMaxInterestingDepth
    StatementFacts facts_;
};

Classification scan_tree(const char* json) {
    boost::json::parse_options options;
    options.max_depth = std::size_t(-1);  // depth lives on the parser's heap stack, not ours
    // The tree quotes the client's bytes, which need not be UTF-8 (client_encoding LATIN1):
    // refusing them would leave the statement unclassified.
    options.allow_invalid_utf8 = true;
    boost::json::basic_parser<TreeHandler> parser(options);
    boost::json::error_code ec;
    std::string_view text(json);
    parser.write_some(false, text.data(), text.size(), ec);
    if (ec) {
        // libpg_query produced something we cannot read: do not guess.
        Classification c;
        c.parse_error = true;
        return c;
    }
    return std::move(parser.handler().result);
}

// Runs on the caller's stack or the big-stack thread. `text` is NUL-terminated.
Classification run_parse(const std::string& text) {
    struct Result {
        PgQueryParseResult r;
        ~Result() { pg_query_free_parse_result(r); }
    } parsed{pg_query_parse(text.c_str())};
    if (parsed.r.error != nullptr) {
        Classification c;
        c.parse_error = true;
        return c;
    }
    Classification c = scan_tree(parsed.r.parse_tree);
    if (!c.parse_error) c.settings = scan_setting_writes(parsed.r.parse_tree);
    return c;
}

Classification parse_on_big_stack(const std::string& text) {
    // One at a time: each can hold tens of megabytes of JSON for a pathological query.
    static std::mutex big_parse_mu;
    std::lock_guard lock(big_parse_mu);
    struct Job {
        const std::string* text;
        Classification out;
        std::exception_ptr error;
    } job{&text, {}, nullptr};
    pthread_attr_t attr;
    pthread_t thread;
    bool started = pthread_attr_init(&attr) == 0 &&
                   pthread_attr_setstacksize(&attr, kBigStackBytes) == 0 &&
                   pthread_create(
                       &thread, &attr,
                       [](void* p) -> void* {
                           auto* j = static_cast<Job*>(p);
                           try {
                               j->out = run_parse(*j->text);
                           } catch (...) {
                               j->error = std::current_exception();
                           }
                           return nullptr;
                       },
                       &job) == 0;
    pthread_attr_destroy(&attr);
    if (!started) {
        Classification c;
        c.parse_error = true;  // cannot parse safely; the server will judge the text
        return c;
    }
    pthread_join(thread, nullptr);
    if (job.error) std::rethrow_exception(job.error);
    return job.out;
}

}  // namespace

StatementClassifier::StatementClassifier(std::size_t cache_entries) : capacity_(cache_entries) {}

bool StatementClassifier::may_need_parse(std::string_view sql) {
    const std::size_t n = sql.size();
    if (n < 2) return false;  // every keyword has two characters or more
    uint16_t starts_here = kKeywordMasks.first[static_cast<unsigned char>(sql[0])];
    for (std::size_t i = 0; i + 1 < n; ++i) {
        const auto next = static_cast<unsigned char>(sql[i + 1]);
        unsigned candidates = starts_here & kKeywordMasks.second[next];
        starts_here = kKeywordMasks.first[next];
        while (candidates != 0) {
            std::string_view kw = kKeywords[std::countr_zero(candidates)];
            candidates &= candidates - 1;
            if (n - i < kw.size()) continue;
            std::size_t k = 2;
            while (k < kw.size() && ascii_lower(sql[i + k]) == kw[k]) ++k;
            if (k == kw.size()) return true;
        }
    }
    return false;
}

std::span<const std::string_view> StatementClassifier::prefilter_words() { return kKeywords; }

Classification StatementClassifier::classify(std::string_view sql, bool parse_always) {
    if (!parse_always && !may_need_parse(sql)) return {};
    const bool cacheable = capacity_ > 0 && sql.size() <= kMaxCachedBytes;
    if (cacheable) {
        std::lock_guard lock(mu_);
        if (auto it = index_.find(sql); it != index_.end()) {
            lru_.splice(lru_.begin(), lru_, it->second);
            return it->second->second;
        }
    }
    // Parse outside the lock so one slow text does not stall every other session.
    Classification result = parse_and_classify(sql);
    if (cacheable) {
        std::lock_guard lock(mu_);
        if (index_.find(sql) == index_.end()) {
            lru_.emplace_front(std::string(sql), result);
            // The key views the list node's string, which never moves.
            index_.emplace(std::string_view(lru_.front().first), lru_.begin());
            if (lru_.size() > capacity_) {
                index_.erase(std::string_view(lru_.back().first));
                lru_.pop_back();
            }
        }
    }
    return result;
}

Classification StatementClassifier::parse_and_classify(std::string_view sql) {
    // PostgreSQL rejects a query string with an embedded NUL, and too large a text cannot be
    // parsed within bounded memory: either way report it unclassified and let the server judge.
    if (sql.find('\0') != std::string_view::npos || sql.size() > kMaxParseBytes) {
        Classification c;
        c.parse_error = true;
        return c;
    }
    std::string text(sql);  // pg_query needs a NUL-terminated copy
    return sql.size() <= kInlineParseBytes ? run_parse(text) : parse_on_big_stack(text);
}

}  // namespace pgtenant::protocol
