-- The check-in transaction as pgbench runs it (row lock, balance update,
-- ledger insert) on the bench's dataset (customers cmain00000001…), to see
-- what this machine's PostgreSQL can do on its own:
--   pgbench -h 127.0.0.1 -U postgres -n -c 32 -j 2 -T 8 -f bench/checkin.pgbench.sql loyalty_bench
-- On this 2-core VM: about 820–970 tps with the nine-index customer table,
-- 1,190–1,280 once check-ins are HOT updates (Migration20261125202000).
\set cid random(1, 100000)
BEGIN;
SELECT total_points FROM customer WHERE id = 'cmain' || lpad(:cid::text, 8, '0') FOR UPDATE;
UPDATE customer SET total_points = total_points + 5 WHERE id = 'cmain' || lpad(:cid::text, 8, '0');
INSERT INTO ledger_entry (id, business_id, customer_id, delta, reason, type, balance_after, created_at)
  SELECT left(md5(random()::text), 30), business_id, id, 5, 'Visit', 'CHECKIN', total_points, now()
  FROM customer WHERE id = 'cmain' || lpad(:cid::text, 8, '0');
END;
