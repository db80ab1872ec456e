-- pgtenant hardening: takes away from the pool role what `pgtenant check` reports and the
-- demo schema leaves at PostgreSQL's defaults. The first part is what sealed mode requires
-- (pgtenant refuses to start in sealed mode while any of it is missing); the second is
-- recommended in both modes. `-v required_only=1` runs the first part alone. Run as a
-- superuser in the tenant database, after the schema (e.g. config/demo_schema.sql):
--   psql -v ON_ERROR_STOP=1 [-v pool_role=pgtenant_pool] -d <db> -f config/hardening.sql
--
-- Several privileges below are PostgreSQL defaults granted to PUBLIC, so they are revoked
-- from PUBLIC too: other roles of this database lose them as well. Grant them back by name to
-- the roles that need them (never to the pool role). Re-running the script is safe.

\set ON_ERROR_STOP on
\if :{?pool_role}
\else
\set pool_role pgtenant_pool
\endif

-- ---- 1. Required in sealed mode: direct reads of, or interference with, other practices.

-- Every practice shares the pool role: it could cancel or terminate the others' backends.
-- Large objects have no row-level security at all.
SELECT format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC, %I', p.oid::regprocedure, :'pool_role')
  FROM pg_proc p
 WHERE p.pronamespace = 'pg_catalog'::regnamespace
   AND (p.proname IN ('pg_terminate_backend', 'pg_cancel_backend', 'loread', 'lowrite')
        OR p.proname LIKE 'lo\_%')
\gexec

-- pg_stat_statements (when installed) shows every practice's statements: the view and the
-- function behind it.
SELECT format('REVOKE ALL ON %s FROM PUBLIC, %I', c.oid::regclass, :'pool_role')
  FROM pg_class c WHERE c.relname = 'pg_stat_statements' AND c.relkind = 'v'
\gexec
SELECT format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, %I', p.oid::regprocedure, :'pool_role')
  FROM pg_proc p WHERE p.proname = 'pg_stat_statements'
\gexec

-- pg_stat_activity would show other practices' query text (same role, so visible): the view
-- and the functions behind it. Superusers and pg_read_all_stats keep them; grant them back by
-- name to a monitoring role that needs them.
SELECT format('REVOKE SELECT ON pg_catalog.pg_stat_activity FROM PUBLIC, %I', :'pool_role')
\gexec
SELECT format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC, %I', p.oid::regprocedure, :'pool_role')
  FROM pg_proc p
 WHERE p.pronamespace = 'pg_catalog'::regnamespace
   AND p.proname IN ('pg_stat_get_activity', 'pg_stat_get_backend_activity')
\gexec

-- pg_prepared_statements shows the text of every statement prepared on a backend: other
-- clients' and, since pgtenant keeps prepared statements (and their plans) across practice
-- switches where the pool role cannot read them, other practices'. Where it can, pgtenant
-- deallocates them at every switch instead (slower: each is parsed and planned again).
SELECT format('REVOKE SELECT ON pg_catalog.pg_prepared_statements FROM PUBLIC, %I',
              :'pool_role')
\gexec
SELECT format('REVOKE EXECUTE ON FUNCTION pg_catalog.pg_prepared_statement() FROM PUBLIC, %I',
              :'pool_role')
\gexec

\if :{?required_only}
\quit
\endif

-- ---- 2. Recommended: what a practice could leave behind for the next one on a backend.

-- Temporary tables and functions would live on a pooled backend across practices.
SELECT format('REVOKE TEMPORARY, CREATE ON DATABASE %I FROM PUBLIC, %I', current_database(),
              :'pool_role')
\gexec
-- No schema of its own, no objects in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('REVOKE CREATE ON SCHEMA public FROM %I', :'pool_role')
\gexec

-- DO blocks run dynamic SQL (set_config with a computed name) that no statement guard sees.
-- Existing plpgsql functions keep working: calling them needs no USAGE on the language.
SELECT format('REVOKE USAGE ON LANGUAGE %I FROM PUBLIC, %I', lanname, :'pool_role')
  FROM pg_language WHERE lanispl
\gexec

-- And the text is not even collected for the pool role's sessions (skip this if you watch the
-- pool's backends in pg_stat_activity: their state then reads "disabled").
SELECT format('ALTER ROLE %I SET track_activities = off', :'pool_role')
\gexec
