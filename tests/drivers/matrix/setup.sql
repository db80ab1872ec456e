-- Schema for the driver matrix (tests/integration/driver_matrix_*_test.cpp), loaded as a
-- superuser after the demo schema and config/sealed_install.sql. Re-running it is safe.
--   psql -v ON_ERROR_STOP=1 -v direct_password=... -v ddl_password=... -f setup.sql
--
-- matrix_rows      the tenant table every driver program writes its committed rows into,
--                  tagged by run, scenario and client connection; sealed policy for the pool
--                  role, and a plain per-login policy for the two "direct" logins that reach
--                  PostgreSQL without pgtenant (the control runs).
-- matrix_copy_in   COPY FROM STDIN cannot target a table with row-level security; programs
--                  copy into this staging table and move the rows with INSERT ... SELECT.
-- matrix_sp0..7    one schema per client connection, each with a marker table holding its
--                  number: `SELECT v FROM marker` says which search_path a statement ran with.
-- drivers_ddl      a superuser over TCP: ALTER TABLE midway, the final counts.

\set ON_ERROR_STOP on

SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'matrix_alice') AS need_roles \gset
\if :need_roles
CREATE ROLE matrix_alice LOGIN;
CREATE ROLE matrix_bob LOGIN;
\endif
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'drivers_ddl') AS need_ddl \gset
\if :need_ddl
CREATE ROLE drivers_ddl LOGIN SUPERUSER;
\endif
ALTER ROLE matrix_alice LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'direct_password';
ALTER ROLE matrix_bob LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'direct_password';
ALTER ROLE drivers_ddl PASSWORD :'ddl_password';
-- The control runs check that each driver prepared its statements; hardening.sql took the view
-- from PUBLIC (and the pool role), not from these direct-only logins.
GRANT SELECT ON pg_catalog.pg_prepared_statements TO matrix_alice, matrix_bob;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_prepared_statement() TO matrix_alice, matrix_bob;

BEGIN;
CREATE TABLE IF NOT EXISTS matrix_rows (
    practice_id uuid NOT NULL REFERENCES practices (id),
    run         text NOT NULL,
    scenario    text NOT NULL,
    conn        int NOT NULL,
    txn         int NOT NULL,
    local_ts    timestamptz,  -- a zone-less literal, read in the session's TimeZone
    aware_ts    timestamptz,  -- a driver-typed value with a time zone
    note        text
);
CREATE INDEX IF NOT EXISTS matrix_rows_run_idx ON matrix_rows (run, scenario, conn);
ALTER TABLE matrix_rows OWNER TO pgtenant_migrator;
\if :sealed
SELECT pgtenant.enable_sealed_policy('public.matrix_rows');
ALTER POLICY pgtenant_sealed ON matrix_rows TO pgtenant_pool;
\else
-- Compat mode: the practice is the plain setting pgtenant binds.
ALTER TABLE matrix_rows ENABLE ROW LEVEL SECURITY;
ALTER TABLE matrix_rows FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS matrix_compat ON matrix_rows;
CREATE POLICY matrix_compat ON matrix_rows TO pgtenant_pool
    USING (practice_id = current_setting('app.current_practice_id')::uuid)
    WITH CHECK (practice_id = current_setting('app.current_practice_id')::uuid);
\endif
DROP POLICY IF EXISTS direct_alice ON matrix_rows;
DROP POLICY IF EXISTS direct_bob ON matrix_rows;
CREATE POLICY direct_alice ON matrix_rows TO matrix_alice
    USING (practice_id = '11111111-1111-1111-1111-111111111111')
    WITH CHECK (practice_id = '11111111-1111-1111-1111-111111111111');
CREATE POLICY direct_bob ON matrix_rows TO matrix_bob
    USING (practice_id = '22222222-2222-2222-2222-222222222222')
    WITH CHECK (practice_id = '22222222-2222-2222-2222-222222222222');
GRANT SELECT, INSERT, UPDATE, DELETE ON matrix_rows TO pgtenant_pool, matrix_alice, matrix_bob;

CREATE TABLE IF NOT EXISTS matrix_copy_in (run text, conn int, txn int, local_ts timestamptz);
GRANT SELECT, INSERT, DELETE ON matrix_copy_in TO pgtenant_pool, matrix_alice, matrix_bob;

DO $$
BEGIN
    FOR i IN 0..7 LOOP
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS matrix_sp%s', i);
        EXECUTE format('CREATE TABLE IF NOT EXISTS matrix_sp%s.marker (v int)', i);
        EXECUTE format('TRUNCATE matrix_sp%s.marker', i);
        EXECUTE format('INSERT INTO matrix_sp%s.marker VALUES (%s)', i, i);
        EXECUTE format('GRANT USAGE ON SCHEMA matrix_sp%s TO pgtenant_pool, matrix_alice, matrix_bob', i);
        EXECUTE format('GRANT SELECT ON matrix_sp%s.marker TO pgtenant_pool, matrix_alice, matrix_bob', i);
    END LOOP;
END$$;
COMMIT;
