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
SELECT wal2queue.unregister_slot('ext_slots_all');
SELECT wal2queue.unregister_slot('ext_slots_other');
SELECT pg_drop_replication_slot('ext_slots_all');
SELECT pg_drop_replication_slot('ext_slots_other');
DROP TABLE ext_slots_jobs;
DROP EXTENSION wal2queue;
