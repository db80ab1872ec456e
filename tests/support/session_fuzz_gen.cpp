#include "tests/support/session_fuzz_gen.h"

#include "tests/support/wire.h"

namespace pgtenant::testing::fuzz {
namespace {

std::string sub(std::string s, const std::string& side) {
    for (auto pos = s.find("@@"); pos != std::string::npos; pos = s.find("@@", pos)) {
        s.replace(pos, 2, side);
    }
    return s;
}

std::string be16(int v) { return std::string{char((v >> 8) & 0xff), char(v & 0xff)}; }

std::string quoted(const std::string& s, std::size_t max = 90) {
    std::string out = "\"";
    for (unsigned char ch : s.substr(0, max)) {
        if (ch >= 0x20 && ch < 0x7f && ch != '"') {
            out.push_back(static_cast<char>(ch));
        } else {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(hex[ch >> 4]);
            out.push_back(hex[ch & 0xf]);
        }
    }
    return out + (s.size() > max ? "...\"" : "\"");
}

// Ordinary settings a client may SET, the values it sets, and a query whose answer shows the
// setting in force.
struct Setting {
    const char* name;
    std::vector<const char*> values;
    const char* read;
};

const std::vector<Setting>& settings() {
    static const std::vector<Setting> all = {
        {"statement_timeout", {"'0'", "'15s'", "'1min'"}, "SHOW statement_timeout"},
        {"DateStyle",
         {"'ISO, MDY'", "'SQL, DMY'", "'German'", "'Postgres, YMD'"},
         "SELECT '2020-01-02'::date::text AS d"},
        {"IntervalStyle",
         {"'postgres'", "'iso_8601'", "'sql_standard'"},
         "SELECT '1 day 02:03:04'::interval::text AS i"},
        {"extra_float_digits", {"0", "1", "3", "-3"}, "SELECT 0.1::float8::text AS f"},
        {"bytea_output", {"'hex'", "'escape'"}, "SELECT 'ab\\001'::bytea::text AS b"},
        {"search_path", {"public", "'$user', public", "pg_catalog, public"}, "SHOW search_path"},
    };
    return all;
}

// Statements PostgreSQL rejects, each with its own SQLSTATE.
const char* const kErrors[] = {
    "SELECT 1/0",                                 // 22012
    "SELECT * FROM no_such_table_fz",             // 42P01
    "SELEC 1",                                    // 42601
    "SELECT 'x'::int",                            // 22P02
    "SELECT no_such_function_fz()",               // 42883
    "INSERT INTO fuzz_rows (val) VALUES (NULL)",  // 23502
};

}  // namespace

std::string render(const Msg& m, const std::string& side) {
    using namespace wire;
    switch (m.type) {
        case 'Q':
            return query(sub(m.a, side));
        case 'P':
            return message('P', m.a + '\0' + sub(m.b, side) + '\0' + be16(0));
        case 'B': {
            std::vector<std::string> params;
            for (const auto& p : m.params) params.push_back(sub(p, side));
            return bind(m.a, m.b, params);
        }
        case 'D':
            return wire::describe(m.a[0], m.b);
        case 'E':
            return message('E', m.a + '\0' + be32(static_cast<uint32_t>(m.n)));
        case 'C':
            return close(m.a[0], m.b);
        case 'S':
            return sync();
        case 'H':
            return flush();
        case 'd':
            return message('d', sub(m.a, side));
        case 'c':
            return message('c', "");
        case 'f':
            return message('f', m.a + '\0');
        case 'X':
            return message('X', "");
        default:
            return m.a;  // raw
    }
}

std::string render(const Step& s, const std::string& side) {
    std::string out;
    for (const auto& m : s.msgs) out += render(m, side);
    return out;
}

std::string describe(const Msg& m) {
    switch (m.type) {
        case 'Q':
            return "Query " + quoted(m.a, 200);
        case 'P':
            return "Parse stmt=" + quoted(m.a) + " " + quoted(m.b, 200);
        case 'B': {
            std::string out = "Bind portal=" + quoted(m.a) + " stmt=" + quoted(m.b) + " params=[";
            for (std::size_t i = 0; i < m.params.size(); ++i)
                out += (i ? ", " : "") + quoted(m.params[i]);
            return out + "]";
        }
        case 'D':
            return std::string("Describe ") + m.a + " " + quoted(m.b);
        case 'E':
            return "Execute portal=" + quoted(m.a) + " max_rows=" + std::to_string(m.n);
        case 'C':
            return std::string("Close ") + m.a + " " + quoted(m.b);
        case 'S':
            return "Sync";
        case 'H':
            return "Flush";
        case 'd':
            return "CopyData " + quoted(m.a);
        case 'c':
            return "CopyDone";
        case 'f':
            return "CopyFail " + quoted(m.a);
        case 'X':
            return "Terminate";
        default:
            return "raw bytes " + quoted(m.a, 64);
    }
}

std::string describe(const Step& s) {
    static const char* const kinds[] = {"exchange", "hostile", "vanish", "finish"};
    static const char* const hows[] = {"FIN", "close", "RST", "Terminate"};
    std::string out = std::string(kinds[static_cast<int>(s.kind)]);
    if (s.kind == Kind::vanish) out += std::string(" by ") + hows[static_cast<int>(s.how)];
    if (s.half_last) out += " (only half of the last message sent)";
    out += ":";
    for (const auto& m : s.msgs) out += "\n      " + describe(m);
    return out;
}

Generator::Generator(uint64_t seed, std::string tag, bool known_bugs)
    : rng_(seed), tag_(std::move(tag)), known_bugs_(known_bugs) {
    length_ = 3 + static_cast<int>(pick(25));
}

std::string Generator::set_statement(bool tracked) {
    const auto& s = settings()[pick(static_cast<uint32_t>(settings().size()))];
    const std::string value = s.values[pick(static_cast<uint32_t>(s.values.size()))];
    const uint32_t form = pick(10);
    if (form < 3) return std::string("SET LOCAL ") + s.name + " = " + value;
    if (!tracked) tainted_.insert(s.name);
    if (form < 8) return std::string("SET ") + s.name + " = " + value;
    if (form < 9) return std::string("RESET ") + s.name;
    return std::string("SET ") + s.name + " TO DEFAULT";
}

std::string Generator::read_setting() {
    std::vector<const Setting*> clean;
    for (const auto& s : settings()) {
        if (!tainted_.count(s.name)) clean.push_back(&s);
    }
    if (clean.empty()) return "SELECT '" + token() + "'::text AS token";
    return clean[pick(static_cast<uint32_t>(clean.size()))]->read;
}

std::string Generator::txn_statement(char status) {
    if (status == 'I' || pick(10) == 0) {
        static const char* const starts[] = {"BEGIN",
                                             "BEGIN",
                                             "BEGIN",
                                             "START TRANSACTION",
                                             "BEGIN ISOLATION LEVEL REPEATABLE READ",
                                             "BEGIN READ ONLY",
                                             "COMMIT",
                                             "ROLLBACK",
                                             "SAVEPOINT sp1"};
        return starts[pick(9)];
    }
    static const char* const open[] = {"COMMIT",
                                       "COMMIT",
                                       "END",
                                       "ROLLBACK",
                                       "SAVEPOINT sp1",
                                       "SAVEPOINT sp2",
                                       "RELEASE SAVEPOINT sp1",
                                       "ROLLBACK TO SAVEPOINT sp1",
                                       "ROLLBACK TO sp2",
                                       "BEGIN"};
    static const char* const failed[] = {"ROLLBACK",        "ROLLBACK", "ROLLBACK TO SAVEPOINT sp1",
                                         "ROLLBACK TO sp2", "COMMIT",   "ABORT"};
    return status == 'E' ? failed[pick(6)] : open[pick(10)];
}

std::string Generator::statement(char status, bool single) {
    const uint32_t r = pick(100);
    const std::string like = "'@@:" + tag_ + "-%'";
    if (r < 22) return "SELECT '" + token() + "'::text AS token";
    if (r < 34)
        return "INSERT INTO fuzz_rows (marker, val) VALUES ('" + marker() + "', " +
               std::to_string(pick(9)) + ")";
    if (r < 37) return "INSERT INTO fuzz_rows (marker, val) VALUES ('" + marker() + "', -1)";
    if (r < 44) return "UPDATE fuzz_rows SET val = val + 1 WHERE marker LIKE " + like;
    if (r < 52)
        return "SELECT count(*), coalesce(sum(val), 0) FROM fuzz_rows WHERE marker LIKE " + like;
    if (r < 57) return kErrors[pick(6)];
    if (r < 75) return txn_statement(status);
    if (r < 84) return set_statement(single && status == 'I');
    if (r < 89) return read_setting();
    if (r < 92) {
        static const char* const empties[] = {"", ";", "-- nothing to do", " "};
        return empties[pick(4)];
    }
    if (r < 95) return "SELECT g, '" + token() + "' FROM generate_series(1, 4) g";
    if (r < 97) return "COPY (SELECT g FROM generate_series(1, 3) g) TO STDOUT";
    return "DELETE FROM fuzz_rows WHERE marker = '" + marker() + "'";
}

std::string Generator::multi_statement(char status) {
    const int n = 2 + static_cast<int>(pick(3));
    std::string out;
    for (int i = 0; i < n; ++i) {
        std::string st = statement(status, false);
        // A documented limit (README, "Transaction pooling limits"): pgtenant binds a
        // multi-statement Query in front of it, so an isolation level set by a statement in it
        // comes too late.
        while (st.empty() || st == ";" || st == " " || st.rfind("--", 0) == 0 ||
               st.rfind("COPY", 0) == 0 || st.find("ISOLATION") != std::string::npos)
            st = statement(status, false);
        out += (i ? "; " : "") + st;
        // A statement that is only a comment would swallow the rest of the string.
    }
    return out;
}

bool Generator::runs_for_sure(const Step& s) {
    for (auto it = s.msgs.rbegin(); it != s.msgs.rend(); ++it) {
        if (it->type == 'S') return true;
        if (std::string("PBDECH").find(it->type) != std::string::npos) return false;
    }
    return true;
}

void Generator::push_query(Step& s, std::string sql) {
    // A simple Query that PostgreSQL runs drops its unnamed statement.
    if (runs_for_sure(s)) unnamed_maybe_ = false;
    s.msgs.push_back({'Q', std::move(sql)});
}

void Generator::simple_segment(Step& s, char status) {
    const bool single = !chance(22);
    const bool first = s.msgs.empty();
    if (single && chance(10)) {
        push_query(s, sql_prepared_statement());
        return;
    }
    push_query(s, single ? statement(first ? status : 'T', first) : multi_statement(status));
}

std::string Generator::sql_prepared_statement() {
    const std::string name = chance(50) ? "sq1" : "sq2";
    switch (pick(7)) {
        case 0:
            return "PREPARE " + name + " AS SELECT '" + token() + "'::text AS token";
        case 1:
            return "PREPARE " + name + " (int) AS INSERT INTO fuzz_rows (marker, val) VALUES ('" +
                   marker() + "', $1)";
        case 2:
            return "PREPARE " + name + " AS SELECT * FROM fuzz_no_such_table";
        case 3:
            return "EXECUTE " + name + " (" + std::to_string(pick(9)) + ")";
        case 4:
        case 5:
            return "EXECUTE " + name;
        default:
            return "DEALLOCATE " + name;
    }
}

void Generator::copy_segment(Step& s) {
    push_query(s, "COPY fuzz_rows (marker, val) FROM STDIN");
    const int rows = 1 + static_cast<int>(pick(3));
    for (int i = 0; i < rows; ++i) {
        if (chance(10))
            s.msgs.push_back({'d', marker() + "\tnot-a-number\n"});
        else
            s.msgs.push_back({'d', marker() + "\t" + std::to_string(pick(9)) + "\n"});
    }
    if (chance(20))
        s.msgs.push_back({'f', "the client changed its mind"});
    else
        s.msgs.push_back({'c'});
}

// One Parse/Bind/Describe/Execute/Close group, valid or in an order PostgreSQL rejects.
void Generator::extended_unit(Step& s, bool valid) {
    struct Sql {
        std::string text;
        std::vector<std::string> params;
    };
    const std::string like = "@@:" + tag_ + "-%";
    Sql sql;
    switch (pick(7)) {
        case 0:
        case 1:
            sql = {"SELECT $1::text AS token", {token()}};
            break;
        case 2:
            sql = {"INSERT INTO fuzz_rows (marker, val) VALUES ($1, $2::int)",
                   {marker(), std::to_string(pick(9))}};
            break;
        case 3:
            sql = {"UPDATE fuzz_rows SET val = val + 1 WHERE marker LIKE $1", {like}};
            break;
        case 4:
            sql = {"SELECT g, $1::text FROM generate_series(1, 5) g", {token()}};
            break;
        case 5:
            sql = {"SELECT count(*), coalesce(sum(val), 0) FROM fuzz_rows WHERE marker LIKE $1",
                   {like}};
            break;
        default:
            sql = {chance(50) ? txn_statement(chance(50) ? 'I' : 'T') : kErrors[pick(6)], {}};
            break;
    }
    if (!valid) {
        switch (pick(9)) {
            case 0:
                s.msgs.push_back({'B', "", "nostmt_fz", {}});
                s.msgs.push_back({'E', ""});
                return;
            case 1:
                s.msgs.push_back({'E', "noportal_fz"});
                return;
            case 2:
                s.msgs.push_back({'D', "S", "nostmt_fz"});
                return;
            case 3: {  // wrong parameter count
                s.msgs.push_back({'P', "", sql.text});
                segment_unnamed_ = unnamed_maybe_ = true;
                auto params = sql.params;
                if (params.empty() || chance(50))
                    params.push_back("extra");
                else
                    params.pop_back();
                s.msgs.push_back({'B', "", "", params});
                s.msgs.push_back({'E', ""});
                return;
            }
            case 4:
                // With no unnamed statement of the session's own: 26000 (never another's).
                if (segment_unnamed_ || !unnamed_maybe_) {
                    s.msgs.push_back({'B', "", "", sql.params});
                    s.msgs.push_back({'E', ""});
                    return;
                }
                [[fallthrough]];
            case 5:
                s.msgs.push_back({'P', "", "SELEC $1"});
                segment_unnamed_ = unnamed_maybe_ = true;
                return;
            case 6:
                s.msgs.push_back({'C', "S", "nostmt_fz"});
                return;
            case 7:
                // A name that exists: 42P05 (25P02 in a failed transaction).
                if (!named_.empty()) {
                    s.msgs.push_back(
                        {'P', named_[pick(static_cast<uint32_t>(named_.size()))].first, sql.text});
                    return;
                }
                [[fallthrough]];
            default:
                // A portal never bound: 34000. Not the unnamed one: PostgreSQL 15.18 itself
                // crashes (SIGSEGV, every session lost) on an Execute of the unnamed portal in
                // the transaction after a Bind to it failed, through pgtenant or not. (pgtenant's
                // own binding portal is never the unnamed one: session_state_test.)
                s.msgs.push_back({'E', "noportal_fz"});
                return;
        }
    }
    std::string stmt, reused_name;
    std::vector<std::string> params = sql.params;
    if (chance(45)) {
        if (!named_.empty() && chance(50)) {
            const auto& [name, shape] = named_[pick(static_cast<uint32_t>(named_.size()))];
            stmt = reused_name = name;
            params.clear();
            // The parameters the statement was parsed for, with fresh tokens and markers.
            for (const auto& p : shape) {
                if (p.rfind("tok-", 0) == 0)
                    params.push_back(token());
                else if (p.rfind("@@:", 0) == 0 && p.back() != '%')
                    params.push_back(marker());
                else
                    params.push_back(p);
            }
        } else {
            stmt = "fz" + std::to_string(++counter_);
            s.msgs.push_back({'P', stmt, sql.text});
            named_.emplace_back(stmt, sql.params);
        }
    } else {
        s.msgs.push_back({'P', "", sql.text});
        segment_unnamed_ = unnamed_maybe_ = true;
    }
    // Known bug D (session_fuzz_test.cpp): a Describe of a named statement not parsed in this
    // segment fails with 25P02 through pgtenant in a failed transaction (PostgreSQL answers).
    if (chance(25) && (known_bugs_ || reused_name.empty())) s.msgs.push_back({'D', "S", stmt});
    const std::string portal = chance(30) ? "pt" + std::to_string(pick(3)) : "";
    s.msgs.push_back({'B', portal, stmt, params});
    if (chance(30)) s.msgs.push_back({'D', "P", portal});
    if (chance(10)) s.msgs.push_back({'H'});
    const int max_rows = chance(20) ? 1 + static_cast<int>(pick(3)) : 0;
    s.msgs.push_back({'E', portal, "", {}, max_rows});
    if (max_rows && chance(60)) s.msgs.push_back({'E', portal});
    if (!portal.empty() && chance(50)) s.msgs.push_back({'C', "P", portal});
    if (!stmt.empty() && chance(15)) {
        s.msgs.push_back({'C', "S", stmt});
        std::erase_if(named_, [&](const auto& n) { return n.first == stmt; });
    }
}

void Generator::extended_segment(Step& s, bool sync) {
    segment_unnamed_ = false;
    const int units = 1 + static_cast<int>(pick(3));
    for (int i = 0; i < units; ++i) extended_unit(s, !chance(15));
    if (sync) {
        s.msgs.push_back({'S'});
        segment_unnamed_ = false;
    }
}

Step Generator::exchange(char status) {
    Step s;
    const int segments = chance(25) ? 2 + static_cast<int>(pick(3)) : 1;
    for (int i = 0; i < segments; ++i) {
        const uint32_t r = pick(100);
        if (r < 62) {
            simple_segment(s, status);
        } else if (r < 85) {
            extended_segment(s, true);
        } else if (r < 92) {  // a batch without Sync, then a Query (and a Sync to be sure)
            extended_segment(s, false);
            push_query(s, statement('T', false));
            s.msgs.push_back({'S'});
        } else if (r < 97) {
            copy_segment(s);
        } else {  // COPY messages outside COPY: PostgreSQL ignores them
            s.msgs.push_back({'d', "stray\n"});
            s.msgs.push_back({'c'});
            push_query(s, "SELECT '" + token() + "'::text AS token");
        }
    }
    return s;
}

Step Generator::hostile() {
    using wire::be32;
    Step s;
    s.kind = Kind::hostile;
    auto raw = [&](std::string bytes) { s.msgs.push_back({'r', std::move(bytes)}); };
    switch (pick(11)) {
        case 0:
            raw(wire::message_with_length('Q', 3, ""));
            break;
        case 1:
            raw(wire::message_with_length('Q', 0, "SELECT 1"));
            break;
        case 2:
            raw(wire::message_with_length('Q', 0x7fffffff, "SELECT 1"));
            break;
        case 3:
            raw(wire::message('x', "hello"));
            break;
        case 4:
            raw(wire::message('\0', be32(80877103)));  // tag '\0', as if a startup packet
            break;
        case 5:  // a Bind announcing 5 parameters and carrying none
            raw(wire::message('B', std::string("\0\0\0\0\0\5", 6)) + wire::sync());
            break;
        case 6:  // a Parse without its terminating zeros
            raw(wire::message('P', "fzbad") + wire::sync());
            break;
        case 7:  // an Execute cut short inside its body
            raw(wire::message('E', std::string("\0", 1)) + wire::sync());
            break;
        case 8:  // the fast-path FunctionCall, refused by pgtenant
            raw(wire::message('F', std::string("\0\0\0\1\0\0\0\0\0\0", 10)) + wire::sync());
            break;
        case 9:
            raw(wire::message('D', std::string("X\0", 2)) + wire::sync());
            break;
        default:
            raw(wire::message('C', std::string("Z\0", 2)) + wire::sync());
            break;
    }
    return s;
}

Step Generator::vanish(char status) {
    Step s;
    s.kind = Kind::vanish;
    s.how = static_cast<How>(pick(4));
    // Unread work that must never commit: nothing here ends a transaction block.
    const std::string ins = "INSERT INTO fuzz_rows (marker, val) VALUES ('" + marker() + "', 1)";
    const std::string upd =
        "UPDATE fuzz_rows SET val = val + 10 WHERE marker LIKE '@@:" + tag_ + "-%'";
    switch (pick(5)) {
        case 0:
            break;  // nothing pending
        case 1:
            if (status == 'I') s.msgs.push_back({'Q', "BEGIN"});
            s.msgs.push_back({'Q', ins});
            s.msgs.push_back({'Q', upd});
            break;
        case 2:
            s.msgs.push_back({'Q', (status == 'I' ? "BEGIN; " : "") + ins + "; " + upd});
            break;
        case 3:  // an extended batch: with a Sync only when it runs inside a block
            if (status == 'I') {
                s.msgs.push_back({'P', "", "BEGIN"});
                s.msgs.push_back({'B', "", ""});
                s.msgs.push_back({'E', ""});
            }
            s.msgs.push_back({'P', "", ins});
            s.msgs.push_back({'B', "", ""});
            s.msgs.push_back({'E', ""});
            if (status == 'I' || chance(50)) s.msgs.push_back({'S'});
            break;
        default:  // half of a statement
            if (status == 'I') s.msgs.push_back({'Q', "BEGIN"});
            s.msgs.push_back({'Q', ins});
            s.msgs.push_back({'Q', upd});
            s.half_last = true;
            if (s.how == How::terminate) s.how = How::close;
            break;
    }
    return s;
}

Step Generator::next(char status) {
    Step s;
    if (++steps_ > length_) {
        const uint32_t r = pick(100);
        if (r < 15) {
            s = hostile();
        } else if (r < 40) {
            s = vanish(status);
        } else {
            s.kind = Kind::finish;
            s.msgs.push_back({'X'});
        }
    } else {
        s = exchange(status);
    }
    // ReadyForQuery count: a Query after an extended message may be skipped (error until Sync).
    bool extended = false;
    for (const auto& m : s.msgs) {
        if (m.type == 'S') {
            ++s.min_z, ++s.max_z;
            extended = false;
        } else if (m.type == 'Q') {
            if (!extended) ++s.min_z;
            ++s.max_z;
        } else if (std::string("PBDECH").find(m.type) != std::string::npos) {
            extended = true;
        }
    }
    return s;
}

}  // namespace pgtenant::testing::fuzz
