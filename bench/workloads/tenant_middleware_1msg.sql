-- W3, extra rows: the same middleware statements as tenant_middleware.sql sent as one simple
-- Query message (one round trip), the cheapest way to do the binding by hand.
\set practice random(1, :practices)
\set uuid_tail 100000000000 + :practice
\set patient (:practice - 1) * :patients + random(1, :patients)
BEGIN \; SELECT set_config('app.current_practice_id', '00000000-0000-0000-0000-:uuid_tail', true) \; SELECT id, name, date_of_birth FROM patients WHERE id = :patient \; COMMIT;
