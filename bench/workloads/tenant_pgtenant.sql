-- W3 through pgtenant: the application sends only its query; pgtenant binds the practice of the
-- login to the transaction. Each pgbench process logs in as the practice given by -D practice
-- and reads one of that practice's patients per transaction.
-- Variables (-D): practice, patients.
\set patient (:practice - 1) * :patients + random(1, :patients)
SELECT id, name, date_of_birth FROM patients WHERE id = :patient;
