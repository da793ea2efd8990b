-- Transactional logical messages with prefix wal2queue are jobs.
CREATE TABLE public.jobs (id int PRIMARY KEY, queue text);
SELECT 'init' FROM pg_create_logical_replication_slot('msgs', 'wal2queue');

BEGIN;
INSERT INTO jobs VALUES (1, 'row first');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails', 'hello "you"');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails#user-42', '{"to": 42}');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue', 'default target');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue#k:1#2', 'key only');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:', 'empty target');
INSERT INTO jobs VALUES (2, 'row last');
COMMIT;
SELECT * FROM w2q_json('msgs');

-- ignored: non-transactional, other prefixes, rolled back
SELECT 'emitted' FROM pg_logical_emit_message(false, 'wal2queue:emails', 'not transactional');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'other:emails', 'foreign prefix');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queuex', 'near miss');
BEGIN;
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails', 'rolled back');
ROLLBACK;
SELECT * FROM w2q_json('msgs');

-- messages 'false' ignores them all; a message-only transaction is a transaction
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails', 'alone');
SELECT * FROM pg_logical_slot_peek_changes('msgs', NULL, NULL, 'format', 'json', 'messages', 'false');
SELECT * FROM w2q_json('msgs', 'messages', 'true');
-- messages are not subject to the tables filter
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails', 'filtered tables');
SELECT * FROM w2q_json('msgs', 'tables', 'nothing.here');
SELECT pg_drop_replication_slot('msgs');
DROP TABLE jobs;
