-- Every control character (1-31) round-trips through the JSON form in
-- values, keys, targets and payloads; a payload that is not valid text
-- (a NUL byte, invalid UTF-8) is base64 with "payload_encoding":"base64".
-- In a UTF8 database of its own, whatever the cluster's default encoding.
CREATE DATABASE w2q_utf8 TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C';
\c w2q_utf8
-- messages are jobs only where PUBLIC may not emit them (plugin_messages)
REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text),
                           pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC;
CREATE TABLE public.esc (k text PRIMARY KEY, v text, dest text, j jsonb);
CREATE TABLE public.ctl AS SELECT string_agg(chr(i), '' ORDER BY i) AS s FROM generate_series(1, 31) i;
SELECT 'init' FROM pg_create_logical_replication_slot('esc', 'wal2queue');
INSERT INTO esc SELECT 'k' || s, 'v' || s, 't' || s, jsonb_build_object('x', s) FROM ctl;
SELECT 'emitted' FROM ctl, pg_logical_emit_message(true, 'wal2queue:t' || s || '#k' || s, 'p' || s);
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:bin', '\x00ff41'::bytea);
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:bin', '\xc328'::bytea);
SELECT 'emitted' FROM pg_logical_emit_message(true, 'wal2queue:bin', 'plain');
SELECT d->>'seq' AS seq,
       d->>'target' = 't' || s AS target,
       d->>'key' = 'k' || s AS key,
       d->'row'->>'v' = 'v' || s AS value,
       d->'row'->'j'->>'x' = s AS json_value,
       d->>'payload' = 'p' || s AS payload,
       data !~ '[[:cntrl:]]' AS no_raw_control
FROM ctl, (SELECT data, data::json AS d
           FROM pg_logical_slot_peek_changes('esc', NULL, NULL, 'format', 'json', 'route-column', 'dest')) c
WHERE d->>'target' <> 'bin';
SELECT d->>'payload_encoding' AS encoding, d->>'payload' AS payload,
       CASE WHEN d->>'payload_encoding' = 'base64' THEN decode(d->>'payload', 'base64') END AS bytes
FROM (SELECT data::json AS d
      FROM pg_logical_slot_peek_changes('esc', NULL, NULL, 'format', 'json')) c
WHERE d->>'target' = 'bin';
-- the binary form carries the bytes as they are
SELECT position('\x00ff41'::bytea in string_agg(data, ''::bytea)) > 0 AS raw_bytes
FROM pg_logical_slot_peek_binary_changes('esc', NULL, NULL);
SELECT pg_drop_replication_slot('esc');
\c contrib_regression
DROP DATABASE w2q_utf8;
