-- The extension's own bookkeeping (the slot registry wal2queue.slots) is not
-- a job table: a slot without a tables option decodes every table but
-- those of schema wal2queue; naming one explicitly still selects it.
SET client_min_messages = error;
CREATE EXTENSION wal2queue;
RESET client_min_messages;
CREATE TABLE ext_slots_jobs (id int PRIMARY KEY);
SELECT 'init' FROM wal2queue.create_slot('ext_slots_all');
INSERT INTO ext_slots_jobs VALUES (1);
SELECT 'init' FROM wal2queue.create_slot('ext_slots_other', 'public.ext_slots_jobs');
-- negative: an explicit pattern on the schema selects its tables
SELECT count(*) > 0 AS registry_rows_decoded
  FROM pg_logical_slot_peek_changes('ext_slots_all', NULL, NULL, 'format', 'json',
									'tables', 'wal2queue.*');
SELECT data::json->>'table' AS "table"
  FROM pg_logical_slot_get_changes('ext_slots_all', NULL, NULL, 'format', 'json');
-- REPEATABLE READ: the transaction's snapshot may be older than the slot,
-- so the horizon is the xid the registration assigns (after the slot)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 'init' FROM wal2queue.create_slot('ext_slots_rr', 'public.ext_slots_jobs');
SELECT delivers_from = pg_current_xact_id() AS from_own_xid
  FROM wal2queue.slots WHERE slot_name = 'ext_slots_rr';
COMMIT;
-- and a transaction that had its xid before is refused
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_current_xact_id() IS NOT NULL AS has_xid;
\set VERBOSITY terse
SELECT wal2queue.register_slot('ext_slots_rr', 'public.ext_slots_jobs');
\set VERBOSITY default
ROLLBACK;
SELECT wal2queue.unregister_slot('ext_slots_rr');
SELECT pg_drop_replication_slot('ext_slots_rr');
SELECT wal2queue.unregister_slot('ext_slots_all');
SELECT wal2queue.unregister_slot('ext_slots_other');
SELECT pg_drop_replication_slot('ext_slots_all');
SELECT pg_drop_replication_slot('ext_slots_other');
DROP TABLE ext_slots_jobs;
DROP EXTENSION wal2queue;
