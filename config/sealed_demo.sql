-- pgtenant demo schema in sealed mode: replaces the compat policies of config/demo_schema.sql
-- (which read app.current_practice_id, a setting any SQL can change) with policy
-- pgtenant_sealed, which reads the signed context through pgtenant.practice_id().
--
-- Run as a superuser after demo_schema.sql and sealed_install.sql:
--   psql -v ON_ERROR_STOP=1 -f config/sealed_demo.sql
-- Re-running it is safe. Going back to compat mode: re-run demo_schema.sql, then
--   DROP POLICY pgtenant_sealed ON practices, patients, meal_logs (one statement per table).

\set ON_ERROR_STOP on

BEGIN;
-- Dropped first: a permissive policy left beside the sealed one would be OR-ed with it.
DROP POLICY IF EXISTS practice_isolation ON public.practices;
DROP POLICY IF EXISTS practice_isolation ON public.patients;
DROP POLICY IF EXISTS practice_isolation ON public.meal_logs;

SELECT pgtenant.enable_sealed_policy('public.practices', 'id');
SELECT pgtenant.enable_sealed_policy('public.patients');
SELECT pgtenant.enable_sealed_policy('public.meal_logs');
COMMIT;
