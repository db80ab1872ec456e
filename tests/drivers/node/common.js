// Shared by the node driver programs run by tests/integration/drivers_test.cpp.
'use strict';

const PRACTICE = {
  alice: '11111111-1111-1111-1111-111111111111',
  bob: '22222222-2222-2222-2222-222222222222',
};
const PATIENTS = { alice: 3, bob: 2 };
const MEAL_LOGS = { alice: 5, bob: 3 };
const ROUNDS = 20;
// Client connections: more than the proxy's pool (2), two per practice.
const LOGINS = ['alice', 'bob', 'alice', 'bob'];

const failures = [];

function check(ok, what) {
  if (!ok) {
    failures.push(what);
    console.log('FAIL: ' + what);
  }
}

function password(login) {
  return process.env['PGTENANT_' + login.toUpperCase() + '_PASSWORD'];
}

// Every row has the login's practice in practice_id; the count is as expected.
function ownRows(rows, login, expected, what) {
  for (const row of rows) {
    check(row.practice_id === PRACTICE[login], `${what}: row of practice ${row.practice_id}`);
  }
  if (expected !== undefined) check(rows.length === expected, `${what}: ${rows.length} rows, expected ${expected}`);
}

function errorText(e) {
  return `[${e.code || '-'}] ${e.message}`;
}

// Runs main(mode) under a watchdog: a hang is a failure (exit 2), not a stuck test.
function run(main, timeoutMs = 40000) {
  const watchdog = setTimeout(() => {
    console.log(`FAIL: timed out after ${timeoutMs} ms`);
    process.exit(2);
  }, timeoutMs);
  const mode = process.argv[2] || 'prepared';
  main(mode)
    .catch((e) => {
      check(false, 'exception: ' + errorText(e));
      console.log(e.stack);
    })
    .finally(() => {
      clearTimeout(watchdog);
      console.log(failures.length ? `${failures.length} failed checks` : 'OK');
      process.exit(failures.length ? 1 : 0);
    });
}

module.exports = { PRACTICE, PATIENTS, MEAL_LOGS, ROUNDS, LOGINS, check, password, ownRows, errorText, run };
