// Cross-tenant isolation through pgtenant with postgres.js (run by drivers_test).
// Usage: node postgresjs_isolation.mjs <prepared|ddl>
//   prepared: default prepared mode (prepare: true: every tagged-template query becomes a named
//             statement), 4 single-connection clients (alice, bob, alice, bob) concurrently,
//             20 rounds; sql.begin with own-practice inserts, rolled back.
//   ddl:      a query over a helper table, ALTER TABLE by a superuser directly, re-run:
//             new shape or PostgreSQL's 0A000, never a hang.
import postgres from 'postgres';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const c = require('./common.js');

function connect(login) {
  return postgres({
    host: process.env.PGTENANT_HOST,
    port: Number(process.env.PGTENANT_PORT),
    database: 'postgres',
    username: login,
    password: c.password(login),
    ssl: false,
    max: 1,
    prepare: true,  // the default, spelled out
    connect_timeout: 10,
    idle_timeout: 0,
    connection: { application_name: 'postgresjs-' + login },
    onnotice: () => {},
  });
}

class Rollback extends Error {}

async function prepared() {
  const sqls = c.LOGINS.map(connect);
  try {
    for (let i = 0; i < c.ROUNDS; ++i) {
      await Promise.all(sqls.map(async (sql, k) => {
        const login = c.LOGINS[k];
        const what = `${login}#${k} round ${i}`;
        const name = 'round ' + i;
        const p = await sql`SELECT practice_id::text AS practice_id, name FROM patients WHERE name <> ${name} ORDER BY name`;
        c.ownRows(p, login, c.PATIENTS[login], what + ' patients');
        const len = i % 3;
        const m = await sql`SELECT practice_id::text AS practice_id, meal_data FROM meal_logs WHERE length(meal_data::text) > ${len}`;
        c.ownRows(m, login, c.MEAL_LOGS[login], what + ' meal_logs');
      }));
    }
    await Promise.all(sqls.slice(0, 2).map(async (sql, k) => {
      const login = c.LOGINS[k];
      try {
        await sql.begin(async (tx) => {
          for (let j = 0; j < 5; ++j) {
            const n = 'postgres.js ' + j;
            await tx`INSERT INTO patients (practice_id, name) VALUES (${c.PRACTICE[login]}::uuid, ${n})`;
          }
          const inside = await tx`SELECT practice_id::text AS practice_id FROM patients`;
          c.ownRows(inside, login, c.PATIENTS[login] + 5, login + ' inside transaction');
          throw new Rollback();
        });
        c.check(false, login + ': transaction not rolled back');
      } catch (e) {
        if (!(e instanceof Rollback)) throw e;
      }
      const after = await sql`SELECT practice_id::text AS practice_id FROM patients`;
      c.ownRows(after, login, c.PATIENTS[login], login + ' after rollback');
    }));
    try {
      await sqls[0]`INSERT INTO patients (practice_id, name) VALUES (${c.PRACTICE.bob}::uuid, ${'intruder'})`;
      c.check(false, 'alice: foreign-practice insert accepted');
    } catch (e) {
      c.check(e.code === '42501', 'alice: foreign insert: ' + c.errorText(e));
    }
    const again = await sqls[0]`SELECT practice_id::text AS practice_id FROM patients`;
    c.ownRows(again, 'alice', c.PATIENTS.alice, 'alice after refused insert');
  } finally {
    await Promise.all(sqls.map((sql) => sql.end({ timeout: 5 })));
  }
}

async function ddl() {
  const table = process.env.PGTENANT_DDL_TABLE;
  const admin = postgres({
    host: process.env.PGTENANT_DDL_HOST,
    port: Number(process.env.PGTENANT_DDL_PORT),
    database: 'postgres',
    username: process.env.PGTENANT_DDL_USER,
    password: process.env.PGTENANT_DDL_PASSWORD,
    ssl: false,
    max: 1,
    onnotice: () => {},
  });
  const logins = ['alice', 'bob'];
  const sqls = logins.map(connect);
  const shape = (sql) => sql`SELECT * FROM ${sql(table)} WHERE a > ${0}`;
  try {
    for (const sql of sqls) {
      for (let i = 0; i < 5; ++i) {
        const r = await shape(sql);
        c.check(r.columns.length === 1 && r.length === 1, 'ddl: before, shape');
      }
    }
    await admin.unsafe(`ALTER TABLE ${table} ADD COLUMN b text NOT NULL DEFAULT 'new'`);
    for (const [k, sql] of sqls.entries()) {
      for (let i = 0; i < 3; ++i) {
        try {
          const r = await shape(sql);
          c.check(r.columns.length === 2 && r[0].b === 'new', 'ddl: after, new shape');
          console.log(`ddl: client ${k} execution ${i} after ALTER: new shape`);
        } catch (e) {
          console.log(`ddl: client ${k} execution ${i} after ALTER: ${c.errorText(e)}`);
          c.check(e.code === '0A000', 'ddl: unexpected error ' + c.errorText(e));
        }
      }
      const r = await sql`SELECT count(*)::int AS n FROM patients`;
      c.check(r[0].n === c.PATIENTS[logins[k]], 'ddl: client usable afterwards');
    }
  } finally {
    await Promise.all(sqls.map((sql) => sql.end({ timeout: 5 })));
    await admin.end({ timeout: 5 });
  }
}

c.run((mode) => (mode === 'ddl' ? ddl() : prepared()));
