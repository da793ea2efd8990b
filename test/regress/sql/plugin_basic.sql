-- Committed INSERTs become jobs; nothing else does.
CREATE TABLE public.jobs (id bigserial PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL);
CREATE TABLE public.other (id int PRIMARY KEY, note text);
SELECT 'init' FROM pg_create_logical_replication_slot('basic', 'wal2queue');

-- one transaction, two jobs: same lsn, seq 0 and 1
BEGIN;
INSERT INTO jobs (queue, payload) VALUES ('emails', '{"to": "a@b.c"}');
INSERT INTO jobs (queue, payload) VALUES ('sms', '{"n": 1}');
COMMIT;
SELECT * FROM w2q_json('basic');

-- rolled back, empty, UPDATE, DELETE, TRUNCATE: nothing
BEGIN;
INSERT INTO jobs (queue, payload) VALUES ('lost', '{}');
ROLLBACK;
BEGIN;
COMMIT;
UPDATE jobs SET queue = 'x';
DELETE FROM jobs WHERE id = 1;
TRUNCATE jobs;
SELECT * FROM w2q_json('basic');

-- subtransactions: committed ones count, aborted ones do not; xid is the top-level one
BEGIN;
INSERT INTO jobs (id, queue, payload) VALUES (1010, 'a', '1');
SAVEPOINT s1;
INSERT INTO jobs (id, queue, payload) VALUES (1011, 'b', '2');
ROLLBACK TO s1;
SAVEPOINT s2;
INSERT INTO jobs (id, queue, payload) VALUES (1012, 'c', '3');
RELEASE s2;
COMMIT;
SELECT * FROM w2q_json('basic');

-- every job of a transaction carries the same commit LSN and xid, and seq counts rows
BEGIN;
INSERT INTO jobs (queue, payload) SELECT 'bulk', to_jsonb(g) FROM generate_series(1, 500) g;
INSERT INTO other VALUES (1, 'not a job but not filtered either');
COMMIT;
SELECT count(*) AS jobs, count(DISTINCT d->>'lsn') AS lsns, count(DISTINCT d->>'xid') AS xids,
       min((d->>'seq')::int) AS min_seq, max((d->>'seq')::int) AS max_seq,
       count(*) FILTER (WHERE d->>'table' = 'public.other') AS other_rows
FROM (SELECT data::json AS d FROM pg_logical_slot_get_changes('basic', NULL, NULL, 'format', 'json')) s;

-- the lsn is the commit LSN: after the row's change, before the end of the
-- commit record (which test_decoding reports as its COMMIT row's lsn)
SELECT 'init' FROM pg_create_logical_replication_slot('basic_td', 'test_decoding');
INSERT INTO jobs (queue, payload) VALUES ('check', '{}');
CREATE TEMP TABLE td AS SELECT lsn, data FROM pg_logical_slot_get_changes('basic_td', NULL, NULL);
SELECT l > (SELECT lsn FROM td WHERE data LIKE 'table public.jobs: INSERT%')
   AND l < (SELECT lsn FROM td WHERE data LIKE 'COMMIT%') AS lsn_is_commit_lsn
FROM (SELECT (data::json->>'lsn')::pg_lsn AS l
      FROM pg_logical_slot_get_changes('basic', NULL, NULL, 'format', 'json')) s;
SELECT pg_drop_replication_slot('basic_td');

SELECT pg_drop_replication_slot('basic');
DROP TABLE jobs, other;
