// postgres.js logging in while pgtenant cannot reach PostgreSQL (issue 15): every query must
// fail with 57P03, as a rejection of its own promise. An error the driver cannot tie to a query
// surfaces as an unhandled rejection, which ends a Node process with status 1.
//
// Usage: node postgresjs_unreachable.mjs   (PGTENANT_HOST, PGTENANT_PORT, PGTENANT_ALICE_USER,
//                                           PGTENANT_ALICE_PASSWORD)
import postgres from 'postgres';
import m from './matrix_common.js';

const sql = postgres({ host: m.env('PGTENANT_HOST'), port: Number(m.env('PGTENANT_PORT')),
  user: m.env('PGTENANT_ALICE_USER'), pass: m.env('PGTENANT_ALICE_PASSWORD'), database: 'postgres',
  ssl: false, max: 8, connect_timeout: 10, onnotice: () => {} });
const attempts = [...Array(16)].map((_, i) => i % 2
  ? sql.begin(async (tx) => { await tx`SELECT ${i}::int`; })
  : sql`SELECT ${i}::int`);
const codes = (await Promise.allSettled(attempts)).map((r) => r.status === 'fulfilled' ? 'ok' : r.reason.code);
await sql.end({ timeout: 5 });
const wrong = codes.filter((c) => c !== '57P03');
console.log(`codes: ${codes.join(' ')}`);
console.log(wrong.length ? 'FAIL' : 'OK');
process.exit(wrong.length ? 1 : 0);
