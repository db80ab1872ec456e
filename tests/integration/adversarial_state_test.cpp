// Adversarial suite, part 2 (fixture: adversarial_fixture.h): state bob leaves on the shared
// backend, writes into practice B, cancel keys, loopbacks and extensions.
#include "tests/integration/adversarial_fixture.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env(adversarial_options());

// ===================================================================================
// 5. State bob leaves on the shared backend, probed by alice.
// ===================================================================================

TEST_F(AdversarialTest, BobsTempTableIsNotReadableByAlice) {
    auto state = sqlstate_of(bob_.get(), "CREATE TEMP TABLE bob_copy AS SELECT * FROM patients");
    RecordProperty("bob_temp", state.empty() ? "accepted" : state);
    for (const char* sql :
         {"SELECT * FROM bob_copy", "SELECT * FROM pg_temp.bob_copy",
          "SELECT string_agg(relname, ',') FROM pg_class WHERE relname = 'bob_copy'"}) {
        SCOPED_TRACE(sql);
        auto r = run(alice_.get(), sql);
        EXPECT_TRUE(no_b(r));
        if (std::string(sql).find("pg_class") == std::string::npos) {
            EXPECT_FALSE(r.ok());
        }
    }
    // Via a dynamic name the guard cannot see.
    auto r =
        run(alice_.get(),
            "SELECT query_to_xml('select * from ' || (SELECT string_agg(n.nspname || '.' || "
            "c.relname, '') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'bob_copy' AND n.nspname LIKE 'pg_temp%'), true, false, '')::text");
    EXPECT_TRUE(no_b(r));
    run(bob_.get(), "DROP TABLE IF EXISTS bob_copy");
}

TEST_F(AdversarialTest, BobsTempPatientsTableDoesNotCaptureAlicesWrites) {
    auto state = sqlstate_of(
        bob_.get(), "CREATE TEMP TABLE patients (LIKE public.patients INCLUDING DEFAULTS)");
    RecordProperty("bob_temp_patients", state.empty() ? "accepted" : state);
    auto ins = run(alice_.get(), "INSERT INTO patients (practice_id, name) VALUES ('" + kA +
                                     "', 'Captured Alice') RETURNING practice_id");
    ASSERT_TRUE(ins.ok()) << ins.error;
    // Bob must not see alice's new row in any table, temp or not.
    for (const char* sql : {"SELECT * FROM patients WHERE name = 'Captured Alice'",
                            "SELECT * FROM pg_temp.patients WHERE name = 'Captured Alice'"}) {
        SCOPED_TRACE(sql);
        auto r = run(bob_.get(), sql);
        EXPECT_TRUE(r.rows.empty()) << "bob sees alice's row";
    }
    EXPECT_EQ(query(su_.get(),
                    "SELECT count(*) FROM public.patients WHERE name = 'Captured Alice' "
                    "AND practice_id = '" +
                        kA + "'")[0][0],
              "1");
    query(su_.get(), "DELETE FROM public.patients WHERE name = 'Captured Alice'");
    run(bob_.get(), "DROP TABLE IF EXISTS pg_temp.patients");
}

TEST_F(AdversarialTest, BobsHoldCursorIsNotFetchableByAlice) {
    auto state =
        sqlstate_of(bob_.get(), "DECLARE bobcur CURSOR WITH HOLD FOR SELECT * FROM patients");
    RecordProperty("bob_cursor", state.empty() ? "accepted" : state);
    for (const char* sql : {"FETCH ALL FROM bobcur", "MOVE ALL IN bobcur",
                            "SELECT name, statement FROM pg_cursors"}) {
        SCOPED_TRACE(sql);
        auto r = run(alice_.get(), sql);
        EXPECT_TRUE(no_b(r));
        if (std::string(sql).rfind("FETCH", 0) == 0) {
            EXPECT_FALSE(r.ok());
        }
        if (r.ok() && std::string(sql).find("pg_cursors") != std::string::npos) {
            EXPECT_TRUE(r.rows.empty());
        }
    }
    run(bob_.get(), "CLOSE bobcur");
}

TEST_F(AdversarialTest, BobsListenDoesNotDeliverToAlice) {
    auto state = sqlstate_of(bob_.get(), "LISTEN bob_channel");
    RecordProperty("bob_listen", state.empty() ? "accepted" : state);
    // Alice's transaction sends a notification on the shared backend; then a notify from
    // another session: whatever arrives must not carry B's data, and alice must not get bob's.
    run(alice_.get(), "SELECT 1");
    auto direct = pool_direct();
    run(direct.get(), "NOTIFY bob_channel, '" + kB + " secret'");
    std::this_thread::sleep_for(200ms);
    run(alice_.get(), "SELECT 1");
    PQconsumeInput(alice_.get());
    while (PGnotify* n = PQnotifies(alice_.get())) {
        ADD_FAILURE() << "alice received bob's notification on " << n->relname << ": " << n->extra;
        PQfreemem(n);
    }
    auto r = run(alice_.get(), "SELECT pg_listening_channels()");
    EXPECT_TRUE(r.rows.empty() || !r.ok())
        << "alice's backend still listens: " << r.rows.at(0).at(0);
    run(bob_.get(), "UNLISTEN *");
}

TEST_F(AdversarialTest, BobsAdvisoryLockIsNotHeldForAlice) {
    auto state = sqlstate_of(bob_.get(), "SELECT pg_advisory_lock(777)");
    RecordProperty("bob_lock", state.empty() ? "accepted" : state);
    expect_alice_bound();
    // Alice must not be able to release (or observe as held by her session) bob's lock.
    auto r = run(alice_.get(), "SELECT pg_advisory_unlock(777)");
    if (r.ok()) {
        EXPECT_EQ(r.rows.at(0).at(0), "f") << "alice released bob's session lock";
    }
    EXPECT_EQ(query(su_.get(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0][0],
              "0");
    run(bob_.get(), "SELECT pg_advisory_unlock_all()");
}

TEST_F(AdversarialTest, BobsPreparedStatementIsNotExecutableByAlice) {
    auto state = sqlstate_of(bob_.get(), "PREPARE bobq AS SELECT * FROM patients");
    RecordProperty("bob_prepare", state.empty() ? "accepted" : state);
    auto r = run(alice_.get(), "EXECUTE bobq");
    EXPECT_TRUE(no_b(r));
    expect_only_a(r);
    auto listed = run(alice_.get(), "SELECT name, statement FROM pg_prepared_statements");
    EXPECT_TRUE(no_b(listed));
    for (const auto& row : listed.rows) EXPECT_NE(row.at(0), "bobq");
    run(bob_.get(), "DEALLOCATE bobq");
}

TEST_F(AdversarialTest, BobsSessionLevelTenantSettingsDoNotReachAlice) {
    // Bob reads his own (genuine) token and pins it at session level with a DO block; the
    // plain setting too. Alice's unbound statements on that backend must not run as B.
    ASSERT_EQ(sqlstate_of(bob_.get(), "BEGIN"), "");
    auto token = query(bob_.get(), "SELECT current_setting('pgtenant.context')")[0][0];
    auto pin = run(bob_.get(), hidden_set("pgtenant.context", token, false));
    run(bob_.get(), hidden_set("app.current_practice_id", kB, false));
    ASSERT_EQ(sqlstate_of(bob_.get(), "COMMIT"), "");
    RecordProperty("bob_pin", pin.ok() ? "accepted" : pin.sqlstate);
    // Bob himself now reads B rows unbound (his own practice: fine).
    for (const std::string& sql : std::vector<std::string>{
             "SELECT 1; COMMIT; SELECT * FROM patients", "COMMIT; SELECT * FROM meal_logs",
             "BEGIN; COMMIT AND CHAIN; SELECT * FROM patients"}) {
        SCOPED_TRACE(sql);
        auto r = run(alice_.get(), sql);
        expect_only_a(r);
        EXPECT_TRUE(fails_closed(r));
        run(alice_.get(), "ROLLBACK");
    }
    auto p = pipeline(alice_.get(), {"SELECT 1", "COMMIT", "SELECT * FROM patients"});
    ASSERT_EQ(p.size(), 3u);
    expect_only_a(p[2]);
    EXPECT_TRUE(fails_closed(p[2]));
    auto shown = run(alice_.get(), "SELECT current_setting('pgtenant.context', true)");
    EXPECT_TRUE(no_b(shown));
    EXPECT_EQ(shown.rows.at(0).at(0).find(token), std::string::npos) << "bob's token is visible";
    expect_alice_bound();
}

TEST_F(AdversarialTest, BobsSearchPathAndSchemaDoNotRedirectAlice) {
    auto create = sqlstate_of(bob_.get(), "CREATE SCHEMA bobschema");
    RecordProperty("bob_create_schema", create.empty() ? "accepted" : create);
    EXPECT_EQ(create, "42501") << "the pool role may create schemas";
    auto sp = run(bob_.get(), "SET search_path = pg_temp, bobschema, public");
    run(bob_.get(), "SELECT set_config('search_path', 'pg_temp', false)");
    RecordProperty("bob_search_path", sp.ok() ? "accepted" : sp.sqlstate);
    auto ins = run(alice_.get(), "INSERT INTO patients (practice_id, name) VALUES ('" + kA +
                                     "', 'Redirected') RETURNING practice_id");
    ASSERT_TRUE(ins.ok()) << ins.error;
    EXPECT_EQ(query(alice_.get(), "SHOW search_path")[0][0],
              query(su_.get(), "SHOW search_path")[0][0]);
    EXPECT_EQ(
        query(su_.get(), "SELECT count(*) FROM public.patients WHERE name = 'Redirected'")[0][0],
        "1");
    query(su_.get(), "DELETE FROM public.patients WHERE name = 'Redirected'");
    run(su_.get(), "DROP SCHEMA IF EXISTS bobschema CASCADE");
    expect_alice_bound();
}

TEST_F(AdversarialTest, BobsSequenceStateIsNotVisibleToAlice) {
    auto seq = sqlstate_of(bob_.get(), "CREATE TEMP SEQUENCE bobseq START 424242");
    RecordProperty("bob_seq", seq.empty() ? "accepted" : seq);
    run(bob_.get(), "SELECT nextval('bobseq')");
    auto last = run(alice_.get(), "SELECT lastval()");
    EXPECT_FALSE(last.ok() && last.rows.at(0).at(0) == "424242") << "lastval crossed practices";
    auto cur = run(alice_.get(), "SELECT currval('bobseq')");
    EXPECT_FALSE(cur.ok()) << "currval of bob's sequence";
    run(bob_.get(), "DROP SEQUENCE IF EXISTS bobseq");
}

TEST_F(AdversarialTest, DiscardResetAndRoleChangesDoNotUnbind) {
    for (const std::string& sql : std::vector<std::string>{
             "RESET ALL", "DISCARD ALL", "DISCARD PLANS", "DEALLOCATE ALL", "SET ROLE NONE",
             "SET ROLE pgtenant_migrator", "SET ROLE pgtenant_owner", "SET ROLE postgres",
             "SET SESSION AUTHORIZATION postgres", "SET SESSION AUTHORIZATION DEFAULT",
             "SET session_replication_role = replica", "SET row_security = off",
             "SET LOCAL row_security = off", "RESET ROLE"}) {
        SCOPED_TRACE(sql);
        auto first = run(alice_.get(), sql);
        EXPECT_TRUE(first.ok() || refused(first.sqlstate) || first.sqlstate == "42501" ||
                    first.sqlstate == "22023")
            << first.sqlstate << " " << first.error;
        expect_only_a(run(alice_.get(), sql + "; SELECT * FROM patients"));
        expect_only_a(run(alice_.get(), sql + "; COMMIT; SELECT * FROM patients"));
        auto bound = run(alice_.get(), "SELECT * FROM patients");
        expect_only_a(bound);
        auto who = run(alice_.get(), "SELECT current_user, session_user");
        ASSERT_TRUE(who.ok()) << who.error;
        EXPECT_EQ(who.rows.at(0).at(0), "pgtenant_pool");
        run(alice_.get(), "RESET ALL");
    }
    expect_alice_bound();
    expect_bob_bound();
}

TEST_F(AdversarialTest, AlterRoleDefaultsCannotPinTheTenant) {
    for (const std::string& sql : std::vector<std::string>{
             "ALTER ROLE CURRENT_USER SET app.current_practice_id = '" + kB + "'",
             "ALTER ROLE pgtenant_pool SET pgtenant.context = '" + forged_b_token() + "'",
             "ALTER ROLE CURRENT_USER IN DATABASE postgres SET \"APP\".current_practice_id = '" +
                 kB + "'",
             "ALTER DATABASE postgres SET app.current_practice_id = '" + kB + "'",
             "ALTER ROLE CURRENT_USER BYPASSRLS", "ALTER ROLE CURRENT_USER SUPERUSER",
             "GRANT pgtenant_owner TO CURRENT_USER", "GRANT pgtenant_migrator TO CURRENT_USER",
             "ALTER SYSTEM SET row_security = off",
             "ALTER TABLE patients DISABLE ROW LEVEL SECURITY",
             "ALTER TABLE patients NO FORCE ROW LEVEL SECURITY",
             "DROP POLICY pgtenant_sealed ON patients",
             "CREATE POLICY open ON patients USING (true)",
             "CREATE OR REPLACE FUNCTION pgtenant.practice_id() RETURNS uuid LANGUAGE sql AS "
             "$$ SELECT '" +
                 kB + "'::uuid $$",
             "ALTER FUNCTION pgtenant.practice_id() SECURITY INVOKER",
             "INSERT INTO pgtenant.context_keys (kid, key) VALUES ('evil', decode(repeat('00', "
             "32), 'hex'))",
             "SELECT pgtenant.add_key('evil', repeat('00', 32))"}) {
        SCOPED_TRACE(sql);
        auto r = run(alice_.get(), sql);
        EXPECT_FALSE(r.ok()) << "accepted";
        EXPECT_TRUE(no_b(r));
    }
    EXPECT_EQ(query(su_.get(),
                    "SELECT count(*) FROM pg_db_role_setting WHERE "
                    "array_to_string(setconfig, ',') ~* '(current_practice_id|pgtenant[.])'")[0][0],
              "0");
    EXPECT_EQ(
        query(su_.get(), "SELECT count(*) FROM pgtenant.context_keys WHERE kid = 'evil'")[0][0],
        "0");
    // Role defaults reach every practice's future backends: the guard refuses changing them.
    for (const char* sql : {"ALTER ROLE CURRENT_USER SET search_path = pg_temp, public",
                            "ALTER ROLE CURRENT_USER SET row_security = off",
                            "ALTER DATABASE postgres SET default_transaction_read_only = on",
                            "alter role pgtenant_pool reset all"}) {
        SCOPED_TRACE(sql);
        auto r = run(alice_.get(), sql);
        EXPECT_EQ(r.sqlstate, "42501") << r.error;
        auto fresh = pool_direct();
        expect_only_a(run(fresh.get(), "SELECT * FROM patients"));
        EXPECT_TRUE(fails_closed(run(fresh.get(), "SELECT * FROM patients")));
        run(su_.get(), "ALTER ROLE pgtenant_pool RESET ALL");
    }
    auto fresh = env().connect_as(demo::kAlice);
    expect_only_a(run(fresh.get(), "COMMIT; SELECT * FROM patients"));
    expect_alice_bound();
}

// ===================================================================================
// 6. Writes that try to reach or move into practice B.
// ===================================================================================

TEST_F(AdversarialTest, UpdateMovingRowToB) {
    for (const std::string& sql : std::vector<std::string>{
             "UPDATE patients SET practice_id = '" + kB + "' WHERE id = '" + demo::kPatientA + "'",
             "UPDATE patients SET practice_id = '" + kB + "' RETURNING *",
             "UPDATE meal_logs SET practice_id = '" + kB + "', patient_id = '" + demo::kPatientB +
                 "'",
             "UPDATE practices SET id = '" + kB + "'",
             "UPDATE patients SET name = 'pwned' WHERE practice_id = '" + kB + "' RETURNING *",
             "UPDATE patients SET name = 'pwned' WHERE id = '" + demo::kPatientB + "' RETURNING *",
             "DELETE FROM patients WHERE practice_id = '" + kB + "' RETURNING *",
             "DELETE FROM meal_logs WHERE patient_id = '" + demo::kPatientB + "' RETURNING *"}) {
        SCOPED_TRACE(sql);
        auto r = run(alice_.get(), sql);
        EXPECT_TRUE(no_b(r));
        EXPECT_TRUE(!r.ok() || r.command_tuples == "0") << "changed " << r.command_tuples;
        auto e = run_params(alice_.get(), sql, {});
        EXPECT_TRUE(no_b(e));
        EXPECT_TRUE(!e.ok() || e.command_tuples == "0") << "changed " << e.command_tuples;
    }
}

TEST_F(AdversarialTest, InsertIntoB) {
    for (const std::string& sql : std::vector<std::string>{
             "INSERT INTO patients (practice_id, name) VALUES ('" + kB + "', 'Intruder')",
             "INSERT INTO patients (practice_id, name) SELECT '" + kB + "', name FROM patients",
             "INSERT INTO patients (practice_id, name) SELECT practice_id, 'x' FROM patients "
             "UNION ALL SELECT '" +
                 kB + "', 'y'",
             "INSERT INTO meal_logs (practice_id, patient_id, logged_at, meal_data) VALUES ('" +
                 kA + "', '" + demo::kPatientB + "', now(), '{}')",
             "INSERT INTO practices (id, name) VALUES ('" + kB +
                 "', 'x') ON CONFLICT (id) DO UPDATE SET name = 'pwned'",
             "INSERT INTO patients (id, practice_id, name) VALUES ('" + demo::kPatientB + "', '" +
                 kA + "', 'x') ON CONFLICT (id) DO UPDATE SET name = 'pwned' RETURNING *",
             "INSERT INTO patients (id, practice_id, name) VALUES ('" + demo::kPatientB + "', '" +
                 kA +
                 "', 'x') ON CONFLICT (id) DO UPDATE SET practice_id = excluded.practice_id "
                 "RETURNING *",
             "INSERT INTO patients (id, practice_id, name) VALUES ('" + demo::kPatientA + "', '" +
                 kA + "', 'x') ON CONFLICT (id) DO UPDATE SET practice_id = '" + kB +
                 "' RETURNING *"}) {
        SCOPED_TRACE(sql);
        auto r = run(alice_.get(), sql);
        EXPECT_TRUE(no_b(r));
        EXPECT_FALSE(r.ok()) << "accepted: " << r.command_tuples;
    }
}

TEST_F(AdversarialTest, DeleteUsingMergeAndWritableCtes) {
    for (const std::string& sql : std::vector<std::string>{
             "DELETE FROM meal_logs m USING patients p WHERE m.patient_id = p.id AND p.practice_id "
             "= '" +
                 kB + "' RETURNING m.*",
             "DELETE FROM patients p USING (VALUES ('" + demo::kPatientB +
                 "'::uuid)) v(id) WHERE p.id = v.id RETURNING p.*",
             "MERGE INTO patients t USING (VALUES ('" + demo::kPatientB +
                 "'::uuid)) s(id) ON t.id = s.id "
                 "WHEN MATCHED THEN UPDATE SET name = 'pwned' WHEN NOT MATCHED THEN DO NOTHING",
             "MERGE INTO patients t USING (SELECT '" + demo::kPatientA +
                 "'::uuid AS id) s ON t.id = s.id "
                 "WHEN MATCHED THEN UPDATE SET practice_id = '" +
                 kB + "'",
             "MERGE INTO patients t USING (SELECT '" + kB +
                 "'::uuid AS p) s ON false "
                 "WHEN NOT MATCHED THEN INSERT (practice_id, name) VALUES (s.p, 'merged')",
             "MERGE INTO patients t USING patients s ON t.id = s.id WHEN MATCHED THEN DELETE",
             "WITH moved AS (UPDATE patients SET practice_id = '" + kB +
                 "' RETURNING *) SELECT * FROM moved",
             "WITH gone AS (DELETE FROM patients WHERE practice_id = '" + kB +
                 "' RETURNING *) SELECT * FROM gone",
             "WITH ins AS (INSERT INTO patients (practice_id, name) VALUES ('" + kB +
                 "', 'cte') RETURNING *) "
                 "SELECT * FROM ins",
             "WITH s AS (SELECT set_config(chr(112)||'gtenant.context', '" + forged_b_token() +
                 "', true)) "
                 "UPDATE patients SET name = name || '' FROM s WHERE practice_id = '" +
                 kB + "' RETURNING *"}) {
        SCOPED_TRACE(sql);
        ASSERT_EQ(sqlstate_of(alice_.get(), "BEGIN"), "");
        auto r = run(alice_.get(), sql);
        EXPECT_TRUE(no_b(r));
        // Only the self-MERGE DELETE may touch rows, and only alice's; rolled back below.
        if (sql.find("THEN DELETE") == std::string::npos) {
            EXPECT_TRUE(!r.ok() || r.command_tuples == "0" || r.rows.empty())
                << "changed " << r.command_tuples;
        }
        run(alice_.get(), "ROLLBACK");
    }
}

TEST_F(AdversarialTest, CopyFromIntoBIsRefused) {
    auto r = copy_in(alice_.get(), "COPY patients (practice_id, name) FROM STDIN",
                     kB + "\tCopied Intruder\n");
    EXPECT_FALSE(r.ok()) << "COPY FROM with a B row succeeded";
    auto own = copy_in(alice_.get(),
                       "COPY meal_logs (practice_id, patient_id, logged_at, meal_data) FROM STDIN",
                       kA + "\t" + demo::kPatientB + "\t2026-01-01\t{}\n");
    EXPECT_FALSE(own.ok()) << "meal log pointing at B's patient";
    auto out = copy_out(alice_.get(), "COPY (SELECT * FROM patients) TO STDOUT");
    EXPECT_EQ(static_cast<int>(out.size()), demo::kPatientsA);
    for (const auto& line : out) EXPECT_FALSE(mentions_b(line)) << line;
    std::vector<std::string> all;
    try {
        all = copy_out(alice_.get(), "COPY patients TO STDOUT");
    } catch (const PgError&) {
    }
    for (const auto& line : all) EXPECT_FALSE(mentions_b(line)) << line;
    expect_alice_bound();
}

// ===================================================================================
// 7. Cancel requests with guessed keys.
// ===================================================================================

std::string cancel_request(uint32_t pid, uint32_t key) {
    return wire::be32(16) + wire::be32(80877102) + wire::be32(pid) + wire::be32(key);
}

TEST_F(AdversarialTest, GuessedCancelKeysDoNotCancelBob) {
    const std::string sql = "SELECT pg_sleep(1.5), count(*) FROM patients";
    SCOPED_TRACE(sql);
    ASSERT_EQ(PQsendQuery(bob_.get(), sql.c_str()), 1);
    std::this_thread::sleep_for(200ms);
    std::mt19937 rng(12345);
    const uint32_t bob_pid = static_cast<uint32_t>(PQbackendPID(bob_.get()));
    const uint32_t alice_pid = static_cast<uint32_t>(PQbackendPID(alice_.get()));
    for (int i = 0; i < 40; ++i) {
        uint32_t pid = i < 10 ? bob_pid : (i < 20 ? alice_pid : static_cast<uint32_t>(rng()));
        auto sock = RawSocket::connect(env().proxy().port());
        sock.send_all(cancel_request(pid, static_cast<uint32_t>(rng())));
        sock.read_until_close(200ms);
    }
    // Alice cancels her own query, which is waiting for the one backend bob holds.
    ASSERT_EQ(PQsendQuery(alice_.get(), "SELECT count(*) FROM patients"), 1);
    std::this_thread::sleep_for(100ms);
    PGcancel* cancel = PQgetCancel(alice_.get());
    char err[256];
    PQcancel(cancel, err, sizeof err);
    PQfreeCancel(cancel);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    auto r = to_query_result(next_result(bob_.get(), deadline));
    while (PGresult* extra = next_result(bob_.get(), deadline)) PQclear(extra);
    EXPECT_TRUE(r.ok()) << "bob's query was cancelled: " << r.sqlstate << " " << r.error;
    if (r.ok()) {
        EXPECT_EQ(r.rows.at(0).at(1), std::to_string(demo::kPatientsB));
    }
    auto a = to_query_result(next_result(alice_.get(), deadline));
    while (PGresult* extra = next_result(alice_.get(), deadline)) PQclear(extra);
    EXPECT_TRUE(no_b(a));
    if (a.ok()) {
        EXPECT_EQ(a.rows.at(0).at(0), std::to_string(demo::kPatientsA));
    }
    expect_bob_bound();
}

// ===================================================================================
// 8. Everything else an attacker tries.
// ===================================================================================

TEST_F(AdversarialTest, LoopbacksAndExtensionsAreUnavailable) {
    for (const char* sql : {"CREATE EXTENSION dblink", "CREATE EXTENSION postgres_fdw",
                            "SELECT dblink_connect('host=127.0.0.1 user=postgres')",
                            "CREATE SERVER loop FOREIGN DATA WRAPPER postgres_fdw",
                            "COPY patients FROM PROGRAM 'cat /etc/passwd'",
                            "CREATE TABLE public.stolen AS SELECT * FROM patients",
                            "LOAD 'plpgsql'", "CREATE LANGUAGE plperlu"}) {
        SCOPED_TRACE(sql);
        auto r = run(alice_.get(), sql);
        EXPECT_FALSE(r.ok()) << "accepted";
        EXPECT_TRUE(no_b(r));
    }
    run(su_.get(), "DROP TABLE IF EXISTS public.stolen");
}

}  // namespace
}  // namespace pgtenant::testing
