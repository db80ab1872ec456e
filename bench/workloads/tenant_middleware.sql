-- W3 against direct PostgreSQL and PgBouncer: what application middleware does today. Every
-- transaction picks a random practice, binds it with set_config(..., true) inside an explicit
-- transaction, then reads one of that practice's patients. Four round trips per transaction.
-- pgbench -M simple only: the practice uuid is spliced into the literal as text.
-- Variables (-D): practices, patients. Schema: bench/tenant_schema.sql.
\set practice random(1, :practices)
\set uuid_tail 100000000000 + :practice
\set patient (:practice - 1) * :patients + random(1, :patients)
BEGIN;
SELECT set_config('app.current_practice_id', '00000000-0000-0000-0000-:uuid_tail', true);
SELECT id, name, date_of_birth FROM patients WHERE id = :patient;
COMMIT;
