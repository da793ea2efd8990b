-- Which tables: patterns (linear matching, '*' within a name part,
-- malformed patterns refused), tables only (no materialized views), and
-- the key (composite keys unambiguous, a DEFERRABLE primary key is a key).
CREATE TABLE public.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (id int PRIMARY KEY);
CREATE TABLE public."a.x" (id int PRIMARY KEY);
CREATE TABLE public.ck (a text, b text, PRIMARY KEY (a, b));
CREATE TABLE public.dpk (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, v text);
CREATE TABLE public.base (id int PRIMARY KEY);
CREATE MATERIALIZED VIEW public.mv AS SELECT id FROM base;
CREATE UNIQUE INDEX ON mv (id);
CREATE FUNCTION w2q_mask_peek(slot name, VARIADIC opts text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
  SELECT w2q_mask(data)
  FROM pg_logical_slot_peek_changes(slot, NULL, NULL,
                                    VARIADIC array['format', 'json'] || opts)
$$;
SELECT 'init' FROM pg_create_logical_replication_slot('tbl', 'wal2queue');
INSERT INTO aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa VALUES (1);
INSERT INTO "a.x" VALUES (2);
INSERT INTO ck VALUES ('1,2', '3'), ('1', '2,3');
INSERT INTO dpk VALUES (4, 'deferrable');
INSERT INTO base VALUES (5);
REFRESH MATERIALIZED VIEW CONCURRENTLY mv;
-- ten '*' against a 62-character name that does not match: at once
SET statement_timeout = '5s';
SELECT count(*) FROM pg_logical_slot_peek_changes('tbl', NULL, NULL, 'format', 'json', 'tables', 'public.' || repeat('a*', 10) || 'b');
SELECT count(*) FROM pg_logical_slot_peek_changes('tbl', NULL, NULL, 'format', 'json', 'tables', 'public.' || repeat('a*', 10) || 'a');
RESET statement_timeout;
-- '*' stays within the schema or the table name: *.x does not match public."a.x"
SELECT count(*) FROM pg_logical_slot_peek_changes('tbl', NULL, NULL, 'format', 'json', 'tables', '*.x');
SELECT * FROM w2q_mask_peek('tbl', 'tables', 'public.a*x');
-- keys: composite as a JSON array; a DEFERRABLE primary key is the key
SELECT * FROM w2q_mask_peek('tbl', 'tables', 'public.ck, public.dpk');
-- a materialized view refreshed concurrently is no job table
SELECT * FROM w2q_mask_peek('tbl', 'tables', '*');
-- malformed patterns are errors naming the pattern
SELECT * FROM w2q_mask_peek('tbl', 'tables', '"public"."ck"');
SELECT * FROM w2q_mask_peek('tbl', 'tables', 'public.ck.x');
SELECT * FROM w2q_mask_peek('tbl', 'tables', '.ck');
SELECT * FROM w2q_mask_peek('tbl', 'tables', 'public.');
SELECT * FROM w2q_mask_peek('tbl', 'tables', 'ck');
SELECT pg_drop_replication_slot('tbl');
DROP MATERIALIZED VIEW mv;
DROP FUNCTION w2q_mask_peek;
DROP TABLE aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, "a.x", ck, dpk, base;
