-- pgtenant demo schema: the MealCircle model (practices, patients, meal logs) isolated by
-- row-level security on app.current_practice_id.
--
-- Load as a superuser into a fresh database:
--   psql -v ON_ERROR_STOP=1 -v pool_password='...' -f config/demo_schema.sql
--
-- Roles:
--   pgtenant_migrator  NOLOGIN; owns the tables. Owners normally bypass RLS, so every table
--                      also gets FORCE ROW LEVEL SECURITY.
--   pgtenant_pool      the role pgtenant's backends log in as: LOGIN but nothing else, so it
--                      can never bypass the policies, and it owns nothing.
-- Re-running the script is safe: roles are altered, tables kept, policies recreated.

\set ON_ERROR_STOP on

SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgtenant_migrator') AS need_migrator,
       NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgtenant_pool') AS need_pool
\gset
\if :need_migrator
CREATE ROLE pgtenant_migrator NOLOGIN;
\endif
\if :need_pool
CREATE ROLE pgtenant_pool LOGIN;
\endif
ALTER ROLE pgtenant_migrator NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB;
-- The password comes from a psql variable so it never sits in this file.
ALTER ROLE pgtenant_pool LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION
    PASSWORD :'pool_password';

BEGIN;

CREATE TABLE IF NOT EXISTS practices (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS patients (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    practice_id   uuid NOT NULL REFERENCES practices (id),
    name          text NOT NULL,
    date_of_birth date,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Lets meal_logs reference (practice, patient) together, so a meal log can never point
    -- at another practice's patient even though foreign-key checks ignore RLS.
    UNIQUE (practice_id, id)
);

CREATE TABLE IF NOT EXISTS meal_logs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    practice_id uuid NOT NULL REFERENCES practices (id),
    patient_id  uuid NOT NULL,
    logged_at   timestamptz NOT NULL,
    meal_data   jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id)
);

CREATE INDEX IF NOT EXISTS meal_logs_practice_patient_idx
    ON meal_logs (practice_id, patient_id, logged_at);

ALTER TABLE practices OWNER TO pgtenant_migrator;
ALTER TABLE patients  OWNER TO pgtenant_migrator;
ALTER TABLE meal_logs OWNER TO pgtenant_migrator;

ALTER TABLE practices ENABLE ROW LEVEL SECURITY;
ALTER TABLE practices FORCE ROW LEVEL SECURITY;
ALTER TABLE patients  ENABLE ROW LEVEL SECURITY;
ALTER TABLE patients  FORCE ROW LEVEL SECURITY;
ALTER TABLE meal_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE meal_logs FORCE ROW LEVEL SECURITY;

-- current_setting() without missing_ok: when no practice is bound the cast or the lookup
-- raises an error, so an unbound transaction fails closed instead of seeing nothing quietly.
DROP POLICY IF EXISTS practice_isolation ON practices;
CREATE POLICY practice_isolation ON practices
    USING (id = current_setting('app.current_practice_id')::uuid)
    WITH CHECK (id = current_setting('app.current_practice_id')::uuid);

DROP POLICY IF EXISTS practice_isolation ON patients;
CREATE POLICY practice_isolation ON patients
    USING (practice_id = current_setting('app.current_practice_id')::uuid)
    WITH CHECK (practice_id = current_setting('app.current_practice_id')::uuid);

DROP POLICY IF EXISTS practice_isolation ON meal_logs;
CREATE POLICY practice_isolation ON meal_logs
    USING (practice_id = current_setting('app.current_practice_id')::uuid)
    WITH CHECK (practice_id = current_setting('app.current_practice_id')::uuid);

-- Only plain DML for the pool role: TRUNCATE ignores RLS, and TRIGGER/REFERENCES would let
-- it run code or probe keys outside the policies.
REVOKE ALL ON practices, patients, meal_logs FROM PUBLIC;
REVOKE ALL ON practices, patients, meal_logs FROM pgtenant_pool;
GRANT SELECT, INSERT, UPDATE, DELETE ON practices, patients, meal_logs TO pgtenant_pool;

COMMIT;
