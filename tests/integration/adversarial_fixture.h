#pragma once
// The adversarial suites' fixture (adversarial_test, adversarial_state_test,
// adversarial_channels_test): a practice-A login (alice) sends whatever SQL an attacker would,
// through pgtenant in sealed mode, and must never read or change practice B's (bob's) rows. The
// pool holds ONE server connection, so alice and bob share one backend and every state-leak
// attack is real. Every case checks row contents (no practice-B id, patient, meal log or name
// anywhere in what alice gets back), and the fixture compares a superuser snapshot of both
// practices' rows before and after each case, so any write that lands shows up.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "auth/context_token.h"
#include "tests/support/integration_env.h"
#include "tests/support/net.h"
#include "tests/support/tenant_checks.h"
#include "tests/support/wire.h"

namespace pgtenant::testing {

inline PgtenantOptions adversarial_options() {
    PgtenantOptions options;
    options.pool_size = 1;
    options.wait_timeout_ms = 10000;
    options.logins = {
        {demo::kAlice, demo::kPracticeA, "alice-Secret-1", ""},
        {demo::kBob, demo::kPracticeB, "bob-Secret-2", ""},
    };
    return options;
}

using namespace std::chrono_literals;

inline const std::string kA = demo::kPracticeA;
inline const std::string kB = demo::kPracticeB;

// Anything that identifies practice B's data.
inline bool mentions_b(const std::string& cell) {
    // Row data only: B's practice uuid alone is what the attacker typed (e.g. echoed back by
    // set_config); rows are caught by their ids and names, and by all_rows_in_practice.
    for (const char* marker : {"b0000000-", "d0000000-", "Tomas Novak", "Aisha Rahman", "Harbor",
                               "chickpea", "tofu stir-fry", "whole-wheat"}) {
        if (cell.find(marker) != std::string::npos) return true;
    }
    return false;
}

inline ::testing::AssertionResult no_b(const QueryResult& r) {
    for (std::size_t i = 0; i < r.rows.size(); ++i) {
        for (const auto& cell : r.rows[i]) {
            if (mentions_b(cell)) {
                return ::testing::AssertionFailure()
                       << "row " << i << " carries practice-B data: " << cell.substr(0, 300);
            }
        }
    }
    return ::testing::AssertionSuccess() << (r.ok() ? "ok" : r.sqlstate);
}

inline bool refused(const std::string& sqlstate) {
    return sqlstate == "42501" || sqlstate == "0A000";
}

// "DO $$ ... $$" that sets a setting with a name the SQL text never spells out, so no text
// check can see it: only the sealed context stands in the way.
inline std::string hidden_set(const std::string& name, const std::string& value, bool local) {
    const auto dot = name.find('.');
    return "DO $do$ BEGIN PERFORM set_config(concat('" + name.substr(0, dot) + "', '" +
           name.substr(dot) + "'), '" + value + "', " + (local ? "true" : "false") + "); END $do$";
}

// A well-formed pgtenant.context token for practice B with a MAC no key made.
inline std::string forged_b_token() {
    return "v1.test." + kB + ".12345.9999999999." + std::string(64, 'a');
}

// Sends statements in libpq pipeline mode; "SYNC" entries are pipeline syncs. Returns one
// result per statement (PIPELINE_ABORTED shows as an error with empty sqlstate).
inline std::vector<QueryResult> pipeline(PGconn* c, const std::vector<std::string>& steps) {
    std::vector<QueryResult> out;
    EXPECT_EQ(PQenterPipelineMode(c), 1);
    for (const auto& s : steps) {
        if (s == "SYNC") {
            EXPECT_EQ(PQpipelineSync(c), 1);
        } else {
            EXPECT_EQ(PQsendQueryParams(c, s.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
        }
    }
    if (steps.empty() || steps.back() != "SYNC") {
        EXPECT_EQ(PQpipelineSync(c), 1);
    }
    auto deadline = std::chrono::steady_clock::now() + 20s;
    for (const auto& s : steps) {
        if (s == "SYNC") {
            PGresult* sync = next_result(c, deadline);
            EXPECT_NE(sync, nullptr);
            if (sync) {
                EXPECT_EQ(PQresultStatus(sync), PGRES_PIPELINE_SYNC);
            }
            PQclear(sync);
            continue;
        }
        PGresult* res = next_result(c, deadline);
        if (res && PQresultStatus(res) == PGRES_PIPELINE_ABORTED) {
            PQclear(res);
            QueryResult aborted;
            aborted.error = "pipeline aborted";
            out.push_back(aborted);
        } else {
            out.push_back(to_query_result(res));
        }
        EXPECT_EQ(next_result(c, deadline), nullptr);
    }
    if (steps.empty() || steps.back() != "SYNC") {
        PGresult* sync = next_result(c, deadline);
        PQclear(sync);
    }
    EXPECT_EQ(PQexitPipelineMode(c), 1) << PQerrorMessage(c);
    return out;
}

class AdversarialTest : public ProxyTest {
  protected:
    void SetUp() override {
        su_ = env().superuser();
        before_ = snapshot();
        alice_ = env().connect_as(demo::kAlice);
        bob_ = env().connect_as(demo::kBob);
    }

    void TearDown() override {
        for (PGconn* c : {alice_.get(), bob_.get()}) {
            if (c == nullptr) continue;
            if (PQpipelineStatus(c) != PQ_PIPELINE_OFF) continue;
            run(c, "ROLLBACK");
        }
        for (PGconn* c : {alice_.get(), bob_.get()}) {
            if (c == nullptr || PQpipelineStatus(c) != PQ_PIPELINE_OFF) continue;
            for (const char* sql : {"CLOSE ALL", "DISCARD TEMP", "RESET ALL", "UNLISTEN *",
                                    "SELECT pg_advisory_unlock_all()", "DEALLOCATE ALL"}) {
                run(c, sql);
            }
        }
        run(su_.get(), "ALTER ROLE pgtenant_pool RESET ALL");
        EXPECT_EQ(snapshot(), before_) << "practice rows changed during the case";
        ProxyTest::TearDown();
    }

    // Both practices' rows as the superuser sees them (RLS does not apply to it).
    std::string snapshot() {
        std::string s;
        for (const auto& [table, key] : std::vector<std::pair<std::string, std::string>>{
                 {"practices", "id"}, {"patients", "practice_id"}, {"meal_logs", "practice_id"}}) {
            auto rows =
                query(su_.get(),
                      "SELECT " + key +
                          ", count(*), md5(string_agg(t::text, '|' ORDER BY t.id)) FROM public." +
                          table + " t GROUP BY 1 ORDER BY 1");
            for (const auto& row : rows)
                s += table + ":" + row[0] + ":" + row[1] + ":" + row[2] + "\n";
        }
        return s;
    }

    // Alice's own bound view: exactly her patients and meal logs.
    void expect_alice_bound() {
        auto p = run(alice_.get(), "SELECT * FROM patients");
        ASSERT_TRUE(p.ok()) << p.error;
        EXPECT_EQ(static_cast<int>(p.rows.size()), demo::kPatientsA);
        EXPECT_TRUE(all_rows_in_practice(p.rows, 1, kA));
        auto m = run_params(alice_.get(), "SELECT * FROM meal_logs", {});
        ASSERT_TRUE(m.ok()) << m.error;
        EXPECT_EQ(static_cast<int>(m.rows.size()), demo::kMealLogsA);
        EXPECT_TRUE(all_rows_in_practice(m.rows, 1, kA));
    }
    void expect_bob_bound() {
        auto p = run(bob_.get(), "SELECT * FROM patients");
        ASSERT_TRUE(p.ok()) << p.error;
        EXPECT_EQ(static_cast<int>(p.rows.size()), demo::kPatientsB);
        EXPECT_TRUE(all_rows_in_practice(p.rows, 1, kB));
    }
    // Rows of a read alice makes after an attack: practice A only (or nothing).
    void expect_only_a(const QueryResult& r, std::size_t practice_column = 1) {
        EXPECT_TRUE(no_b(r));
        if (r.ok()) {
            EXPECT_TRUE(all_rows_in_practice(r.rows, practice_column, kA));
        }
    }

    PgConn pool_direct() {
        return connect(
            "host=127.0.0.1 port=" + std::to_string(env().cluster().port()) +
            " dbname=postgres user=pgtenant_pool password=" + env().cluster().pool_password());
    }
    auth::KeyRing key_ring() {
        return auth::KeyRing::load((env().proxy().dir() / "pgtenant.key").string());
    }
    int64_t db_now() {
        return std::stoll(query(su_.get(), "SELECT floor(extract(epoch FROM now()))::int8")[0][0]);
    }
    // Inside an open transaction of alice's: her backend pid and her genuine token.
    std::pair<int32_t, std::string> alice_pid_and_token() {
        auto rows =
            query(alice_.get(), "SELECT pg_backend_pid(), current_setting('pgtenant.context')");
        return {std::stoi(rows.at(0).at(0)), rows.at(0).at(1)};
    }

    // Alice, in one transaction: installs `token` in pgtenant.context through a DO block, then
    // reads. Returns the read; the DO block's SQLSTATE goes to *do_state.
    QueryResult read_with_token(const std::string& token, std::string* do_state) {
        EXPECT_EQ(sqlstate_of(alice_.get(), "BEGIN"), "");
        *do_state = sqlstate_of(alice_.get(), hidden_set("pgtenant.context", token, true));
        auto r = run(alice_.get(), "SELECT * FROM patients");
        run(alice_.get(), "ROLLBACK");
        return r;
    }

    PgConn su_;
    PgConn alice_;
    PgConn bob_;
    std::string before_;
};

}  // namespace pgtenant::testing
