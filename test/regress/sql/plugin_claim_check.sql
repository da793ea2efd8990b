-- max-job-bytes: a job larger than the limit becomes a claim check, a
-- small row job of wal2queue.claim_check naming table, key, LSN, seq and
-- size, with the job's target and key; the slot moves on.
-- messages are jobs only where PUBLIC may not emit them (plugin_messages)
REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text),
                           pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC;
CREATE TABLE public.big (id int PRIMARY KEY, body text, b bytea, dest text);
SELECT 'init' FROM pg_create_logical_replication_slot('big', 'wal2queue');
BEGIN;
INSERT INTO big VALUES (1, 'small', NULL, NULL);
-- 20000 bytes of text, 120000 as JSON escapes
INSERT INTO big VALUES (2, repeat(chr(1), 20000), NULL, 'routed');
-- 40000 bytes of bytea, 80002 as text
INSERT INTO big VALUES (3, NULL, decode(repeat('ab', 40000), 'hex'), NULL);
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:mail#k1', repeat('x', 70000));
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:mail#k2', 'small');
INSERT INTO big VALUES (4, 'after', NULL, NULL);
COMMIT;
-- the claim check's lsn is the job's (the transaction's commit LSN)
CREATE FUNCTION w2q_claims(VARIADIC opts text[] DEFAULT '{}') RETURNS TABLE (job text, same_lsn bool)
LANGUAGE sql AS $$
  SELECT regexp_replace(w2q_mask(data), '"lsn":"[0-9A-F]+/[0-9A-F]+"', '"lsn":"L"'),
         (data::json->>'lsn') = (data::json->'row'->>'lsn')
  FROM pg_logical_slot_peek_changes('big', NULL, NULL, VARIADIC array['format', 'json'] || opts)
$$;
-- JSON, limit 64kB: rows 2 and 3 and the first message are claim checks
SELECT * FROM w2q_claims('max-job-bytes', '64kB', 'route-column', 'dest');
-- binary, limit 64kB: row 2 fits (20000 bytes), row 3 and the message do not
SELECT count(*) AS messages,
       sum(length(data)) BETWEEN 20000 AND 22000 AS only_row_2_whole,
       position('wal2queue.claim_check'::bytea in string_agg(data, ''::bytea ORDER BY lsn)) > 0 AS has_claim_check
FROM pg_logical_slot_peek_binary_changes('big', NULL, NULL, 'max-job-bytes', '64kB');
-- the default limit (64MB) delivers them whole
SELECT data::json->>'seq' AS seq, length(data) > 20000 AS long, data::jsonb->'row' ? 'wal2queue_claim_check' AS claim
FROM pg_logical_slot_peek_changes('big', NULL, NULL, 'format', 'json');
-- decimal only, as the bridge and the registry read it: 0131072 is 128kB,
-- where rows 2 and 3 fit (as octal, 45626, both would be claim checks)
SELECT v AS max_job_bytes,
       (SELECT count(*) FILTER (WHERE data::jsonb->'row'->>'table' = 'public.big')
        FROM pg_logical_slot_peek_changes('big', NULL, NULL, 'format', 'json', 'tables', 'public.big',
                                          'max-job-bytes', v)) AS claim_checks_of_big
FROM unnest(array['0131072', '131072', '128kB', '45626']) v;
SELECT pg_replication_slot_advance('big', pg_current_wal_lsn()) IS NOT NULL AS advanced;
-- 12MB of control characters: 72MB as JSON escapes, over the default
-- limit: a claim check, never "Cannot enlarge string buffer"; the binary
-- form (12MB) carries it whole
INSERT INTO big VALUES (5, repeat(chr(31), 12 * 1024 * 1024), NULL, NULL);
SELECT * FROM w2q_claims();
SELECT count(*), sum(length(data)) > 12 * 1024 * 1024 AS whole
FROM pg_logical_slot_peek_binary_changes('big', NULL, NULL);
-- values of other types are bounded before their output function is called
-- (textbound.c): jsonb, arrays, composites, ranges, multiranges, tsvector.
-- A bound over the limit but under 64MB is checked by making the text.
SELECT pg_replication_slot_advance('big', pg_current_wal_lsn()) IS NOT NULL AS advanced;
CREATE TYPE public.pair AS (n numeric, t text);
CREATE TABLE public.typed (id int PRIMARY KEY, j jsonb, a int[], c pair, m nummultirange, ts tsvector);
INSERT INTO typed (id, j) SELECT 10, jsonb_agg(1e100) FROM generate_series(1, 300);
INSERT INTO typed (id, j) SELECT 11, jsonb_agg(1e100) FROM generate_series(1, 1000);
INSERT INTO typed (id, a) SELECT 12, array_agg(i) FROM generate_series(1, 5000) i;
INSERT INTO typed (id, c) VALUES (13, ROW(1e20000, repeat('"', 2000)));
INSERT INTO typed (id, c) VALUES (14, ROW(1e70000, 'x'));
INSERT INTO typed (id, m) SELECT 15, range_agg(numrange(i * 1e1000, i * 1e1000 + 1)) FROM generate_series(1, 100) i;
INSERT INTO typed (id, ts) SELECT 16, string_agg('w' || i, ' ')::tsvector FROM generate_series(1, 3000) i;
SELECT data::json->>'key' AS key, data::jsonb->'row' ? 'wal2queue_claim_check' AS claim,
       length(regexp_replace(w2q_mask(data), '"lsn":"[0-9A-F]+/[0-9A-F]+"', '"lsn":"L"', 'g')) AS bytes
FROM pg_logical_slot_peek_changes('big', NULL, NULL, 'format', 'json', 'tables', 'public.typed', 'max-job-bytes', '64kB');
DROP TABLE typed;
DROP TYPE pair;
-- the bound path both ways (job.c, textbound.c): an element of an array is
-- measured (a float8 is bounded at 25 bytes, "0" is 1), so 2.5M zeros
-- (5MB of text, bounded at 70MB before) and 600 numeric zeros (bounded at
-- 88MB before) are converted and delivered whole; a value whose text is
-- proven long (a jsonb string of 12M control characters: bound 72MB, at
-- least a fifth of that) is a claim check without being converted; a
-- value whose bound passes 64MB but whose text is not proven long (a
-- polygon of 600000 points: 8 times its 9.6MB, no lower bound; 3.6MB of
-- text) is converted and measured: whole under the default limit, a
-- claim check of its real size under 1MB
SELECT pg_replication_slot_advance('big', pg_current_wal_lsn()) IS NOT NULL AS advanced;
CREATE TABLE public.bounded (id int PRIMARY KEY, f float8[], n numeric[], j jsonb, p polygon);
INSERT INTO bounded (id, f) VALUES (20, array_fill(0::float8, ARRAY[2500000]));
INSERT INTO bounded (id, n) VALUES (21, array_fill(0::numeric, ARRAY[600]));
INSERT INTO bounded (id, j) VALUES (22, to_jsonb(repeat(chr(31), 12 * 1024 * 1024)));
INSERT INTO bounded (id, p) SELECT 23, ('(' || string_agg('(0,0)', ',') || ')')::polygon FROM generate_series(1, 600000);
SELECT data::json->>'key' AS key, data::jsonb->'row' ? 'wal2queue_claim_check' AS claim,
       length(data) / 1000 AS kb, data::jsonb->'row'->>'size' AS claimed_size
FROM pg_logical_slot_peek_changes('big', NULL, NULL, 'format', 'json', 'tables', 'public.bounded');
SELECT data::json->>'key' AS key, data::jsonb->'row' ? 'wal2queue_claim_check' AS claim,
       data::jsonb->'row'->>'size' AS claimed_size
FROM pg_logical_slot_peek_changes('big', NULL, NULL, 'format', 'json', 'tables', 'public.bounded',
                                  'max-job-bytes', '1MB');
SELECT id, octet_length(ROW(b.*)::text) AS text_form FROM bounded b ORDER BY id;
DROP TABLE bounded;
-- bad values name the option
SELECT * FROM w2q_claims('max-job-bytes', '1023');
SELECT * FROM w2q_claims('max-job-bytes', '257MB');
SELECT * FROM w2q_claims('max-job-bytes', 'lots');
SELECT * FROM w2q_claims('max-job-bytes', '-1');
SELECT * FROM w2q_claims('max-job-bytes', '');
-- no base prefix, fraction, blank, other unit or other spelling of one
SELECT * FROM w2q_claims('max-job-bytes', '0x1000');
SELECT * FROM w2q_claims('max-job-bytes', '1.5kB');
SELECT * FROM w2q_claims('max-job-bytes', '64 MB');
SELECT * FROM w2q_claims('max-job-bytes', ' 8192');
SELECT * FROM w2q_claims('max-job-bytes', '8kb');
SELECT * FROM w2q_claims('max-job-bytes', '1TB');
SELECT pg_drop_replication_slot('big');
DROP FUNCTION w2q_claims;
DROP TABLE big;
