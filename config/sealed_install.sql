-- pgtenant sealed context, install script. Version 3.
--
-- Installs what sealed mode needs in one database (DESIGN §3.3):
--   schema pgtenant              owned by the NOLOGIN role pgtenant_owner
--   pgcrypto                     CREATE EXTENSION ... WITH SCHEMA pgtenant when not installed;
--                                when it already lives in another schema, that schema's hmac()
--                                is used, fully qualified, through pgtenant.hmac_sha256()
--   pgtenant.context_keys        the HMAC keys; nobody but pgtenant_owner and superusers can read
--   pgtenant.practice_id()       verifier of the token in `pgtenant.context`: the practice
--                                uuid, or NULL for anything else (never raises). In C when the
--                                server has pgtenant_verifier.so (a few microseconds a query),
--                                else in PL/pgSQL (SECURITY DEFINER; tens of microseconds)
--   pgtenant.enable_sealed_policy(table, column) creates policy pgtenant_sealed on a table
--   pgtenant.add_key(kid, hex) / pgtenant.retire_key(kid)   key management (rotation)
--   pgtenant.version()           '3'
--   pgtenant.verifier()          'c' or 'plpgsql': which verifier is installed
--
-- Run as a superuser, naming the role pgtenant's backends log in as:
--   psql -v ON_ERROR_STOP=1 -v pool_role=pgtenant_pool -d <db> -f config/sealed_install.sql
-- then install the key that `pgtenant` printed: SELECT pgtenant.add_key('<kid>', '<hex>');
-- Safe to run again (upgrades functions in place; keys and policies are kept).
--
-- Which verifier: -v verifier=auto (the default) installs the C one when the server can load
-- the library pgtenant_verifier (copied into `pg_config --pkglibdir`, see the README) and the
-- PL/pgSQL one otherwise, with a NOTICE saying which; -v verifier=c fails when the library is
-- missing; -v verifier=plpgsql never uses it (e.g. a managed server without custom C code).
-- Both accept exactly the same tokens. Run the script again after installing the library.
--
-- Upgrading from version 2: run this script again (with the library installed, to switch to
-- the C verifier). Upgrading from version 1 (same grammar, same keys, a verifier over 100 times faster): run
-- this script again; nothing else. Policies made by enable_sealed_policy refer to the function,
-- not its text, and already call it once per query, so they use the new verifier at once. A
-- hand-written policy that calls pgtenant.practice_id() outside a sub-SELECT is reported with a
-- WARNING: it pays for a verification on every row; wrap the call in (SELECT ...), or drop it
-- and use enable_sealed_policy.
--
-- The pool role gets USAGE on schema pgtenant and EXECUTE on pgtenant.practice_id() only. Any
-- other role that queries a sealed table needs the same two grants, or its queries fail with
-- "permission denied" (fail closed).

\set ON_ERROR_STOP on

\if :{?verifier}
\else
\set verifier auto
\endif
SELECT :'verifier' NOT IN ('auto', 'c', 'plpgsql') AS verifier_bad \gset
\if :verifier_bad
\echo 'sealed_install.sql: -v verifier= takes auto, c or plpgsql, not' :'verifier'
DO $$ BEGIN RAISE EXCEPTION 'bad psql variable verifier'; END $$;
\endif

\if :{?pool_role}
\else
\echo 'sealed_install.sql: pass -v pool_role=<the role pgtenant logs in as>'
DO $$ BEGIN RAISE EXCEPTION 'psql variable pool_role is not set'; END $$;
\endif

SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :'pool_role') AS pool_missing,
       EXISTS (SELECT 1 FROM pg_catalog.pg_roles
               WHERE rolname = :'pool_role' AND (rolsuper OR rolbypassrls)) AS pool_privileged,
       NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgtenant_owner') AS need_owner
\gset
\if :pool_missing
\echo 'sealed_install.sql: the pool role' :'pool_role' 'does not exist'
DO $$ BEGIN RAISE EXCEPTION 'pool role does not exist'; END $$;
\endif
\if :pool_privileged
\echo 'sealed_install.sql: the pool role' :'pool_role' 'is SUPERUSER or BYPASSRLS: no policy binds it'
DO $$ BEGIN RAISE EXCEPTION 'pool role bypasses row-level security'; END $$;
\endif
\if :need_owner
CREATE ROLE pgtenant_owner NOLOGIN;
\endif
ALTER ROLE pgtenant_owner NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION;

BEGIN;
-- Every name below resolves in pg_catalog first; nothing a user created can stand in.
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE SCHEMA IF NOT EXISTS pgtenant AUTHORIZATION pgtenant_owner;
ALTER SCHEMA pgtenant OWNER TO pgtenant_owner;
REVOKE ALL ON SCHEMA pgtenant FROM PUBLIC;
REVOKE ALL ON SCHEMA pgtenant FROM :"pool_role";
GRANT USAGE ON SCHEMA pgtenant TO :"pool_role";

CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA pgtenant;
SELECT n.nspname AS crypto_schema
  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pgcrypto'
\gset

CREATE OR REPLACE FUNCTION pgtenant.version() RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT '3'::pg_catalog.text $$;

-- HMAC-SHA256 through wherever pgcrypto lives, with exact argument types so no overload that
-- another role might create can be chosen instead.
SELECT pg_catalog.format(
    'CREATE OR REPLACE FUNCTION pgtenant.hmac_sha256(data bytea, key bytea) RETURNS bytea '
    'LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS %L',
    pg_catalog.format('SELECT %I.hmac($1, $2, %L::pg_catalog.text)', :'crypto_schema', 'sha256'))
\gexec
SELECT pg_catalog.format('GRANT USAGE ON SCHEMA %I TO pgtenant_owner', :'crypto_schema'),
       pg_catalog.format('GRANT EXECUTE ON FUNCTION %I.hmac(bytea, bytea, text) TO pgtenant_owner',
                         :'crypto_schema')
\gexec

CREATE TABLE IF NOT EXISTS pgtenant.context_keys (
    kid        text PRIMARY KEY CHECK ((kid COLLATE "C") ~ '^[a-z0-9_-]{1,32}$'),
    key        bytea NOT NULL CHECK (length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);
ALTER TABLE pgtenant.context_keys OWNER TO pgtenant_owner;
REVOKE ALL ON pgtenant.context_keys FROM PUBLIC;
REVOKE ALL ON pgtenant.context_keys FROM :"pool_role";

-- The verifier. Either way PARALLEL RESTRICTED: pg_backend_pid() must be the leader's, as in
-- the token. The policy's InitPlan runs in the leader and parallel workers receive its result,
-- so parallel scans stay.
--
-- Can the server load the C one? LOAD looks in dynamic_library_path ($libdir by default).
SELECT :'verifier' <> 'plpgsql' AS probe_c \gset
\if :probe_c
DO $do$
BEGIN
    EXECUTE 'LOAD ''pgtenant_verifier''';
    PERFORM pg_catalog.set_config('pgtenant_install.c_loads', 'yes', true);
EXCEPTION WHEN OTHERS THEN  -- missing, or built for another server version
    PERFORM pg_catalog.set_config('pgtenant_install.c_error', SQLERRM, true);
END
$do$;
\endif
SELECT pg_catalog.current_setting('pgtenant_install.c_loads', true) IS NOT DISTINCT FROM 'yes'
       AS use_c,
       COALESCE(pg_catalog.current_setting('pgtenant_install.c_error', true), '')
       AS c_error \gset
SELECT :'verifier' = 'c' AND NOT :'use_c'::pg_catalog.bool AS c_missing \gset
\if :c_missing
\echo 'sealed_install.sql: verifier=c, but the server cannot load the library pgtenant_verifier:' :c_error
\echo 'copy build/auth/server_verifier/pgtenant_verifier.so into `pg_config --pkglibdir` (README, "Sealed mode")'
DO $$ BEGIN RAISE EXCEPTION 'library pgtenant_verifier cannot be loaded'; END $$;
\endif

\if :use_c
\echo 'sealed_install.sql: pgtenant.practice_id() is the C verifier (library pgtenant_verifier)'
-- auth/server_verifier/pgtenant_verifier.c: the same checks as the PL/pgSQL verifier below,
-- reads the key table itself (not through SQL), so it needs no SECURITY DEFINER and no
-- search_path. Replacing the PL/pgSQL function resets both.
CREATE OR REPLACE FUNCTION pgtenant.practice_id() RETURNS uuid
    LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'pgtenant_verifier', 'pgtenant_practice_id';
\else
\if :probe_c
\echo 'sealed_install.sql: pgtenant.practice_id() is the PL/pgSQL verifier; the faster C one did not load:' :c_error '(README, "Sealed mode")'
\else
\echo 'sealed_install.sql: pgtenant.practice_id() is the PL/pgSQL verifier (verifier=plpgsql)'
\endif
-- The token (auth/context_token.h): v1.<kid>.<uuid>.<pid>.<expires>.<hex hmac>.
--
-- Cost matters: policies run this once per query (the sub-SELECT in enable_sealed_policy makes
-- it an InitPlan), and in each new transaction PL/pgSQL sets up every statement's expressions
-- again (an EXECUTE privilege check per operator and function), so there are few of both.
-- Version 1 matched the grammar with one regular expression with capture groups and counted
-- repeats: about 3 ms a call in PostgreSQL's engine. This version uses none (a compiled one can
-- also fall out of the backend's small regex cache and be rebuilt on every call): it splits on
-- '.' and checks each field with LIKE, ltrim() and plain comparisons, and casts only checked
-- text, so no input raises. Cheap rejections first; the key lookup and the three HMACs last.
--   kid      only compared with context_keys.kid, whose CHECK holds the grammar: any other
--            string finds no key
--   uuid     canonical lower-case 8-4-4-4-12: 36 characters with '-' at 9, 14, 19 and 24, and
--            32 hex digits once the '-' are gone
--   pid      equal, as text, to pg_backend_pid()::text: canonical digits, no sign or zeros
--   expires  1..18 ASCII digits (fits int8), the first not '0' (in "C" order, a string of
--            digits is >= '1' exactly when it is not empty and does not start with '0')
--   mac      the given text is compared with the expected lower-case hex through HMACs of both
--            (equal-prefix timing then tells nothing about the MAC): only that exact string
--            matches, so its shape needs no check, and when it matches it is 64 characters, so
--            the signed text is the token without its last 65
-- plpgsql rather than LANGUAGE sql: a SECURITY DEFINER sql function is never inlined and is
-- planned again in every query that calls it; plpgsql keeps its plans for the session.
CREATE OR REPLACE FUNCTION pgtenant.practice_id() RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    token text := pg_catalog.current_setting('pgtenant.context', true);
    parts text[] := CASE WHEN pg_catalog.octet_length(token) <= 200
                         THEN pg_catalog.string_to_array(token, '.') END;
    uuid_digits text := pg_catalog.replace(parts[3], '-', '');
    signing_key bytea;
BEGIN
    -- IS NOT FALSE: a NULL anywhere (no token, an over-long one) counts as malformed.
    IF (pg_catalog.cardinality(parts) <> 6
        OR parts[1] <> 'v1'
        OR parts[4] <> pg_catalog.pg_backend_pid()::text
        OR pg_catalog.ltrim(parts[5], '0123456789') <> ''
        OR (parts[5] COLLATE pg_catalog."C") < '1'
        OR pg_catalog.length(parts[5]) > 18
        OR (parts[3] COLLATE pg_catalog."C") NOT LIKE '________-____-____-____-____________'
        OR (uuid_digits COLLATE pg_catalog."C") NOT LIKE '________________________________'
        OR pg_catalog.ltrim(uuid_digits, '0123456789abcdef') <> '') IS NOT FALSE THEN
        RETURN NULL;
    END IF;
    -- A statement of its own: SQL does not promise to evaluate OR operands in order, and the
    -- cast of expires is safe only once its digits are checked. No key: NULL, and so is every
    -- HMAC below (STRICT), which fails the comparison.
    SELECT k.key INTO signing_key
      FROM pgtenant.context_keys k
     WHERE k.kid = parts[2] AND (k.retired_at IS NULL OR k.retired_at > pg_catalog.now())
       AND parts[5]::pg_catalog.int8 > pg_catalog.date_part('epoch', pg_catalog.now());
    IF pgtenant.hmac_sha256(pg_catalog.convert_to(parts[6], 'UTF8'), signing_key)
       OPERATOR(pg_catalog.=) pgtenant.hmac_sha256(
           pg_catalog.convert_to(pg_catalog.encode(pgtenant.hmac_sha256(
               pg_catalog.convert_to(pg_catalog.left(token, -65), 'UTF8'), signing_key), 'hex'),
               'UTF8'),
           signing_key) THEN
        RETURN parts[3]::uuid;
    END IF;
    RETURN NULL;
END
$fn$;
\endif

-- ENABLE + FORCE row-level security on `tbl` and (re)create policy pgtenant_sealed binding
-- `col` (a uuid column) to the sealed context. Other permissive policies are OR-ed with it and
-- would reopen the table, so they are reported.
CREATE OR REPLACE FUNCTION pgtenant.enable_sealed_policy(tbl regclass, col name DEFAULT 'practice_id')
    RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    col_type regtype;
    others text;
BEGIN
    SELECT a.atttypid::regtype INTO col_type
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF col_type IS NULL THEN
        RAISE EXCEPTION 'table % has no column %', tbl, pg_catalog.quote_ident(col);
    ELSIF col_type <> 'uuid'::regtype THEN
        RAISE EXCEPTION 'column %.% is %, not uuid', tbl, pg_catalog.quote_ident(col), col_type;
    END IF;
    -- With search_path = pg_catalog, regclass prints schema-qualified.
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE pg_catalog.format('DROP POLICY IF EXISTS pgtenant_sealed ON %s', tbl);
    EXECUTE pg_catalog.format(
        'CREATE POLICY pgtenant_sealed ON %s USING (%I = (SELECT pgtenant.practice_id())) '
        'WITH CHECK (%I = (SELECT pgtenant.practice_id()))', tbl, col, col);
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p.polname), ', ') INTO others
      FROM pg_catalog.pg_policy p
     WHERE p.polrelid = tbl AND p.polname <> 'pgtenant_sealed' AND p.polpermissive;
    IF others IS NOT NULL THEN
        RAISE WARNING 'table % also has permissive policies (%), OR-ed with pgtenant_sealed: '
                      'drop them or make them RESTRICTIVE', tbl, others;
    END IF;
END
$fn$;

-- Installs a key. Adding the same kid with the same key again is a no-op.
CREATE OR REPLACE FUNCTION pgtenant.add_key(kid text, hex text)
    RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    raw bytea;
    existing pgtenant.context_keys;
BEGIN
    IF add_key.kid IS NULL OR (add_key.kid COLLATE "C") !~ '^[a-z0-9_-]{1,32}$' THEN
        RAISE EXCEPTION 'key id must be 1..32 characters of [a-z0-9_-]';
    END IF;
    IF add_key.hex IS NULL OR (add_key.hex COLLATE "C") !~ '^[0-9a-fA-F]{64}$' THEN
        RAISE EXCEPTION 'key must be 64 hex digits (32 bytes)';
    END IF;
    raw := pg_catalog.decode(add_key.hex, 'hex');
    SELECT * INTO existing FROM pgtenant.context_keys k WHERE k.kid = add_key.kid FOR UPDATE;
    IF existing.kid IS NULL THEN
        INSERT INTO pgtenant.context_keys (kid, key) VALUES (add_key.kid, raw);
    ELSIF existing.key <> raw THEN
        RAISE EXCEPTION 'key id % is already installed with a different key', add_key.kid;
    ELSIF existing.retired_at IS NOT NULL THEN
        RAISE EXCEPTION 'key id % was retired; use a new key id', add_key.kid;
    END IF;
END
$fn$;

-- Retires a key: tokens signed with it stop verifying at once. Retire a kid only after every
-- pgtenant signs with its successor (put the new key first in the key file and reload).
CREATE OR REPLACE FUNCTION pgtenant.retire_key(kid text)
    RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    UPDATE pgtenant.context_keys k SET retired_at = pg_catalog.now()
     WHERE k.kid = retire_key.kid AND (k.retired_at IS NULL OR k.retired_at > pg_catalog.now());
    IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM pgtenant.context_keys k
                                 WHERE k.kid = retire_key.kid) THEN
        RAISE EXCEPTION 'no key with id %', retire_key.kid;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pgtenant.context_keys k WHERE k.retired_at IS NULL) THEN
        RAISE WARNING 'no active key is left: every sealed table now shows no rows';
    END IF;
END
$fn$;

ALTER FUNCTION pgtenant.version() OWNER TO pgtenant_owner;
ALTER FUNCTION pgtenant.hmac_sha256(bytea, bytea) OWNER TO pgtenant_owner;
ALTER FUNCTION pgtenant.practice_id() OWNER TO pgtenant_owner;
ALTER FUNCTION pgtenant.enable_sealed_policy(regclass, name) OWNER TO pgtenant_owner;
ALTER FUNCTION pgtenant.add_key(text, text) OWNER TO pgtenant_owner;
ALTER FUNCTION pgtenant.retire_key(text) OWNER TO pgtenant_owner;

-- Nothing in the schema is callable by default (pgcrypto's functions included, when they live
-- here); the pool role may call the verifier and nothing else.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgtenant FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgtenant FROM :"pool_role";
GRANT EXECUTE ON FUNCTION pgtenant.practice_id() TO :"pool_role";

-- A policy that calls the verifier outside a sub-SELECT runs it once per row it filters instead
-- of once per query. enable_sealed_policy never did; hand-written policies may.
DO $do$
DECLARE
    pol record;
BEGIN
    FOR pol IN
        SELECT p.polname, p.polrelid::pg_catalog.regclass AS tbl
          FROM pg_catalog.pg_policy p
         WHERE EXISTS (
                SELECT FROM (VALUES (pg_catalog.pg_get_expr(p.polqual, p.polrelid)),
                                    (pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))) e(expr)
                 WHERE pg_catalog.replace(e.expr, 'SELECT pgtenant.practice_id()', '')
                       LIKE '%pgtenant.practice_id()%')
    LOOP
        RAISE WARNING 'policy % on % calls pgtenant.practice_id() once per row: write '
                      '(SELECT pgtenant.practice_id()) instead, or drop it and run '
                      'SELECT pgtenant.enable_sealed_policy(''%'', ''<uuid column>'')',
                      pg_catalog.quote_ident(pol.polname), pol.tbl, pol.tbl;
    END LOOP;
END
$do$;

COMMIT;
