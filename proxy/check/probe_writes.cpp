// `pgtenant probe --write-checks`: writes aimed at the other practice's rows. Each runs in
// its own transaction that is always rolled back, so nothing is ever committed (sequences
// that a default draws from may still advance, as with any rolled-back INSERT).
#include "proxy/check/probe_detail.h"

namespace pgtenant::proxy::probe_detail {
namespace {

struct WriteAttempt {
    std::string name;
    std::string sql;
    bool counts_rows;  // true: success is fine when it touched 0 rows; false: must fail
    std::string leak_detail;
};

std::vector<WriteAttempt> write_attempts(const TenantTable& t, const Tenant& self,
                                         const Tenant& other_tenant) {
    const std::string k = t.key;
    const std::string own = sql_literal(self.practice) + "::" + t.key_type;
    const std::string other = sql_literal(other_tenant.practice) + "::" + t.key_type;
    return {
        {"insert_other_practice", "INSERT INTO " + t.name + " (" + k + ") VALUES (" + other + ")",
         false, "The login inserted a row for the other practice (rolled back)."},
        {"update_other_practice",
         "UPDATE " + t.name + " SET " + k + " = " + k + " WHERE " + k + " = " + other, true,
         "rows of the other practice were updated (rolled back)."},
        {"delete_other_practice", "DELETE FROM " + t.name + " WHERE " + k + " = " + other, true,
         "rows of the other practice were deleted (rolled back)."},
        {"move_own_rows_to_other_practice",
         "UPDATE " + t.name + " SET " + k + " = " + other + " WHERE " + k + " = " + own, false,
         "The login moved its own rows into the other practice (rolled back)."},
    };
}

std::string error_text(const QueryOutcome& r) {
    std::string m = r.message;
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return "SQLSTATE " + r.sqlstate + ": " + m;
}

void judge_write(ProbeCheck& c, const WriteAttempt& a, const QueryOutcome& r) {
    c.sqlstate = r.sqlstate;
    if (!r.ok) {
        // 42501: the policy's WITH CHECK or a missing privilege. Anything else (a NOT NULL or
        // foreign key, a trigger) does not say whether the policy would have let it through.
        c.outcome = r.sqlstate == "42501" ? ProbeOutcome::refused : ProbeOutcome::inconclusive;
        c.detail = (c.outcome == ProbeOutcome::refused ? "Refused ("
                                                       : "Failed, but not by "
                                                         "the policy (") +
                   error_text(r) + ").";
    } else if (a.counts_rows && r.affected == 0) {
        c.outcome = ProbeOutcome::pass;
        c.detail = "Touched 0 rows (rolled back).";
    } else if (!a.counts_rows && r.affected == 0) {
        c.outcome = ProbeOutcome::skipped;
        c.detail = "The login has no rows here to move (nothing to test).";
    } else {
        c.outcome = ProbeOutcome::leak;
        c.detail = a.counts_rows ? std::to_string(r.affected) + " " + a.leak_detail : a.leak_detail;
    }
}

ProbeCheck run_write(CheckDb& db, const Tenant& self, const TenantTable& t, const WriteAttempt& a) {
    ProbeCheck c{"write", a.name, self.login->name, t.name};
    QueryOutcome begin = db.try_query("BEGIN");
    if (!begin.ok) {
        c.outcome = ProbeOutcome::inconclusive;
        c.detail = "BEGIN failed: " + error_text(begin);
        return c;
    }
    QueryOutcome r = db.try_query(a.sql);
    QueryOutcome rollback = db.try_query("ROLLBACK");
    judge_write(c, a, r);
    if (!rollback.ok) {
        // pgtenant rolls back a transaction whose client goes away; say so all the same.
        c.detail += " The ROLLBACK failed (" + error_text(rollback) + ").";
    }
    return c;
}

}  // namespace

void run_write_checks(ProbeRun& run, const Tenant& self, const Tenant& other) {
    std::unique_ptr<CheckDb> db;
    try {
        db = connect_login(run.options, *self.login);
    } catch (const std::exception& e) {
        run.out.push_back({"write", "login", self.login->name, "", ProbeOutcome::inconclusive, "",
                           std::string("Could not log in for the write checks: ") + e.what()});
        return;
    }
    for (const auto& t : run.tables) {
        if (t.key.empty()) continue;
        for (const auto& a : write_attempts(t, self, other)) {
            run.out.push_back(run_write(*db, self, t, a));
        }
    }
}

}  // namespace pgtenant::proxy::probe_detail
