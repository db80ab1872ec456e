#pragma once
// Statement classification for the proxy's policies, using the real PostgreSQL grammar
// (libpg_query). A cheap keyword pre-check keeps ordinary statements off the parser.
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "protocol/settings_scan.h"

namespace pgtenant::protocol {

struct Classification {
    // At least one statement refuses to run inside a pipeline / transaction block
    // (VACUUM, CREATE/DROP DATABASE, CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY,
    // ALTER SYSTEM, CREATE/DROP TABLESPACE, CLUSTER without a table, ...).
    bool not_in_pipeline = false;
    bool discard_all = false;     // DISCARD ALL
    bool deallocate_all = false;  // DEALLOCATE ALL / DEALLOCATE PREPARE ALL
    std::string deallocate_name;  // the statement is DEALLOCATE <name>, alone
    std::string prepare_name;     // the statement is PREPARE <name> ..., alone
    std::string execute_name;     // the statement is EXECUTE <name> ..., alone
    // libpg_query could not parse it (the server will say why), or it was not parsed: it holds
    // a NUL byte or is over 1 MiB with a keyword. Treat it as ordinary; the server judges it.
    bool parse_error = false;
    int statement_count = 0;  // 0 when the pre-check skipped parsing
    // Every statement is BEGIN/START/COMMIT/ROLLBACK-like (not a savepoint), SET/RESET or SHOW:
    // none takes a snapshot, so SET TRANSACTION ISOLATION LEVEL may still follow them in their
    // transaction.
    bool snapshot_free = false;
    // A statement is EXPLAIN with ANALYZE on: its plan reports rows the row-level security
    // policies filtered out, i.e. whether other practices' rows match a condition.
    bool explain_analyze = false;
    SettingWrites settings;  // SET / RESET / set_config() the text contains
    std::string command;     // e.g. "VACUUM", for error messages; empty if ordinary
};

// Whether `sql` may open a transaction block: it holds the word BEGIN or START in any case.
// A cheap search that may say yes wrongly (a DO block, a string), never no wrongly.
bool may_begin_block(std::string_view sql);

// Whether `sql` may consist only of statements that take no snapshot (its first word is BEGIN,
// START, SET, RESET, SHOW, COMMIT, ROLLBACK, END or ABORT): only then is
// parsing it for Classification::snapshot_free worth it.
bool may_be_snapshot_free(std::string_view sql);

// Thread-safe; results are cached by query text in a bounded LRU.
class StatementClassifier {
  public:
    explicit StatementClassifier(std::size_t cache_entries = 4096);
    // `parse_always`: parse even when the pre-check finds nothing to refuse or track.
    Classification classify(std::string_view sql, bool parse_always = false);

    // The pre-check alone: false means no statement in `sql` can be anything but ordinary.
    // True when `sql` contains one of prefilter_words(), in any ASCII case.
    static bool may_need_parse(std::string_view sql);
    static std::span<const std::string_view> prefilter_words();

  private:
    Classification parse_and_classify(std::string_view sql);
    std::size_t capacity_;
    std::mutex mu_;
    std::list<std::pair<std::string, Classification>> lru_;
    std::unordered_map<std::string_view, decltype(lru_)::iterator> index_;
};

}  // namespace pgtenant::protocol
