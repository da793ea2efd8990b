-- The binary form: framing, packing and size (the bridge's unit tests decode it).
CREATE TABLE public.jobs (id int PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL);
SELECT 'init' FROM pg_create_logical_replication_slot('bin', 'wal2queue');

-- one job: magic W2Q\x01, then B (28-byte body), R, I, C; the size does not vary
INSERT INTO jobs VALUES (1, 'emails', '{"to": "a@b.c"}');
SELECT substr(data, 1, 6) AS head, length(data) AS bytes,
       get_byte(data, 34) = ascii('R') AS r_follows_b,
       get_byte(data, length(data) - 23) = ascii('C') AS ends_with_c
FROM pg_logical_slot_get_binary_changes('bin', NULL, NULL);

-- a big transaction is cut into several messages of about 64 KiB; only the
-- first starts with B, every one with the magic
INSERT INTO jobs SELECT g, 'bulk', jsonb_build_object('n', g, 'pad', repeat('x', 100)) FROM generate_series(2, 3001) g;
SELECT count(*) > 5 AS several_messages,
       bool_and(substr(data, 1, 4) = '\x57325101') AS all_have_magic,
       count(*) FILTER (WHERE get_byte(data, 4) = ascii('B')) AS begins,
       max(length(data)) < 70000 AS bounded
FROM pg_logical_slot_get_binary_changes('bin', NULL, NULL);

-- compact: far fewer bytes per job than the JSON form of the same rows
INSERT INTO jobs SELECT g, 'q', jsonb_build_object('n', g) FROM generate_series(5001, 6000) g;
SELECT (SELECT sum(length(data)) FROM pg_logical_slot_peek_binary_changes('bin', NULL, NULL)) * 2
     < (SELECT sum(octet_length(data)) FROM pg_logical_slot_peek_changes('bin', NULL, NULL, 'format', 'json')) AS under_half_of_json;
SELECT pg_replication_slot_advance('bin', pg_current_wal_lsn()) IS NOT NULL AS advanced;

-- a job of 64 KiB or more goes out in a message of its own (held once, not
-- twice): B and the small job, then R and the large job, then the next
-- small job and C
BEGIN;
INSERT INTO jobs VALUES (7001, 'small', '{}');
INSERT INTO jobs VALUES (7002, 'large', jsonb_build_object('pad', repeat('x', 100000)));
INSERT INTO jobs VALUES (7003, 'small', '{}');
COMMIT;
SELECT row_number() OVER () AS message, length(data) > 100000 AS large,
       get_byte(data, 4) = ascii('B') AS starts_with_b, get_byte(data, 4) = ascii('R') AS starts_with_r
FROM pg_logical_slot_get_binary_changes('bin', NULL, NULL);
SELECT pg_drop_replication_slot('bin');
DROP TABLE jobs;
