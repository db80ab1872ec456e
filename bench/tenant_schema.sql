-- W3, the tenant workload: :practices practices x :patients patients in one table isolated by
-- row-level security, in the shape of config/demo_schema.sql's patients table (practice_id uuid,
-- RLS enabled and forced) but with a bigint key so pgbench can pick a patient by number.
--
-- Run as a superuser into an empty database (bench/run.sh does this):
--   psql -v ON_ERROR_STOP=1 -v pool_role=bench_pool -v practices=100 -v patients=1000 \
--        -v policy=compat -f bench/tenant_schema.sql
-- policy=compat  the familiar policy on current_setting('app.current_practice_id'), which both
--                the middleware pattern (direct, PgBouncer) and pgtenant in compat mode satisfy;
-- policy=sealed  no policy here: run config/sealed_install.sql, then
--                SELECT pgtenant.enable_sealed_policy('public.patients')  (pgtenant sealed mode).
--
-- Practice n (1..practices) has the uuid 00000000-0000-0000-0000-<100000000000 + n>, a form
-- pgbench can splice into a literal; patient k (1..patients) of practice n has id
-- (n - 1) * patients + k.

\set ON_ERROR_STOP on

BEGIN;
CREATE TABLE patients (
    id            bigint PRIMARY KEY,
    practice_id   uuid NOT NULL,
    name          text NOT NULL,
    date_of_birth date,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (practice_id, id)
);

INSERT INTO patients (id, practice_id, name, date_of_birth)
SELECT (p - 1) * :patients + k,
       ('00000000-0000-0000-0000-' || (100000000000 + p))::uuid,
       'patient ' || p || '-' || k,
       date '1940-01-01' + (p * 7919 + k * 104729) % 30000
  FROM generate_series(1, :practices) AS p, generate_series(1, :patients) AS k;

ALTER TABLE patients ENABLE ROW LEVEL SECURITY;
ALTER TABLE patients FORCE ROW LEVEL SECURITY;
SELECT :'policy' = 'compat' AS compat_policy \gset
\if :compat_policy
-- Without missing_ok: an unbound transaction fails closed instead of seeing nothing.
CREATE POLICY practice_isolation ON patients
    USING (practice_id = current_setting('app.current_practice_id')::uuid)
    WITH CHECK (practice_id = current_setting('app.current_practice_id')::uuid);
\endif

REVOKE ALL ON patients FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON patients TO :"pool_role";
COMMIT;
VACUUM ANALYZE patients;
