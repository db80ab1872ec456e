// Cross-tenant isolation through pgtenant with node-postgres (run by drivers_test).
// Usage: node pg_isolation.js <prepared|ddl>
//   prepared: named queries ({name, text, values}) from 4 clients (alice, bob, alice, bob)
//             concurrently, 20 rounds; a transaction with own-practice inserts, rolled back.
//   ddl:      a named query over a helper table, ALTER TABLE by a superuser directly, re-run:
//             new shape or PostgreSQL's 0A000, never a hang.
'use strict';
const { Client } = require('pg');
const c = require('./common.js');

function client(login) {
  return new Client({
    host: process.env.PGTENANT_HOST,
    port: Number(process.env.PGTENANT_PORT),
    database: 'postgres',
    user: login,
    password: c.password(login),
    ssl: false,
    connectionTimeoutMillis: 10000,
    query_timeout: 15000,
    application_name: 'node-pg-' + login,
  });
}

const PATIENTS_Q = 'SELECT practice_id::text AS practice_id, name FROM patients WHERE name <> $1 ORDER BY name';
const MEALS_Q = 'SELECT practice_id::text AS practice_id, meal_data FROM meal_logs WHERE length(meal_data::text) > $1';

async function prepared() {
  const clients = c.LOGINS.map(client);
  await Promise.all(clients.map((cl) => cl.connect()));
  try {
    for (let i = 0; i < c.ROUNDS; ++i) {
      await Promise.all(clients.map(async (cl, k) => {
        const login = c.LOGINS[k];
        const what = `${login}#${k} round ${i}`;
        const p = await cl.query({ name: 'patients', text: PATIENTS_Q, values: ['round ' + i] });
        c.ownRows(p.rows, login, c.PATIENTS[login], what + ' patients');
        const m = await cl.query({ name: 'meals', text: MEALS_Q, values: [i % 3] });
        c.ownRows(m.rows, login, c.MEAL_LOGS[login], what + ' meal_logs');
      }));
    }
    // Own-practice inserts in a transaction through a named statement, rolled back.
    await Promise.all(clients.slice(0, 2).map(async (cl, k) => {
      const login = c.LOGINS[k];
      await cl.query('BEGIN');
      for (let j = 0; j < 5; ++j) {
        await cl.query({
          name: 'ins',
          text: 'INSERT INTO patients (practice_id, name) VALUES ($1::uuid, $2)',
          values: [c.PRACTICE[login], 'node-pg ' + j],
        });
      }
      const inside = await cl.query({ name: 'patients', text: PATIENTS_Q, values: ['-'] });
      c.ownRows(inside.rows, login, c.PATIENTS[login] + 5, login + ' inside transaction');
      await cl.query('ROLLBACK');
      const after = await cl.query({ name: 'patients', text: PATIENTS_Q, values: ['-'] });
      c.ownRows(after.rows, login, c.PATIENTS[login], login + ' after rollback');
    }));
    // A foreign-practice insert by name is refused (42501) and the client goes on working.
    try {
      await clients[0].query({
        name: 'ins',
        text: 'INSERT INTO patients (practice_id, name) VALUES ($1::uuid, $2)',
        values: [c.PRACTICE.bob, 'intruder'],
      });
      c.check(false, 'alice: foreign-practice insert accepted');
    } catch (e) {
      c.check(e.code === '42501', 'alice: foreign insert: ' + c.errorText(e));
    }
    const again = await clients[0].query({ name: 'patients', text: PATIENTS_Q, values: ['-'] });
    c.ownRows(again.rows, 'alice', c.PATIENTS.alice, 'alice after refused insert');
  } finally {
    await Promise.all(clients.map((cl) => cl.end()));
  }
}

async function ddl() {
  const table = process.env.PGTENANT_DDL_TABLE;
  const admin = new Client({
    host: process.env.PGTENANT_DDL_HOST,
    port: Number(process.env.PGTENANT_DDL_PORT),
    database: 'postgres',
    user: process.env.PGTENANT_DDL_USER,
    password: process.env.PGTENANT_DDL_PASSWORD,
    ssl: false,
  });
  const clients = ['alice', 'bob'].map(client);
  await admin.connect();
  await Promise.all(clients.map((cl) => cl.connect()));
  const q = { name: 'shape', text: `SELECT * FROM ${table} WHERE a > $1`, values: [0] };
  try {
    for (const cl of clients) {
      for (let i = 0; i < 5; ++i) {
        const r = await cl.query(q);
        c.check(r.fields.length === 1 && r.rows.length === 1, 'ddl: before, shape');
      }
    }
    await admin.query(`ALTER TABLE ${table} ADD COLUMN b text NOT NULL DEFAULT 'new'`);
    for (const [k, cl] of clients.entries()) {
      for (let i = 0; i < 3; ++i) {
        try {
          const r = await cl.query(q);
          c.check(r.fields.length === 2 && r.rows[0].b === 'new', 'ddl: after, new shape');
          console.log(`ddl: client ${k} execution ${i} after ALTER: new shape`);
        } catch (e) {
          console.log(`ddl: client ${k} execution ${i} after ALTER: ${c.errorText(e)}`);
          c.check(e.code === '0A000', 'ddl: unexpected error ' + c.errorText(e));
        }
      }
      const r = await cl.query('SELECT count(*)::int AS n FROM patients');
      c.check(r.rows[0].n === c.PATIENTS[k === 0 ? 'alice' : 'bob'], 'ddl: client usable afterwards');
    }
  } finally {
    await Promise.all(clients.map((cl) => cl.end()));
    await admin.end();
  }
}

c.run((mode) => (mode === 'ddl' ? ddl() : prepared()));
