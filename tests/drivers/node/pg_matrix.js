// node-postgres (pg) in the driver matrix (see matrix_common.js), used as its applications do:
// one pg.Client per connection, BEGIN / COMMIT / ROLLBACK and SAVEPOINT as queries, unnamed
// statements by default, named queries ({ name, text, values }) where the application asks for
// prepared statements. node-postgres has no COPY of its own (pg-copy-streams adds it), so it
// has no "copy" scenario.
//
// Usage: node pg_matrix.js <scenario>
//   settings, set_rollback, errors, ddl   the shared scenarios
//   prepared   settings with every statement a named query
'use strict';

const crypto = require('crypto');
const pg = require('pg');
const m = require('./matrix_common');

class NodePostgres {
  constructor() {
    this.name = 'node-postgres';
    this.ddlMode = 'never';  // a named query keeps failing with 0A000 after the ALTER
    this.named = false;
  }
  async open(host, port, user, password) {
    const c = new pg.Client({ host, port: Number(port), user, password, database: 'postgres', ssl: false,
      connectionTimeoutMillis: 10000 });
    await c.connect();
    return c;
  }
  connect(login) {
    return this.open(m.env('PGTENANT_HOST'), m.env('PGTENANT_PORT'), m.loginUser(login), m.loginPassword(login));
  }
  connectSuperuser() {
    return this.open(m.env('PGTENANT_DDL_HOST'), m.env('PGTENANT_DDL_PORT'), m.env('PGTENANT_DDL_USER'),
      m.env('PGTENANT_DDL_PASSWORD'));
  }
  close(c) { return c.end(); }
  async query(c, text, values = []) {
    const q = { text, values, rowMode: 'array' };
    if (this.named) q.name = 'm_' + crypto.createHash('sha1').update(text).digest('hex').slice(0, 20);
    return (await c.query(q)).rows;
  }
  async sessionSql(c, statements) {
    for (const s of statements) await c.query(s);
  }
  async tx(c, fn) {
    await c.query('BEGIN');
    try {
      await fn();
    } catch (e) {
      await c.query('ROLLBACK');
      throw e;
    }
    await c.query('COMMIT');
  }
  async savepoint(c, fn) {
    await c.query('SAVEPOINT matrix_sp');
    try {
      await fn();
    } catch (e) {
      await c.query('ROLLBACK TO SAVEPOINT matrix_sp');
      throw e;
    }
    await c.query('RELEASE SAVEPOINT matrix_sp');
  }
  async ddlQuery(c, table) {
    return (await c.query({ name: 'matrix_ddl', text: `SELECT * FROM ${table}`, rowMode: 'array' })).rows;
  }
}

const drv = new NodePostgres();
m.main(drv, {
  prepared: async (ctx) => { drv.named = true; await m.settings(ctx); },
});
