-- Every option, and a negative case for each.
CREATE TABLE public.jobs (id int PRIMARY KEY, queue text, payload text);
CREATE TABLE public.job_mail (id int PRIMARY KEY, k text, dest text);
CREATE SCHEMA q;
CREATE TABLE q.work (a int, b int, note text, PRIMARY KEY (b, a));
CREATE TABLE q.nokey (note text);
SELECT 'init' FROM pg_create_logical_replication_slot('opts', 'wal2queue');

BEGIN;
INSERT INTO jobs VALUES (1, 'emails', 'p1');
INSERT INTO jobs VALUES (2, NULL, 'p2');
INSERT INTO job_mail VALUES (3, 'k3', 'out');
INSERT INTO q.work VALUES (4, 5, 'composite key: b then a');
INSERT INTO q.nokey VALUES ('no key at all');
COMMIT;

-- tables: patterns with *, several, spaces around commas
SELECT w2q_mask(data) FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'tables', 'public.job_*');
SELECT w2q_mask(data) FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'tables', 'q.*, public.jobs');
SELECT w2q_mask(data) FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'tables', '*.nokey');
SELECT w2q_mask(data) FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'tables', 'nomatch.*');
-- route-column: non-NULL value is the target, NULL falls back, tables without it too
SELECT w2q_mask(data) FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'tables', 'public.jobs', 'route-column', 'queue');
-- key-column: its text is the key; tables without it keep their primary key
SELECT w2q_mask(data) FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'tables', 'public.*', 'key-column', 'k');
-- proto-version 1 and format binary are accepted
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('opts', NULL, NULL, 'format', 'binary', 'proto-version', '1');

-- negative cases: each error names the option
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'xml');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'format', 'json');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'colour', 'blue');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'tables', 'jobs');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'tables', 'public.jobs,,q.work');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'tables', '');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'route-column', '');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'key-column', '');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'messages', 'perhaps');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'proto-version', '2');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'proto-version', 'one');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'proto-version', ' 1');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'proto-version', '+1');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'json', 'proto-version', '1 ');
-- the text functions refuse the binary form
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'binary');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL);

SELECT pg_drop_replication_slot('opts');
DROP TABLE jobs, job_mail, q.work, q.nokey;
DROP SCHEMA q;
