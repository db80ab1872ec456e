// postgres.js in the driver matrix (see matrix_common.js) with its defaults: prepare: true
// (every query with parameters or not is a named prepared statement, reused across
// transactions), sql.begin() / savepoint() for transactions, COPY through writable() and
// readable(). One postgres() instance with max: 1 per client connection.
//
// Usage: node postgresjs_matrix.mjs <scenario>
//   settings, set_rollback, errors, copy, ddl   the shared scenarios
//   prepared   settings, then pg_prepared_statements must hold postgres.js's statements
import { finished } from 'stream/promises';
import postgres from 'postgres';
import m from './matrix_common.js';

class PostgresJs {
  constructor() {
    this.name = 'postgres.js';
    this.ddlMode = 'transparent';
  }
  async open(host, port, user, pass) {
    const sql = postgres({ host, port: Number(port), user, pass, database: 'postgres', ssl: false, max: 1,
      connect_timeout: 10, idle_timeout: 0, onnotice: () => {} });
    await sql`SELECT 1`;
    return { sql, h: sql };
  }
  connect(login) {
    return this.open(m.env('PGTENANT_HOST'), m.env('PGTENANT_PORT'), m.loginUser(login), m.loginPassword(login));
  }
  connectSuperuser() {
    return this.open(m.env('PGTENANT_DDL_HOST'), m.env('PGTENANT_DDL_PORT'), m.env('PGTENANT_DDL_USER'),
      m.env('PGTENANT_DDL_PASSWORD'));
  }
  close(c) { return c.sql.end({ timeout: 5 }); }
  query(c, text, params = []) {
    return c.h.unsafe(text, params, { prepare: true }).values();
  }
  async sessionSql(c, statements) {
    for (const s of statements) await c.h.unsafe(s);
  }
  async within(c, handle, fn) {
    const prev = c.h;
    c.h = handle;
    try {
      return await fn();
    } finally {
      c.h = prev;
    }
  }
  tx(c, fn) { return c.sql.begin((tx) => this.within(c, tx, fn)); }
  savepoint(c, fn) { return c.h.savepoint((sp) => this.within(c, sp, fn)); }
  async copyIn(c, sql, text) {
    const stream = await c.h.unsafe(sql).writable();
    stream.write(text);
    stream.end();
    await finished(stream);
  }
  async copyOut(c, sql) {
    let out = '';
    for await (const chunk of await c.h.unsafe(sql).readable()) out += chunk.toString();
    return out;
  }
  ddlQuery(c, table) { return c.h.unsafe(`SELECT * FROM ${table}`, [], { prepare: true }).values(); }
}

m.main(new PostgresJs(), {
  prepared: async (ctx) => {
    await m.settings(ctx);
    // Through pgtenant the pool role may not read pg_prepared_statements (hardening.sql).
    if (m.env('PGTENANT_TARGET', 'postgres') !== 'postgres') return;
    const [[n]] = await ctx.q('SELECT count(*)::int FROM pg_prepared_statements');
    m.check(n >= 3, 'prepared: postgres.js prepared too few statements', `conn ${ctx.i}: ${n}`);
  },
});
