// The driver matrix for the node drivers (pg_matrix.js, postgresjs_matrix.mjs), run by
// tests/integration/driver_matrix_node_test.cpp: the same scenarios and checks as
// tests/drivers/python/matrix_common.py and matrix_scenarios.py, which document them. 8
// client connections (alice, bob, ...) run each scenario at once; the driver adapter gives:
//   connect(login) / connectSuperuser() / close(c)
//   query(c, sql, params) -> rows as arrays ($n placeholders)
//   sessionSql(c, [sql]), tx(c, fn), savepoint(c, fn)   (throwing Rollback rolls back on purpose)
//   copyIn(c, sql, text) / copyOut(c, sql) -> text      (null when the driver has no COPY)
//   ddlQuery(c, table) -> rows, ddlMode ("transparent" | "retry" | "never", as on PostgreSQL)
'use strict';

const crypto = require('crypto');

const CONNECTIONS = 8;
const TXNS = parseInt(process.env.PGTENANT_MATRIX_TXNS || '40', 10);
const PRACTICE = ['11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222'];
const ZONES = [['America/New_York', -18000], ['Australia/Adelaide', 37800], ['Asia/Kolkata', 19800],
  ['Europe/Berlin', 3600], ['America/Los_Angeles', -28800], ['Asia/Tokyo', 32400],
  ['Pacific/Auckland', 46800], ['America/Sao_Paulo', -10800]];
const ALT_ZONES = [['Asia/Kathmandu', 20700], ['America/St_Johns', -12600], ['Pacific/Chatham', 49500],
  ['Asia/Tehran', 12600], ['Australia/Eucla', 31500], ['Pacific/Marquesas', -34200],
  ['Asia/Yangon', 23400], ['Atlantic/Cape_Verde', -3600]];
const OFFSET = Object.fromEntries([...ZONES, ...ALT_ZONES]);
const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
const PROBE_SQL = "SELECT current_setting('TimeZone'), current_setting('statement_timeout'), " +
  "current_setting('search_path'), current_setting('DateStyle'), " +
  "(timestamptz '2024-01-15 12:00:00+00')::text, ('03/04/' || '2024')::date::text, " +
  '(SELECT v FROM marker)::text';
const FIELDS = ['TimeZone', 'statement_timeout', 'search_path', 'DateStyle', 'timestamptz text',
  'DMY/MDY date', 'search_path marker'];
const INSERT_SQL = 'INSERT INTO matrix_rows (practice_id, run, scenario, conn, txn, local_ts, aware_ts, note) ' +
  "VALUES ($1, $2, $3, $4, $5, ('2024-01-15 ' || '12:00:00')::timestamptz, $6, $7)";
const RUN = crypto.randomUUID().replace(/-/g, '');

class Rollback extends Error {}

const failures = new Map();  // kind -> [count, examples]
function fail(kind, detail) {
  const e = failures.get(kind) || [0, []];
  e[0] += 1;
  if (e[1].length < 3) e[1].push(detail);
  failures.set(kind, e);
}
function check(ok, kind, detail) {
  if (!ok) fail(kind, detail);
  return ok;
}
function describe(e) {
  return `${e.constructor.name} [${e.code || '-'}] ${String(e.message).split('\n')[0]}`;
}

function baseSettings(i) {
  return { TimeZone: ZONES[i][0], statement_timeout: `${11 + i}s`, search_path: `matrix_sp${i}, public`,
    DateStyle: i % 2 === 0 ? 'ISO, DMY' : 'ISO, MDY' };
}
function setStatements(s) {
  return [`SET TimeZone = '${s.TimeZone}'`, `SET statement_timeout = '${s.statement_timeout}'`,
    `SET search_path = ${s.search_path}`, `SET DateStyle = '${s.DateStyle}'`];
}
function render(zone) {
  const off = OFFSET[zone];
  const local = new Date(T0 + off * 1000).toISOString().replace('T', ' ').slice(0, 19);
  const m = Math.abs(off) / 60;
  const two = (n) => String(n).padStart(2, '0');
  return `${local}${off >= 0 ? '+' : '-'}${two(Math.floor(m / 60))}` + (m % 60 ? `:${two(m % 60)}` : '');
}
function expectedProbe(s) {
  return [s.TimeZone, s.statement_timeout, s.search_path, s.DateStyle, render(s.TimeZone),
    s.DateStyle.endsWith('DMY') ? '2024-04-03' : '2024-03-04', s.search_path.split(',')[0].slice(9)];
}
function whose(f, v) {
  for (let j = 0; j < CONNECTIONS; j++) if (expectedProbe(baseSettings(j))[f] === v) return ` (connection ${j}'s)`;
  return '';
}

class Ctx {
  constructor(drv, i, scenario) {
    Object.assign(this, { drv, i, scenario, committed: 0, c: null });
    this.login = i % 2 === 0 ? 'alice' : 'bob';
    this.practice = PRACTICE[i % 2];
    this.settings = baseSettings(i);
  }
  where(t, what = '') { return `${this.drv.name} conn ${this.i} (${this.login}) ${this.scenario} txn ${t}${what}`; }
  q(sql, params = []) { return this.drv.query(this.c, sql, params); }
  setSession() { return this.drv.sessionSql(this.c, setStatements(this.settings)); }
  async probe(t, settings, what = '') {
    const row = (await this.q(PROBE_SQL))[0].map(String);
    const want = expectedProbe(settings || this.settings);
    row.forEach((got, f) => check(got === want[f], `${this.scenario}: wrong ${FIELDS[f]}`,
      `${this.where(t, what)}: got '${got}'${whose(f, got)}, expected '${want[f]}'`));
  }
  insert(t, zone, practice) {
    return this.q(INSERT_SQL, [practice || this.practice, RUN, this.scenario, this.i, t, new Date(T0),
      zone || this.settings.TimeZone]);
  }
  async readback(t, zone) {
    zone = zone || this.settings.TimeZone;
    const rows = await this.q('SELECT local_ts, aware_ts FROM matrix_rows WHERE run = $1 AND scenario = $2 ' +
      'AND conn = $3 AND txn = $4', [RUN, this.scenario, this.i, t]);
    if (!check(rows.length === 1, `${this.scenario}: readback row count`, this.where(t))) return;
    const [local, aware] = rows[0];
    const wantLocal = T0 - OFFSET[zone] * 1000;
    check(local.getTime() === wantLocal, `${this.scenario}: zone-less literal read in a wrong TimeZone`,
      `${this.where(t)}: got ${local.toISOString()}, expected ${new Date(wantLocal).toISOString()} (${zone})`);
    check(aware.getTime() === T0, `${this.scenario}: typed timestamptz changed`, `${this.where(t)}: ${aware.toISOString()}`);
  }
  // One transaction; an unexpected error is a failed check and the loop goes on.
  async tx(t, body, rollback = false) {
    try {
      await this.drv.tx(this.c, async () => {
        await body();
        if (rollback) throw new Rollback();
      });
      return !rollback;
    } catch (e) {
      if (!(e instanceof Rollback)) fail(`${this.scenario}: unexpected ${describe(e)}`, this.where(t));
      return false;
    }
  }
}

async function settings(ctx) {
  await ctx.setSession();
  for (let t = 0; t < TXNS; t++) {
    if (await ctx.tx(t, async () => { await ctx.probe(t); await ctx.insert(t); await ctx.readback(t); }, t % 4 === 3)) {
      ctx.committed++;
    }
  }
}

async function setRollback(ctx) {
  await ctx.setSession();
  const base = { ...ctx.settings };
  const altZone = ALT_ZONES[ctx.i][0];
  const alt = { ...base, TimeZone: altZone, statement_timeout: '99s' };
  const setAlt = async (local) => {
    await ctx.q(`SET ${local}TimeZone = '${altZone}'`);
    await ctx.q(`SET ${local}statement_timeout = '99s'`);
  };
  for (let r = 0; r < Math.max(1, Math.floor(TXNS / 5)); r++) {
    const t = r * 10;
    await ctx.tx(t, async () => { await setAlt(''); await ctx.probe(t, alt, ' (SET inside the transaction)'); }, true);
    if (await ctx.tx(t + 1, async () => {
      await ctx.probe(t + 1, base, ' (after a rolled-back SET)'); await ctx.insert(t + 1); await ctx.readback(t + 1);
    })) ctx.committed++;
    if (await ctx.tx(t + 2, async () => {
      await setAlt('LOCAL '); await ctx.probe(t + 2, alt, ' (SET LOCAL)');
      await ctx.insert(t + 2, altZone); await ctx.readback(t + 2, altZone);
    })) ctx.committed++;
    if (await ctx.tx(t + 3, async () => {
      await ctx.probe(t + 3, base, ' (after SET LOCAL)');
      try {
        await ctx.drv.savepoint(ctx.c, async () => {
          await setAlt(''); await ctx.probe(t + 3, alt, ' (SET inside a savepoint)'); throw new Rollback();
        });
      } catch (e) { if (!(e instanceof Rollback)) throw e; }
      await ctx.probe(t + 3, base, ' (after ROLLBACK TO SAVEPOINT)');
      await ctx.insert(t + 3);
    })) ctx.committed++;
    if (await ctx.tx(t + 4, async () => {
      await ctx.probe(t + 4, base, ' (after a rolled-back savepoint)'); await setAlt(''); await ctx.insert(t + 4, altZone);
    })) ctx.committed++;
    if (await ctx.tx(t + 5, async () => {
      await ctx.probe(t + 5, alt, ' (after a committed SET)');
      await ctx.insert(t + 5, altZone);
      await ctx.q("SELECT set_config('TimeZone', $1, false), set_config('statement_timeout', $2, false)",
        [base.TimeZone, base.statement_timeout]);
      await ctx.probe(t + 5, base, ' (after set_config(..., false))');
    })) ctx.committed++;
    await ctx.tx(t + 6, () => ctx.probe(t + 6, base, ' (after a committed set_config)'), true);
  }
}

async function expectError(ctx, t, state, fn) {
  try {
    await fn();
    fail(`${ctx.scenario}: no error ${state}`, ctx.where(t));
  } catch (e) {
    if (e instanceof Rollback || e.code !== state) throw e;
  }
}

async function errors(ctx) {
  await ctx.setSession();
  const other = PRACTICE[1 - (ctx.i % 2)];
  const divide = () => ctx.q('SELECT 1 / ($1::int - $2::int)', [7, 7]);
  for (let r = 0; r < Math.max(1, Math.floor(TXNS / 4)); r++) {
    const t = r * 10;
    await expectError(ctx, t, '22012', () => ctx.drv.tx(ctx.c, async () => { await ctx.insert(t); await divide(); }));
    if (await ctx.tx(t + 1, async () => {
      await ctx.insert(t + 1);
      await expectError(ctx, t + 1, '22012', () => ctx.drv.savepoint(ctx.c, async () => {
        await ctx.insert(t + 101); await divide();
      }));
      await ctx.insert(t + 201);
      await ctx.probe(t + 1, null, ' (after ROLLBACK TO SAVEPOINT)');
    })) ctx.committed += 2;
    if (await ctx.tx(t + 2, async () => {
      await expectError(ctx, t + 2, '42501', () => ctx.drv.savepoint(ctx.c, () => ctx.insert(t + 102, null, other)));
      await ctx.insert(t + 2);
    })) ctx.committed++;
    await expectError(ctx, t + 3, '22012', () => divide()).catch((e) => fail(`errors: unexpected ${describe(e)}`, ctx.where(t + 3)));
    await ctx.tx(t + 4, () => ctx.probe(t + 4, null, ' (after an error outside a transaction)'), true);
  }
}

async function copy(ctx) {
  await ctx.setSession();
  const zone = ctx.settings.TimeZone;
  for (let r = 0; r < Math.max(1, Math.floor(TXNS / 3)); r++) {
    const rollback = r % 3 === 2;
    if (await ctx.tx(r, async () => {
      await ctx.probe(r);
      let text = '';
      for (let k = 0; k < 3; k++) text += `${RUN}\t${ctx.i}\t${r * 10 + k}\t2024-01-15 12:00:00\n`;
      await ctx.drv.copyIn(ctx.c, 'COPY matrix_copy_in (run, conn, txn, local_ts) FROM STDIN', text);
      await ctx.q("INSERT INTO matrix_rows (practice_id, run, scenario, conn, txn, local_ts, note) SELECT $1, run, 'copy', " +
        'conn, txn, local_ts, $2 FROM matrix_copy_in WHERE run = $3 AND conn = $4', [ctx.practice, zone, RUN, ctx.i]);
      await ctx.q('DELETE FROM matrix_copy_in WHERE run = $1 AND conn = $2', [RUN, ctx.i]);
    }, rollback)) ctx.committed += 3;
  }
  let out = '';
  await ctx.tx('copy out', async () => {
    out = await ctx.drv.copyOut(ctx.c, `COPY (SELECT local_ts FROM matrix_rows WHERE run = '${RUN}' AND conn = ${ctx.i} ` +
      "AND scenario = 'copy') TO STDOUT");
  }, true);
  const lines = out.split('\n').filter((l) => l);
  const want = '2024-01-15 12:00:00' + render(zone).slice(19);
  check(lines.length === ctx.committed, 'copy: COPY TO row count', `conn ${ctx.i}: ${lines.length} lines, expected ${ctx.committed}`);
  const bad = lines.filter((l) => l !== want);
  check(bad.length === 0, 'copy: COPY TO printed a timestamptz in a wrong zone', `conn ${ctx.i}: '${bad[0]}', expected '${want}'`);
}

// Midway, once every connection got there, a superuser adds a column to the helper table.
let ddlArrived = 0;
let ddlDone = null;
async function ddl(ctx) {
  const table = process.env.PGTENANT_DDL_TABLE;
  const mode = ctx.drv.ddlMode;
  if (!ddlDone) {
    ddlDone = new Promise((resolve) => { ddl.release = resolve; });
  }
  await ctx.setSession();
  const half = Math.max(1, Math.floor(TXNS / 2));
  for (let t = 0; t < 2 * half; t++) {
    if (t === half) {
      if (++ddlArrived === CONNECTIONS) {
        const su = await ctx.drv.connectSuperuser();
        await ctx.drv.sessionSql(su, [`ALTER TABLE ${table} ADD COLUMN b int DEFAULT 2`]);
        await ctx.drv.close(su);
        ddl.release();
      }
      await ddlDone;
    }
    const want = t < half ? 1 : 2;
    for (let attempt = 0; attempt < 2; attempt++) {
      let columns = 0;
      try {
        await ctx.drv.tx(ctx.c, async () => {
          await ctx.probe(t);
          const rows = await ctx.drv.ddlQuery(ctx.c, table);
          columns = rows[0].length;
          await ctx.insert(t);
        });
        ctx.committed++;
        check(t < half || mode !== 'never', 'ddl: new shape where PostgreSQL gives 0A000', ctx.where(t));
        check(columns === want, 'ddl: result shape', ctx.where(t, `: ${columns} columns, expected ${want}`));
        break;
      } catch (e) {
        if (t < half || e.code !== '0A000' || mode === 'transparent') {
          fail(`ddl: unexpected ${describe(e)}`, ctx.where(t));
          break;
        }
        if (mode === 'never') break;
        check(attempt === 0, `ddl: still ${describe(e)} after a retry`, ctx.where(t));
      }
    }
  }
}

async function verify(drv, ctxs, scenario) {
  const su = await drv.connectSuperuser();
  const rows = await drv.query(su, "SELECT conn, count(*)::int, count(*) FILTER (WHERE local_ts = ('2024-01-15 12:00:00'::timestamp " +
    'AT TIME ZONE note))::int, count(*) FILTER (WHERE practice_id <> CASE WHEN mod(conn, 2) = 0 THEN ' +
    `'${PRACTICE[0]}'::uuid ELSE '${PRACTICE[1]}'::uuid END)::int FROM matrix_rows WHERE run = $1 AND scenario = $2 GROUP BY conn`,
  [RUN, scenario]);
  await drv.close(su);
  const found = new Map(rows.map((r) => [r[0], r.slice(1)]));
  for (const ctx of ctxs) {
    const [count, rightZone, foreign] = found.get(ctx.i) || [0, 0, 0];
    check(count === ctx.committed, `${scenario}: committed rows by count`, `conn ${ctx.i} (${ctx.login}): ${count} rows, expected ${ctx.committed}`);
    check(rightZone === count, `${scenario}: rows whose zone-less literal was read in a wrong TimeZone`, `conn ${ctx.i}: ${count - rightZone} of ${count}`);
    check(foreign === 0, `${scenario}: rows of another practice`, `conn ${ctx.i}: ${foreign}`);
  }
  for (const [p, login] of [[0, 'alice'], [1, 'bob']]) {
    const own = ctxs.filter((c) => c.i % 2 === p).reduce((n, c) => n + c.committed, 0);
    const c = await drv.connect(login);
    const [[seen, foreign]] = await drv.query(c, 'SELECT count(*)::int, count(*) FILTER (WHERE practice_id <> $1)::int ' +
      'FROM matrix_rows WHERE run = $2 AND scenario = $3', [PRACTICE[p], RUN, scenario]);
    await drv.close(c);
    check(seen === own && foreign === 0, `${scenario}: rows visible to a practice`, `${login} sees ${seen} rows (${foreign} of the other), expected ${own}`);
  }
}

const SCENARIOS = { settings, set_rollback: setRollback, errors, copy, ddl };

// Runs one scenario (argv[2]) on CONNECTIONS connections at once, checks the counts, exits.
async function main(drv, extra = {}) {
  const scenario = process.argv[2];
  const fn = extra[scenario] || SCENARIOS[scenario];
  const started = Date.now();
  const watchdog = setTimeout(() => { console.log('FAIL: timed out after 50 s'); report(); process.exit(2); }, 50000);
  const ctxs = Array.from({ length: CONNECTIONS }, (_, i) => new Ctx(drv, i, scenario));
  await Promise.all(ctxs.map(async (ctx) => {
    try {
      ctx.c = await drv.connect(ctx.login);
      await fn(ctx);
    } catch (e) {
      fail(`${scenario}: connection aborted: ${describe(e)}`, ctx.where('-'));
    } finally {
      if (ctx.c) await drv.close(ctx.c).catch(() => {});
    }
  }));
  try {
    await verify(drv, ctxs, scenario);
  } catch (e) {
    fail(`${scenario}: verification failed: ${describe(e)}`, '');
  }
  clearTimeout(watchdog);
  const total = ctxs.reduce((n, c) => n + c.committed, 0);
  console.log(`${drv.name} ${scenario}: ${total} committed rows expected, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const failed = report();
  console.log(failed ? 'FAILED' : 'OK');
  process.exit(failed ? 1 : 0);
}

function report() {
  for (const [kind, [count, examples]] of failures) {
    console.log(`FAIL x${count}: ${kind}`);
    for (const e of examples) console.log(`    e.g. ${e}`);
  }
  return failures.size > 0;
}

function env(name, dflt) {
  const v = process.env[name];
  return v === undefined ? dflt : v;
}
function loginUser(login) { return env(`PGTENANT_${login.toUpperCase()}_USER`, login); }
function loginPassword(login) { return env(`PGTENANT_${login.toUpperCase()}_PASSWORD`); }

module.exports = { main, Rollback, check, fail, settings, env, loginUser, loginPassword, TXNS, PROBE_SQL, expectedProbe };
