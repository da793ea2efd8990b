-- TOASTed values decode intact, in both forms.
CREATE TABLE public.big (id int PRIMARY KEY, body text, doc jsonb);
ALTER TABLE big ALTER COLUMN body SET STORAGE EXTERNAL;
SELECT 'init' FROM pg_create_logical_replication_slot('toast', 'wal2queue');
-- 1 MB of incompressible text, and a large jsonb
INSERT INTO big
SELECT 1, string_agg(md5(g::text), ''), jsonb_build_object('list', jsonb_agg(g))
FROM generate_series(1, 32768) g;
SELECT length(d->'row'->>'body') AS body_length,
       md5(d->'row'->>'body') = (SELECT md5(body) FROM big WHERE id = 1) AS body_intact,
       jsonb_array_length((d->'row'->'doc'->'list')::jsonb) AS list_length
FROM (SELECT data::json AS d FROM pg_logical_slot_peek_changes('toast', NULL, NULL, 'format', 'json')) s;
SELECT bool_or(length(data) > 1048576) AS binary_carries_it FROM pg_logical_slot_get_binary_changes('toast', NULL, NULL);
SELECT pg_drop_replication_slot('toast');
DROP TABLE big;
