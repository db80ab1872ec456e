-- W6 against direct PostgreSQL and PgBouncer: the same read and update, with the practice bound
-- by hand as application middleware does (set_config(..., true) in the transaction). The uuid
-- is built in SQL, so the practice travels as a parameter with -M extended or prepared.
-- Variables (-D): practices, patients.
\set practice random(1, :practices)
\set patient (:practice - 1) * :patients + random(1, :patients)
BEGIN;
SELECT set_config('app.current_practice_id', '00000000-0000-0000-0000-' || (100000000000 + :practice), true);
SELECT id, name, date_of_birth FROM patients WHERE id = :patient;
UPDATE patients SET date_of_birth = date_of_birth WHERE id = :patient;
COMMIT;
