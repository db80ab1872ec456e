-- W7: one statement returning 1,000 rows (an export or a report page), from a random place.
\set a random(1, 99001)
SELECT aid, bid, abalance FROM pgbench_accounts WHERE aid BETWEEN :a AND :a + 999;
