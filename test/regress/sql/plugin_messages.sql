-- Transactional logical messages with prefix wal2queue are jobs.
CREATE TABLE public.jobs (id int PRIMARY KEY, queue text);
SELECT 'init' FROM pg_create_logical_replication_slot('msgs', 'wal2queue');

-- Secure by default: without the option messages, they are jobs only where
-- PUBLIC may not execute pg_logical_emit_message() (CREATE EXTENSION
-- wal2queue revokes it); else any role that can log in could forge one.
-- PostgreSQL's default: ignored, with a WARNING once per session saying why
GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text),
                          pg_logical_emit_message(boolean, text, bytea) TO PUBLIC;
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails', 'anyone could');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails', 'twice');
SELECT * FROM w2q_json('msgs');
-- the option messages 'true' hands them on all the same
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails', 'asked for');
SELECT * FROM w2q_json('msgs', 'messages', 'true');
-- other prefixes are never jobs: no WARNING for them
SELECT 'emitted' FROM pg_logical_emit_message(true, 'other', 'not ours');
SELECT * FROM w2q_json('msgs');
-- revoked from PUBLIC only for the text variant: still executable (bytea)
REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC;
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails', 'bytea open');
SELECT * FROM w2q_json('msgs');
-- the privilege is judged as it was when the message was written: a message
-- written before the REVOKE stays ignored, one after it is a job
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails', 'before');
REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC;
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:emails', 'after');
-- read twice: each decoding session judges anew ('before' stays ignored)
SELECT w2q_mask(data) FROM pg_logical_slot_peek_changes('msgs', NULL, NULL, 'format', 'json');
SELECT * FROM w2q_json('msgs');

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

-- send()'s signed form (FORMAT.md, "Signed messages"): the plugin strips the
-- MAC without verifying it; a malformed one makes the prefix not ours
BEGIN;
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!7.' || repeat('0a', 32) || ':emails#k1', 'signed');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!1.' || repeat('ab', 32), 'signed, default target');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!9223372036854775807.' || repeat('ab', 32) || '#k2', 'signed, key only');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!1.' || repeat('AB', 32) || ':emails', 'upper-case MAC');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!1.' || repeat('ab', 31) || ':emails', 'short MAC');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!1.' || repeat('ab', 32) || 'x', 'junk after MAC');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!' || repeat('ab', 32) || ':emails', 'no key id');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!.' || repeat('ab', 32) || ':emails', 'empty key id');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!01.' || repeat('ab', 32) || ':emails', 'key id with a leading zero');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!12345678901234567890.' || repeat('ab', 32) || ':emails', 'key id of 20 digits');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!1' || repeat('ab', 32) || ':emails', 'no dot after the key id');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue!', 'no MAC');
COMMIT;
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
