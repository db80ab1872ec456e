-- W6 through pgtenant: read and update one patient of the login's practice in one transaction.
-- The application sends only its statements; pgtenant binds the practice. Runs with -M simple,
-- extended or prepared. Variables (-D): practice, patients.
\set patient (:practice - 1) * :patients + random(1, :patients)
BEGIN;
SELECT id, name, date_of_birth FROM patients WHERE id = :patient;
UPDATE patients SET date_of_birth = date_of_birth WHERE id = :patient;
COMMIT;
